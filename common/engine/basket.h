// A till's basket as the engine sees it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/money.h"

namespace accrue {

struct BasketLine {
  uint32_t line_no = 0;
  std::string sku;
  std::vector<std::string> categories;
  int64_t quantity_milli = 1000;  // 1000 = one unit
  int64_t amount_minor = 0;       // line total after discounts, in the basket's currency
};

struct Basket {
  Currency currency;
  std::vector<BasketLine> lines;
  TimestampMs occurred_at_ms = 0;
};

inline constexpr TimestampMs kMaxTimestampMs = 4'102'444'800'000;  // 2100-01-01T00:00Z

// occurred_at_ms within [1970, 2100); at most kMaxBasketLines lines with unique line numbers,
// positive quantities, amounts in [0, kMaxAmountMinor] and a total within kMaxAmountMinor; sku and
// categories at most 64 characters. Errors name the line, e.g. "lines[2].amount_minor: must not be
// negative".
Result<void> validate_basket(const Basket& basket);

}  // namespace accrue
