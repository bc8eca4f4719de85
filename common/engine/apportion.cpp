#include "common/engine/apportion.h"

#include <algorithm>
#include <numeric>

namespace accrue {

std::vector<int64_t> apportion(std::span<const int128> weights, int64_t total) {
  const size_t n = weights.size();
  std::vector<int64_t> shares(n, 0);
  if (n == 0 || total <= 0) return shares;
  int128 sum = 0;
  for (auto w : weights) sum += w;
  if (sum == 0) {
    for (size_t i = 0; i < n; ++i) {
      shares[i] = total / static_cast<int64_t>(n) +
                  (static_cast<int64_t>(i) < total % static_cast<int64_t>(n) ? 1 : 0);
    }
    return shares;
  }
  // Scale the weights down (deterministically) until their sum fits in 62 bits, so that
  // remainder * total (total < 2^63) stays far inside 128 bits.
  int shift = 0;
  while ((sum >> shift) > (static_cast<int128>(1) << 62)) ++shift;
  std::vector<int128> w(n);
  sum = 0;
  for (size_t i = 0; i < n; ++i) {
    w[i] = weights[i] >> shift;
    sum += w[i];
  }
  std::vector<int128> rem(n);
  int64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    int128 exact = w[i] * total;
    shares[i] = static_cast<int64_t>(exact / sum);
    rem[i] = exact % sum;
    given += shares[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::ranges::stable_sort(order, [&](size_t a, size_t b) { return rem[a] > rem[b]; });
  for (size_t k = 0; given < total; ++k) {
    ++shares[order[k % n]];
    ++given;
  }
  return shares;
}

}  // namespace accrue
