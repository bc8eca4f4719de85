// Returns: points taken back in proportion to the returned quantity of each line, never more
// than the line earned. Partial returns accumulate: returning a line's quantity in several steps
// takes back exactly what returning it at once would.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/error.h"
#include "common/program.h"

namespace accrue {

// What the store remembers of a sale line (from the receipt).
struct SaleLine {
  uint32_t line_no = 0;
  int64_t quantity_milli = 0;
  Points points = 0;                    // what the line earned
  int64_t returned_quantity_milli = 0;  // by earlier returns
  Points points_reversed = 0;           // by earlier returns
  int64_t amount_minor = 0;             // what the line cost, after discounts (0: not recorded)
};

struct ReturnLine {
  uint32_t line_no = 0;
  int64_t quantity_milli = 0;
};

struct LineReversal {
  uint32_t line_no = 0;
  int64_t quantity_milli = 0;
  Points points = 0;
  friend bool operator==(const LineReversal&, const LineReversal&) = default;
};

struct ReturnOutcome {
  Points points_reversed = 0;
  std::vector<LineReversal> lines;  // in request order
};

// Errors (nothing is reversed): kInvalidArgument for an empty request, a line listed twice or a
// non-positive quantity; kNotFound for a line the sale does not have; kOutOfRange when more would
// be returned than was sold.
Result<ReturnOutcome> compute_return(std::span<const SaleLine> sale,
                                     std::span<const ReturnLine> request);

// The sale's lines once `outcome` (computed from them) is counted: returned quantities and points.
void count_return(std::span<SaleLine> sale, const ReturnOutcome& outcome);

// How many redemptions may pay for one sale (AccrueRequest.redemption_pos_tx_ids).
inline constexpr int kMaxRedemptionsPerSale = 8;

// The points redeemed on a sale that its returns give back, when the programme refunds them
// (RedemptionPolicy::refund_on_return). In proportion to the value returned and cumulative like
// the points reversed: once its returns are counted in `after` (the sale's lines with this return
// applied), the sale has given back floor(redeemed * value returned / value sold), all of it when
// every line is back. A sale recorded without amounts (all 0) weighs its lines by their points.
// Returns what this return gives back: that figure less `refunded_before`, never negative.
Points redemption_refund(std::span<const SaleLine> after, Points redeemed, Points refunded_before);

}  // namespace accrue
