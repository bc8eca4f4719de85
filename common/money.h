// Currencies (ISO 4217) and money in integer minor units.
//
// A Money value is an int64 count of the currency's minor unit: cents for EUR (exponent 2),
// yen for JPY (exponent 0), fils for KWD (exponent 3). There is no floating point anywhere in
// money; arithmetic that would overflow int64 returns ErrorCode::kOverflow, and mixing
// currencies returns ErrorCode::kInvalidArgument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace accrue {

class Currency {
 public:
  // Looks up an active ISO 4217 code ("EUR"). Unknown, historic or non-currency codes
  // (XAU, XXX) are kInvalidArgument.
  static Result<Currency> from_code(std::string_view code);

  std::string_view code() const { return {code_, 3}; }
  int exponent() const { return exponent_; }  // digits after the decimal point
  int64_t minor_per_major() const;            // 10^exponent

  friend bool operator==(const Currency& a, const Currency& b) { return a.code() == b.code(); }

 private:
  Currency(std::string_view code, int exponent);
  char code_[3] = {'X', 'X', 'X'};
  int exponent_ = 0;
};

class Money {
 public:
  Money(int64_t minor_units, Currency currency) : minor_(minor_units), currency_(currency) {}

  // Parses a decimal amount such as "12.34", "-0.5" or "1000" in the given currency. More
  // fractional digits than the currency has, stray characters and overflow are errors.
  static Result<Money> parse(std::string_view text, Currency currency);

  int64_t minor_units() const { return minor_; }
  const Currency& currency() const { return currency_; }

  Result<Money> plus(const Money& other) const;
  Result<Money> minus(const Money& other) const;

  // "12.34 EUR", "1000 JPY", "-0.500 KWD".
  std::string to_string() const;
  // "12.34" without the code.
  std::string amount_string() const;

  friend bool operator==(const Money&, const Money&) = default;

 private:
  int64_t minor_;
  Currency currency_;
};

}  // namespace accrue
