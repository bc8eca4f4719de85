// Splitting a whole number of points over lines in proportion to weights, exactly.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/checked.h"

namespace accrue {

// Returns shares that sum to `total` (>= 0) and are proportional to `weights` (>= 0) by the
// largest-remainder method: every share is the floor of its exact share or one more; the extra
// points go to the largest remainders, ties to the earlier index. With all weights zero, the
// shares are as equal as possible. Deterministic on every machine.
std::vector<int64_t> apportion(std::span<const int128> weights, int64_t total);

// The same into `shares` (weights.size() elements), without allocating.
void apportion_into(std::span<const int128> weights, int64_t total, std::span<int64_t> shares);

}  // namespace accrue
