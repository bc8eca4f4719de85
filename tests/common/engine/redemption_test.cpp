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
  // Each refusal carries its id and parameters, for a till's own language.
  auto below = redemption_value(policy(), cur("EUR"), 50).error();
  EXPECT_EQ(below.message, "Redeem at least 100 points.");
  EXPECT_EQ(below.message_id, "redeem.below_minimum");
  EXPECT_EQ(below.params, (std::vector<std::pair<std::string, std::string>>{{"min", "100"}}));
  auto above = redemption_value(policy(), cur("EUR"), 10100).error();
  EXPECT_EQ(above.message, "Redeem at most 10000 points at once.");
  EXPECT_EQ(above.message_id, "redeem.above_maximum");
  auto step = redemption_value(policy(), cur("EUR"), 150).error();
  EXPECT_EQ(step.message, "Redeem in steps of 100 points.");
  EXPECT_EQ(step.message_id, "redeem.off_step");
  EXPECT_EQ(step.params, (std::vector<std::pair<std::string, std::string>>{{"step", "100"}}));
  auto rate = redemption_value(policy(), cur("PLN"), 100).error();
  EXPECT_EQ(rate.code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(rate.message_id, "redeem.no_rate");
}

TEST(RedemptionTest, TheOfferIsTheLargestAmountTheStepsAndLimitsAllow) {
  // 444 points in steps of 100: 400, worth 4.00 EUR.
  auto eur = redemption_offer(policy(), cur("EUR"), 444);
  ASSERT_TRUE(eur);
  EXPECT_EQ(eur->max_points, 400);
  EXPECT_EQ(eur->max_discount, Money(400, cur("EUR")));
  EXPECT_EQ(eur->step_points, 100);
  EXPECT_EQ(eur->min_points, 100);
  // The rate in lowest terms: 333 fils per 100 points.
  auto kwd = redemption_offer(policy(), cur("KWD"), 250);
  ASSERT_TRUE(kwd);
  EXPECT_EQ(kwd->max_points, 200);
  EXPECT_EQ(kwd->max_discount, Money(666, cur("KWD")));
  EXPECT_EQ(kwd->value_minor_units, 333);
  EXPECT_EQ(kwd->per_points, 100);
  // A gold member's point worth 1.5x: 3 cents per 2 points, and the offer's discount agrees
  // with redemption_value for every amount the till may pick.
  auto gold = redemption_offer(policy(), cur("EUR"), 1000, 0, {}, 15000);
  ASSERT_TRUE(gold);
  EXPECT_EQ(gold->value_minor_units, 3);
  EXPECT_EQ(gold->per_points, 2);
  for (Points p = 100; p <= gold->max_points; p += 100) {
    EXPECT_EQ(p * gold->value_minor_units / gold->per_points,
              redemption_value(policy(), cur("EUR"), p, {}, 15000)->minor_units());
  }
  // Capped by the maximum and by a limit (offline), and nothing below the minimum or without
  // a rate.
  EXPECT_EQ(redemption_offer(policy(), cur("EUR"), 50000)->max_points, 10000);
  EXPECT_EQ(redemption_offer(policy(), cur("EUR"), 5000, 250)->max_points, 200);
  EXPECT_FALSE(redemption_offer(policy(), cur("EUR"), 99));
  EXPECT_FALSE(redemption_offer(policy(), cur("EUR"), 5000, 50));
  EXPECT_FALSE(redemption_offer(policy(), cur("PLN"), 5000));
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

// What a till is offered offline is what it is granted: for every state of the limits, the
// decision allows each amount up to the headroom and refuses the next point.
TEST(OfflineRedemptionTest, TheHeadroomIsExactlyWhatTheDecisionAllows) {
  constexpr TimestampMs now = 1'767'225'600'000;
  for (const std::optional<TimestampMs>& synced :
       {std::optional<TimestampMs>{}, std::optional<TimestampMs>{now - 49 * kMsPerHour},
        std::optional<TimestampMs>{now - kMsPerHour}}) {
    for (Points today : {0, 1000, 2999, 3000}) {
      for (Points outstanding : {0, 98'500, 99'999, 100'000, 100'500}) {
        const OfflineRedemptionContext c{0, today, outstanding, synced, now};
        const Points room = offline_redemption_headroom(limits(), c);
        ASSERT_GE(room, 0);
        for (Points p : {Points{1}, room, room + 1}) {
          if (p < 1) continue;
          OfflineRedemptionContext at = c;
          at.points = p;
          EXPECT_EQ(decide_offline_redemption(limits(), at).allowed, p <= room)
              << "points " << p << " today " << today << " outstanding " << outstanding
              << " headroom " << room;
        }
      }
    }
  }
  EXPECT_EQ(offline_redemption_headroom(limits(), {0, 1000, 99'000, now, now}), 1000);
  EXPECT_EQ(offline_redemption_headroom(OfflineLimits{}, {0, 0, 0, now, now}), 0) << "disabled";
}

}  // namespace
}  // namespace accrue
