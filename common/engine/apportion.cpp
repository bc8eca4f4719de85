#include "common/engine/apportion.h"

#include <algorithm>
#include <numeric>

namespace accrue {

void apportion_into(std::span<const int128> weights, int64_t total, std::span<int64_t> shares) {
  const size_t n = weights.size();
  std::fill(shares.begin(), shares.end(), 0);
  if (n == 0 || total <= 0) return;
  int128 sum = 0;
  int128 max_w = 0;
  for (auto w : weights) {
    sum += w;
    max_w = std::max(max_w, w);
  }
  if (sum == 0) {
    for (size_t i = 0; i < n; ++i) {
      shares[i] = total / static_cast<int64_t>(n) +
                  (static_cast<int64_t>(i) < total % static_cast<int64_t>(n) ? 1 : 0);
    }
    return;
  }
  // Scale the weights down (deterministically) until their sum fits in 62 bits, so that
  // weight * total (total < 2^63) stays inside 128 bits.
  int shift = 0;
  while ((sum >> shift) > (static_cast<int128>(1) << 62)) ++shift;
  if (shift > 0) {
    sum = 0;
    max_w >>= shift;
    for (auto w : weights) sum += w >> shift;
  }
  // Scratch reused across calls on this thread: the engine calls this once per bonus rule.
  thread_local std::vector<int64_t> rem;
  thread_local std::vector<size_t> order;
  rem.resize(n);
  int64_t given = 0;
  // 64-bit arithmetic when every product fits (the usual case: amounts times small totals).
  const bool narrow = max_w <= INT64_MAX / total;
  const int64_t sum64 = static_cast<int64_t>(sum);
  for (size_t i = 0; i < n; ++i) {
    const int128 w = weights[i] >> shift;
    if (narrow) {
      const int64_t exact = static_cast<int64_t>(w) * total;
      shares[i] = exact / sum64;
      rem[i] = exact % sum64;
    } else {
      const int128 exact = w * total;
      shares[i] = static_cast<int64_t>(exact / sum);
      rem[i] = static_cast<int64_t>(exact % sum);
    }
    given += shares[i];
  }
  // The points left over (fewer than n) go to the largest remainders, ties to the earlier line.
  const size_t extra = static_cast<size_t>(total - given);
  if (extra == 0) return;
  order.resize(n);
  std::iota(order.begin(), order.end(), size_t{0});
  auto larger = [&](size_t a, size_t b) { return rem[a] != rem[b] ? rem[a] > rem[b] : a < b; };
  // Selecting the set is enough: `larger` is a strict total order, so the set is deterministic.
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(extra - 1),
                   order.end(), larger);
  for (size_t k = 0; k < extra; ++k) ++shares[order[k]];
}

std::vector<int64_t> apportion(std::span<const int128> weights, int64_t total) {
  std::vector<int64_t> shares(weights.size());
  apportion_into(weights, total, shares);
  return shares;
}

}  // namespace accrue
