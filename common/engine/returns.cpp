#include "common/engine/returns.h"

#include <algorithm>
#include <set>

#include "common/checked.h"

namespace accrue {
namespace {

// A quantity in thousandths as people write it: 2000 -> "2", 1500 -> "1.5", 250 -> "0.25".
std::string quantity_text(int64_t milli) {
  std::string out = std::to_string(milli / 1000);
  if (int64_t frac = milli % 1000; frac != 0) {
    std::string digits = std::to_string(1000 + frac).substr(1);
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

}  // namespace

Result<ReturnOutcome> compute_return(std::span<const SaleLine> sale,
                                     std::span<const ReturnLine> request) {
  if (request.empty()) return fail(ErrorCode::kInvalidArgument, "lines: nothing to return");
  if (request.size() > kMaxBasketLines) {
    return fail(ErrorCode::kInvalidArgument, "lines: too many lines");
  }
  ReturnOutcome out;
  std::set<uint32_t> seen;
  for (const ReturnLine& r : request) {
    std::string field = "line " + std::to_string(r.line_no);
    if (!seen.insert(r.line_no).second) {
      return fail(ErrorCode::kInvalidArgument, field + ": listed twice");
    }
    if (r.quantity_milli <= 0) {
      return fail(ErrorCode::kInvalidArgument, field + ": quantity must be positive");
    }
    auto it = std::ranges::find(sale, r.line_no, &SaleLine::line_no);
    if (it == sale.end()) {
      return fail(ErrorCode::kNotFound, field + ": not on the original receipt");
    }
    const SaleLine& s = *it;
    const int64_t left = s.quantity_milli - s.returned_quantity_milli;
    if (r.quantity_milli > left) {
      const std::string line = std::to_string(r.line_no), asked = quantity_text(r.quantity_milli),
                        open = quantity_text(left);
      return refusal(
          ErrorCode::kOutOfRange, "return.more_than_left",
          {{"line", line}, {"quantity", asked}, {"left", open}},
          "Line " + line + ": " + asked + " returned, only " + open + " left to return.");
    }
    // Cumulative: after this return the line has given back floor(points * returned / sold).
    const int64_t cumulative_qty = s.returned_quantity_milli + r.quantity_milli;
    const Points cumulative_points =
        static_cast<Points>(static_cast<int128>(s.points) * cumulative_qty / s.quantity_milli);
    const Points now = std::max<Points>(0, cumulative_points - s.points_reversed);
    out.lines.push_back({r.line_no, r.quantity_milli, now});
    out.points_reversed += now;
  }
  return out;
}

void count_return(std::span<SaleLine> sale, const ReturnOutcome& outcome) {
  for (const LineReversal& l : outcome.lines) {
    auto it = std::ranges::find(sale, l.line_no, &SaleLine::line_no);
    if (it == sale.end()) continue;  // compute_return names only lines of the sale
    it->returned_quantity_milli += l.quantity_milli;
    it->points_reversed += l.points;
  }
}

Points redemption_refund(std::span<const SaleLine> after, Points redeemed, Points refunded_before) {
  if (redeemed <= 0 || after.empty()) return 0;
  const bool by_value =
      std::ranges::any_of(after, [](const SaleLine& l) { return l.amount_minor > 0; });
  int128 sold = 0, returned = 0;
  bool all_back = true;
  for (const SaleLine& l : after) {
    if (l.quantity_milli <= 0) continue;
    const int64_t weight = by_value ? l.amount_minor : l.points;
    sold += weight;
    returned += static_cast<int128>(weight) * l.returned_quantity_milli / l.quantity_milli;
    all_back = all_back && l.returned_quantity_milli >= l.quantity_milli;
  }
  Points cumulative = 0;
  if (all_back) {
    cumulative = redeemed;
  } else if (sold > 0) {
    cumulative = static_cast<Points>(static_cast<int128>(redeemed) * returned / sold);
  }
  return std::max<Points>(0, cumulative - refunded_before);
}

}  // namespace accrue
