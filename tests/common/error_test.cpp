#include "common/error.h"

#include <gtest/gtest.h>

namespace accrue {
namespace {

TEST(ErrorTest, EveryCodeHasANameStatusAndExitCode) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kUnimplemented); ++i) {
    auto code = static_cast<ErrorCode>(i);
    EXPECT_FALSE(to_string(code).empty());
    EXPECT_GE(http_status(code), 400);
    EXPECT_GE(exit_code(code), 64);
  }
}

TEST(ErrorTest, MapsTheCodesClientsReactTo) {
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kConflict), 409);
  EXPECT_EQ(http_status(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(exit_code(ErrorCode::kInvalidArgument), 64);
  EXPECT_TRUE(is_retryable(ErrorCode::kUnavailable));
  EXPECT_FALSE(is_retryable(ErrorCode::kConflict));
}

TEST(ErrorTest, FailBuildsAnUnexpected) {
  Result<int> r = fail(ErrorCode::kNotFound, "no such thing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "no such thing");
}

}  // namespace
}  // namespace accrue
