#include "common/engine/returns.h"

#include <gtest/gtest.h>

namespace accrue {
namespace {

TEST(ReturnsTest, ReversesInProportionToQuantity) {
  std::vector<SaleLine> sale = {{1, 3000, 10, 0, 0}, {2, 1000, 7, 0, 0}};
  auto r = compute_return(sale, std::vector<ReturnLine>{{1, 1000}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->points_reversed, 3);  // floor(10 / 3)
  EXPECT_EQ(r->lines, (std::vector<LineReversal>{{1, 1000, 3}}));
}

TEST(ReturnsTest, PartialReturnsAddUpToTheWholeLine) {
  SaleLine line{1, 3000, 10, 0, 0};
  Points total = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = compute_return(std::vector<SaleLine>{line}, std::vector<ReturnLine>{{1, 1000}});
    ASSERT_TRUE(r);
    total += r->points_reversed;
    line.returned_quantity_milli += 1000;
    line.points_reversed += r->points_reversed;
  }
  EXPECT_EQ(total, 10);  // 3 + 3 + 4, never more than earned
}

TEST(ReturnsTest, RefusesToReturnMoreThanWasSold) {
  std::vector<SaleLine> sale = {{1, 2000, 10, 1500, 7}};
  auto r = compute_return(sale, std::vector<ReturnLine>{{1, 600}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ(r.error().message, "Line 1: 0.6 returned, only 0.5 left to return.");
  EXPECT_EQ(r.error().message_id, "return.more_than_left");
  EXPECT_EQ(r.error().params, (std::vector<std::pair<std::string, std::string>>{
                                  {"line", "1"}, {"quantity", "0.6"}, {"left", "0.5"}}));
}

TEST(ReturnsTest, RejectsUnknownDuplicateAndEmptyLines) {
  std::vector<SaleLine> sale = {{1, 1000, 10, 0, 0}};
  EXPECT_EQ(compute_return(sale, std::vector<ReturnLine>{{9, 1000}}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(compute_return(sale, std::vector<ReturnLine>{{1, 500}, {1, 500}}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(compute_return(sale, std::vector<ReturnLine>{}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(compute_return(sale, std::vector<ReturnLine>{{1, 0}}).error().code,
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace accrue
