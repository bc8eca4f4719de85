#include "agent/ctl/price.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/sys/system.h"

namespace accrue::ctl {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PriceReportTest, PricesTheDemoBasketForEveryTier) {
  ZoneinfoSource zones;
  auto out = price_report(
      {read("packaging/demo/program.json"), read("packaging/demo/basket.json"), "", 0, 4900},
      zones);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_NE(out->find("Tier bronze     earns 256 points"), std::string::npos) << *out;
  EXPECT_NE(out->find("Tier gold       earns 370 points"), std::string::npos) << *out;
  EXPECT_NE(out->find("rules fired: black-friday-shoes, big-basket-bonus, gold-socks"),
            std::string::npos);
  EXPECT_NE(out->find("2026-11-27T09:30:00 local"), std::string::npos);
  EXPECT_NE(out->find("up to 5200 redeemable = 52.00 EUR discount"), std::string::npos);
}

TEST(PriceReportTest, BadInputNamesThePart) {
  ZoneinfoSource zones;
  auto bad_program = price_report({"{}", read("packaging/demo/basket.json"), "", 0, 0}, zones);
  ASSERT_FALSE(bad_program);
  EXPECT_TRUE(bad_program.error().message.starts_with("program: ")) << bad_program.error().message;
  auto bad_basket =
      price_report({read("packaging/demo/program.json"), "{\"lines\": 5}", "", 0, 0}, zones);
  ASSERT_FALSE(bad_basket);
  EXPECT_TRUE(bad_basket.error().message.starts_with("basket: ")) << bad_basket.error().message;
  auto bad_tier = price_report(
      {read("packaging/demo/program.json"), read("packaging/demo/basket.json"), "platinum", 0, 0},
      zones);
  ASSERT_FALSE(bad_tier);
  EXPECT_EQ(bad_tier.error().message, "tier: 'platinum' is not in the program");
}

}  // namespace
}  // namespace accrue::ctl
