// A latency histogram in the manner of HdrHistogram: log-linear buckets, so every recorded value
// is kept to within 1/2^SubBits of itself (0.8% for the default 7 bits) from a microsecond to days,
// in a fixed few kilobytes, with O(1) recording and exact merging. Percentiles report the highest
// value of the bucket the rank falls in (never below the true value), capped by the maximum seen.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace accrue::loadgen {

template <int SubBits = 7>
class Histogram {
 public:
  static constexpr int64_t kSub = int64_t{1} << SubBits;
  static constexpr int kMaxShift = 40;  // values up to 2^(SubBits + 41) µs

  Histogram() : counts_(static_cast<size_t>(2 * kSub + kMaxShift * kSub), 0) {}

  void record(int64_t v) {
    v = std::max<int64_t>(v, 0);
    ++counts_[index(v)];
    ++count_;
    max_ = std::max(max_, v);
    min_ = count_ == 1 ? v : std::min(min_, v);
    sum_ += static_cast<double>(v);
  }

  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    if (o.count_ > 0) {
      min_ = count_ == 0 ? o.min_ : std::min(min_, o.min_);
      max_ = std::max(max_, o.max_);
    }
    count_ += o.count_;
    sum_ += o.sum_;
  }

  // p in [0, 100]; 0 for an empty histogram.
  int64_t percentile(double p) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
    int64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
  }

  int64_t count() const { return count_; }
  int64_t max() const { return max_; }
  int64_t min() const { return min_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

 private:
  // [0, 2*kSub) exactly; above, kSub buckets per power of two.
  static size_t index(int64_t v) {
    if (v < 2 * kSub) return static_cast<size_t>(v);
    const int msb = 63 - std::countl_zero(static_cast<uint64_t>(v));
    const int shift = std::min(msb - SubBits, kMaxShift);
    const int64_t top = std::min<int64_t>(v >> shift, 2 * kSub - 1);
    return static_cast<size_t>(2 * kSub + (shift - 1) * kSub + (top - kSub));
  }
  static int64_t highest_in(size_t i) {
    if (i < static_cast<size_t>(2 * kSub)) return static_cast<int64_t>(i);
    const auto j = static_cast<int64_t>(i) - 2 * kSub;
    const int64_t shift = j / kSub + 1;
    const int64_t top = j % kSub + kSub;
    return ((top + 1) << shift) - 1;
  }

  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t max_ = 0;
  int64_t min_ = 0;
  double sum_ = 0;
};

}  // namespace accrue::loadgen
