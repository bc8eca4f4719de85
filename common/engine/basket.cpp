#include "common/engine/basket.h"

#include <algorithm>
#include <vector>

#include "common/program.h"

namespace accrue {

Result<void> validate_basket(const Basket& basket) {
  auto bad = [](size_t i, std::string_view field, std::string_view what) {
    return fail(ErrorCode::kInvalidArgument, "lines[" + std::to_string(i) + "]." +
                                                 std::string(field) + ": " + std::string(what));
  };
  if (basket.lines.size() > kMaxBasketLines) {
    return fail(ErrorCode::kInvalidArgument,
                "lines: at most " + std::to_string(kMaxBasketLines) + " lines in a basket");
  }
  if (basket.occurred_at_ms < 0 || basket.occurred_at_ms > kMaxTimestampMs) {
    return fail(ErrorCode::kInvalidArgument,
                "occurred_at_ms: must be a time between 1970 and 2100");
  }
  std::vector<uint32_t> numbers;
  numbers.reserve(basket.lines.size());
  int64_t total = 0;
  for (size_t i = 0; i < basket.lines.size(); ++i) {
    const BasketLine& l = basket.lines[i];
    if (l.sku.size() > 64) return bad(i, "sku", "longer than 64 characters");
    if (l.categories.size() > 16) return bad(i, "categories", "at most 16 categories");
    for (const auto& c : l.categories) {
      if (c.empty() || c.size() > 64)
        return bad(i, "categories", "each must have 1 to 64 characters");
    }
    if (l.quantity_milli <= 0 || l.quantity_milli > kMaxQuantityMilli) {
      return bad(i, "quantity_milli", "must be between 1 and 1000000000");
    }
    if (l.amount_minor < 0) return bad(i, "amount_minor", "must not be negative");
    if (l.amount_minor > kMaxAmountMinor - total) {
      return fail(ErrorCode::kInvalidArgument, "lines: basket total is too large");
    }
    total += l.amount_minor;
    numbers.push_back(l.line_no);
  }
  std::ranges::sort(numbers);
  if (auto it = std::ranges::adjacent_find(numbers); it != numbers.end()) {
    return fail(ErrorCode::kInvalidArgument,
                "lines: line_no " + std::to_string(*it) + " appears twice");
  }
  return {};
}

}  // namespace accrue
