#include "common/engine/redemption.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

using testing::cur;

RedemptionPolicy policy() {
  RedemptionPolicy p;
  p.rates = {{cur("EUR"), 100, 100}, {cur("JPY"), 1, 1}, {cur("KWD"), 100, 333}};
  p.min_points = 100;
  p.max_points = 10000;
  p.step_points = 100;
  return p;
}

TEST(RedemptionTest, ConvertsPointsToMoney) {
  EXPECT_EQ(*redemption_value(policy(), cur("EUR"), 500), Money(500, cur("EUR")));
  EXPECT_EQ(*redemption_value(policy(), cur("JPY"), 500), Money(500, cur("JPY")));
  EXPECT_EQ(*redemption_value(policy(), cur("KWD"), 300), Money(999, cur("KWD")));
}

TEST(RedemptionTest, EnforcesMinimumMaximumAndStep) {
  EXPECT_EQ(redemption_value(policy(), cur("EUR"), 50).error().message,
            "redeem at least 100 points");
  EXPECT_EQ(redemption_value(policy(), cur("EUR"), 10100).error().message,
            "redeem at most 10000 points at once");
  EXPECT_EQ(redemption_value(policy(), cur("EUR"), 150).error().message,
            "redeem in steps of 100 points");
  EXPECT_EQ(redemption_value(policy(), cur("PLN"), 100).error().code,
            ErrorCode::kFailedPrecondition);
}

TEST(RedemptionTest, PointsForADiscountRoundUpToTheStep) {
  EXPECT_EQ(*points_for_discount(policy(), Money(501, cur("EUR"))), 600);
  EXPECT_EQ(*points_for_discount(policy(), Money(500, cur("EUR"))), 500);
  EXPECT_FALSE(points_for_discount(policy(), Money(0, cur("EUR"))));
  EXPECT_FALSE(points_for_discount(policy(), Money(1'000'000, cur("EUR"))));
}

OfflineLimits limits() { return {2000, 3000, 100000, 48}; }

TEST(OfflineRedemptionTest, AllowsWithinEveryLimit) {
  constexpr TimestampMs now = 1'767'225'600'000;
  auto d = decide_offline_redemption(limits(), {1000, 1000, 5000, now - 47 * kMsPerHour, now});
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.message.empty());
}

TEST(OfflineRedemptionTest, RefusesWithAReasonTheCashierCanRead) {
  constexpr TimestampMs now = 1'767'225'600'000;
  struct Case {
    OfflineLimits l;
    OfflineRedemptionContext c;
    OfflineRefusal want;
  };
  for (const auto& [l, c, want] : std::vector<Case>{
           {OfflineLimits{}, {100, 0, 0, now, now}, OfflineRefusal::kDisabled},
           {limits(), {100, 0, 0, std::nullopt, now}, OfflineRefusal::kNeverSynced},
           {limits(), {100, 0, 0, now - 49 * kMsPerHour, now}, OfflineRefusal::kSyncTooOld},
           {limits(), {2100, 0, 0, now, now}, OfflineRefusal::kPerRedemptionLimit},
           {limits(), {1500, 1600, 0, now, now}, OfflineRefusal::kCustomerDailyLimit},
           {limits(), {1500, 0, 99000, now, now}, OfflineRefusal::kStoreLiabilityLimit}}) {
    auto d = decide_offline_redemption(l, c);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.refusal, want) << to_string(want);
    EXPECT_FALSE(d.message.empty());
  }
  auto d = decide_offline_redemption(limits(), {1500, 1600, 0, now, now});
  EXPECT_EQ(d.message, "While offline, this member can redeem 1400 more points today.");
}

}  // namespace
}  // namespace accrue
