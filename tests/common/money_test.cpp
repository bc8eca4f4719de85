#include "common/money.h"

#include <gtest/gtest.h>

namespace accrue {
namespace {

Currency c(std::string_view code) { return *Currency::from_code(code); }

TEST(CurrencyTest, KnowsTheMinorUnitOfEachExponent) {
  EXPECT_EQ(c("JPY").exponent(), 0);
  EXPECT_EQ(c("KRW").exponent(), 0);
  EXPECT_EQ(c("EUR").exponent(), 2);
  EXPECT_EQ(c("USD").exponent(), 2);
  EXPECT_EQ(c("KWD").exponent(), 3);
  EXPECT_EQ(c("BHD").exponent(), 3);
  EXPECT_EQ(c("CLF").exponent(), 4);
  EXPECT_EQ(c("KWD").minor_per_major(), 1000);
}

TEST(CurrencyTest, RejectsUnknownAndNonCurrencyCodes) {
  for (std::string_view bad : {"", "EU", "EURO", "eur", "XAU", "XXX", "ABC"}) {
    auto r = Currency::from_code(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("currency"), std::string::npos);
  }
}

TEST(MoneyTest, ParsesAndFormatsInTheCurrencysExponent) {
  EXPECT_EQ(Money::parse("12.34", c("EUR"))->minor_units(), 1234);
  EXPECT_EQ(Money::parse("12.3", c("EUR"))->minor_units(), 1230);
  EXPECT_EQ(Money::parse("12", c("EUR"))->minor_units(), 1200);
  EXPECT_EQ(Money::parse("-0.5", c("EUR"))->minor_units(), -50);
  EXPECT_EQ(Money::parse("1000", c("JPY"))->minor_units(), 1000);
  EXPECT_EQ(Money::parse("1.005", c("KWD"))->minor_units(), 1005);
  EXPECT_EQ(Money(1234, c("EUR")).to_string(), "12.34 EUR");
  EXPECT_EQ(Money(-5, c("EUR")).to_string(), "-0.05 EUR");
  EXPECT_EQ(Money(1000, c("JPY")).to_string(), "1000 JPY");
  EXPECT_EQ(Money(-500, c("KWD")).to_string(), "-0.500 KWD");
  EXPECT_EQ(Money(INT64_MIN, c("EUR")).amount_string(), "-92233720368547758.08");
}

TEST(MoneyTest, RejectsMoreDecimalsThanTheCurrencyHas) {
  auto r = Money::parse("1.5", c("JPY"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("JPY has 0 decimal"), std::string::npos);
  EXPECT_FALSE(Money::parse("1.234", c("EUR")));
  EXPECT_FALSE(Money::parse("1.", c("EUR")));
  EXPECT_FALSE(Money::parse("", c("EUR")));
  EXPECT_FALSE(Money::parse("-", c("EUR")));
  EXPECT_FALSE(Money::parse("1,5", c("EUR")));
  EXPECT_FALSE(Money::parse("1e3", c("EUR")));
}

TEST(MoneyTest, OverflowIsAnErrorNotAWrap) {
  auto r = Money::parse("92233720368547758.08", c("EUR"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kOverflow);
  EXPECT_TRUE(Money::parse("92233720368547758.07", c("EUR")));
  auto sum = Money(INT64_MAX, c("EUR")).plus(Money(1, c("EUR")));
  ASSERT_FALSE(sum);
  EXPECT_EQ(sum.error().code, ErrorCode::kOverflow);
  EXPECT_FALSE(Money(INT64_MIN, c("EUR")).minus(Money(1, c("EUR"))));
}

TEST(MoneyTest, RefusesToMixCurrencies) {
  auto r = Money(1, c("EUR")).plus(Money(1, c("PLN")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(*Money(150, c("EUR")).minus(Money(50, c("EUR"))), Money(100, c("EUR")));
}

}  // namespace
}  // namespace accrue
