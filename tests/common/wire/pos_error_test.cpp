#include "common/wire/pos_error.h"

#include <gtest/gtest.h>

#include <set>

namespace accrue::wire {
namespace {

TEST(PosErrorTest, EveryCodeMapsToADefinedTillCode) {
  std::set<int> seen;
  for (int i = 0; i <= static_cast<int>(ErrorCode::kUnimplemented); ++i) {
    auto code = static_cast<ErrorCode>(i);
    auto p = pos_error_code(code);
    EXPECT_NE(p, pos::v1::ERROR_CODE_UNSPECIFIED) << to_string(code);
    EXPECT_TRUE(pos::v1::ErrorCode_IsValid(p));
    seen.insert(p);
  }
  // Only kOverflow shares a till code (out of range); every other code is distinct.
  EXPECT_EQ(seen.size(), static_cast<size_t>(ErrorCode::kUnimplemented));
}

TEST(PosErrorTest, CarriesTheMessageAndRetryability) {
  auto e = to_pos_error(Error{ErrorCode::kUnavailable, "The loyalty service is busy."});
  EXPECT_EQ(e.code(), pos::v1::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(e.message(), "The loyalty service is busy.");
  EXPECT_TRUE(e.retryable());
  EXPECT_FALSE(to_pos_error(Error{ErrorCode::kRefused, "no"}).retryable());
}

}  // namespace
}  // namespace accrue::wire
