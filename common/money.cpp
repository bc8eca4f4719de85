#include "common/money.h"

#include <algorithm>
#include <array>

#include "common/checked.h"

namespace accrue {
namespace {

struct CurrencyEntry {
  std::string_view code;
  int exponent;
};

// Active ISO 4217 currencies with their minor-unit exponent (list one, as published by the
// maintenance agency). Sorted by code for binary search.
constexpr std::array kCurrencies = std::to_array<CurrencyEntry>({
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2},
    {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
    {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
    {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2},
    {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2},
    {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2},
    {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2},
    {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2},
    {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
    {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2},
    {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0},
    {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2},
    {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2},
    {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2},
    {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
    {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2}, {"XOF", 0},
    {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
});

static_assert(std::ranges::is_sorted(kCurrencies, {}, &CurrencyEntry::code));

constexpr int64_t kPow10[] = {1, 10, 100, 1000, 10000};

}  // namespace

Currency::Currency(std::string_view code, int exponent) : exponent_(exponent) {
  std::copy_n(code.begin(), 3, code_);
}

Result<Currency> Currency::from_code(std::string_view code) {
  auto it = std::ranges::lower_bound(kCurrencies, code, {}, &CurrencyEntry::code);
  if (code.size() != 3 || it == kCurrencies.end() || it->code != code) {
    std::string shown(code.substr(0, 8));
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return fail(ErrorCode::kInvalidArgument,
                "currency: '" + shown + "' is not an active ISO 4217 code");
  }
  return Currency(it->code, it->exponent);
}

int64_t Currency::minor_per_major() const { return kPow10[exponent_]; }

Result<Money> Money::parse(std::string_view text, Currency currency) {
  auto bad = [&](std::string why) { return fail(ErrorCode::kInvalidArgument, "amount: " + why); };
  if (text.empty()) return bad("is empty");
  if (text.size() > 40) return bad("is too long");
  bool negative = false;
  size_t i = 0;
  if (text[0] == '-' || text[0] == '+') {
    negative = text[0] == '-';
    i = 1;
  }
  int64_t units = 0;
  int int_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return bad("unexpected character in '" + std::string(text) + "'");
    auto m = checked_mul(units, 10);
    auto a = m ? checked_add(*m, c - '0') : std::nullopt;
    if (!a) return fail(ErrorCode::kOverflow, "amount: too large");
    units = *a;
    ++int_digits;
  }
  int frac_digits = 0;
  int64_t frac = 0;
  if (i < text.size()) {  // at '.'
    ++i;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c < '0' || c > '9') return bad("unexpected character in '" + std::string(text) + "'");
      if (++frac_digits > currency.exponent()) {
        return bad(std::string(currency.code()) + " has " + std::to_string(currency.exponent()) +
                   " decimal place(s), '" + std::string(text) + "' has more");
      }
      frac = frac * 10 + (c - '0');
    }
    if (frac_digits == 0) return bad("no digits after the decimal point");
  }
  if (int_digits == 0 && frac_digits == 0) return bad("has no digits");
  frac *= kPow10[currency.exponent() - frac_digits];
  auto scaled = checked_mul(units, currency.minor_per_major());
  auto total = scaled ? checked_add(*scaled, frac) : std::nullopt;
  if (!total) return fail(ErrorCode::kOverflow, "amount: too large");
  return Money(negative ? -*total : *total, currency);
}

Result<Money> Money::plus(const Money& other) const {
  if (!(currency_ == other.currency_)) {
    return fail(ErrorCode::kInvalidArgument, "cannot add " + std::string(other.currency_.code()) +
                                                 " to " + std::string(currency_.code()));
  }
  auto r = checked_add(minor_, other.minor_);
  if (!r) return fail(ErrorCode::kOverflow, "money: sum overflows");
  return Money(*r, currency_);
}

Result<Money> Money::minus(const Money& other) const {
  if (!(currency_ == other.currency_)) {
    return fail(ErrorCode::kInvalidArgument, "cannot subtract " +
                                                 std::string(other.currency_.code()) + " from " +
                                                 std::string(currency_.code()));
  }
  auto r = checked_sub(minor_, other.minor_);
  if (!r) return fail(ErrorCode::kOverflow, "money: difference overflows");
  return Money(*r, currency_);
}

std::string Money::amount_string() const {
  // Work in unsigned to format INT64_MIN without overflow.
  uint64_t mag = minor_ < 0 ? 0 - static_cast<uint64_t>(minor_) : static_cast<uint64_t>(minor_);
  uint64_t per = static_cast<uint64_t>(currency_.minor_per_major());
  std::string out = minor_ < 0 ? "-" : "";
  out += std::to_string(mag / per);
  if (currency_.exponent() > 0) {
    std::string frac = std::to_string(mag % per);
    out += '.';
    out.append(static_cast<size_t>(currency_.exponent()) - frac.size(), '0');
    out += frac;
  }
  return out;
}

std::string Money::to_string() const {
  return amount_string() + " " + std::string(currency_.code());
}

}  // namespace accrue
