#include "common/engine/apportion.h"

#include <gtest/gtest.h>

#include <numeric>

namespace accrue {
namespace {

int64_t sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

TEST(ApportionTest, SplitsExactlyByLargestRemainder) {
  std::vector<int128> w = {1, 1, 1};
  EXPECT_EQ(apportion(w, 10), (std::vector<int64_t>{4, 3, 3}));
  w = {50, 30, 20};
  EXPECT_EQ(apportion(w, 7), (std::vector<int64_t>{4, 2, 1}));  // 3.5, 2.1, 1.4
  w = {0, 0};
  EXPECT_EQ(apportion(w, 3), (std::vector<int64_t>{2, 1}));
  w = {5};
  EXPECT_EQ(apportion(w, 0), (std::vector<int64_t>{0}));
  EXPECT_TRUE(apportion({}, 5).empty());
}

TEST(ApportionTest, HugeWeightsDoNotOverflow) {
  std::vector<int128> w = {static_cast<int128>(1) << 115, static_cast<int128>(1) << 114, 1};
  auto s = apportion(w, 1'000'000'000'000'000);
  EXPECT_EQ(sum(s), 1'000'000'000'000'000);
  EXPECT_NEAR(static_cast<double>(s[0]) / static_cast<double>(s[1]), 2.0, 1e-9);
}

}  // namespace
}  // namespace accrue
