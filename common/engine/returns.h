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

}  // namespace accrue
