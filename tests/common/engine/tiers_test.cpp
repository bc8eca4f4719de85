#include "common/engine/tiers.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"

namespace accrue {
namespace {

TierPolicy ladder() {
  TierPolicy p;
  p.window_days = 365;
  p.downgrade_grace_days = 30;
  p.ladder = {{"bronze", "Bronze", 0, 10000},
              {"silver", "Silver", 1000, 12500},
              {"gold", "Gold", 5000, 15000}};
  return p;
}

constexpr TimestampMs kNow = 1'767'225'600'000;

TEST(TiersTest, PlacesANewMemberByValue) {
  auto d = evaluate_tier(ladder(), {"", 1200, std::nullopt, "", kNow});
  EXPECT_EQ(d->tier_id, "silver");
  EXPECT_EQ(d->change, TierChange::kPlaced);
  EXPECT_EQ(d->next_tier_id, "gold");
  EXPECT_EQ(d->distance_to_next, 3800);
}

TEST(TiersTest, UpgradesAtOnce) {
  auto d = evaluate_tier(ladder(), {"bronze", 5000, std::nullopt, "", kNow});
  EXPECT_EQ(d->tier_id, "gold");
  EXPECT_EQ(d->change, TierChange::kUpgrade);
  EXPECT_TRUE(d->next_tier_id.empty());
  EXPECT_EQ(d->distance_to_next, 0);
}

TEST(TiersTest, DowngradesOnlyAfterTheGracePeriod) {
  auto d = evaluate_tier(ladder(), {"gold", 900, std::nullopt, "", kNow});
  EXPECT_EQ(d->tier_id, "gold");
  EXPECT_EQ(d->change, TierChange::kNone);
  EXPECT_EQ(d->below_since_ms, kNow);
  EXPECT_EQ(d->downgrade_at_ms, kNow + 30 * kMsPerDay);

  auto later = evaluate_tier(ladder(), {"gold", 900, kNow, "", kNow + 30 * kMsPerDay});
  EXPECT_EQ(later->tier_id, "bronze");
  EXPECT_EQ(later->change, TierChange::kDowngrade);
  EXPECT_FALSE(later->below_since_ms);
}

TEST(TiersTest, RecoveringClearsThePendingDowngrade) {
  auto d = evaluate_tier(ladder(), {"gold", 5200, kNow - kMsPerDay, "", kNow});
  EXPECT_EQ(d->change, TierChange::kNone);
  EXPECT_FALSE(d->below_since_ms);
  EXPECT_FALSE(d->downgrade_at_ms);
}

TEST(TiersTest, ManualFloorHoldsTheTier) {
  auto d = evaluate_tier(ladder(), {"silver", 0, kNow - 90 * kMsPerDay, "silver", kNow});
  EXPECT_EQ(d->tier_id, "silver");
  EXPECT_EQ(d->change, TierChange::kNone);
  EXPECT_FALSE(evaluate_tier(ladder(), {"silver", 0, std::nullopt, "diamond", kNow}));
}

TEST(TiersTest, NoLadderMeansNoTier) {
  auto d = evaluate_tier(TierPolicy{}, {"", 100, std::nullopt, "", kNow});
  EXPECT_TRUE(d->tier_id.empty());
}

TEST(TiersTest, QualifyingValueIsARollingWindow) {
  std::vector<QualifyingActivity> a = {{kNow - 400 * kMsPerDay, 1000},
                                       {kNow - 365 * kMsPerDay, 500},  // just outside
                                       {kNow - 364 * kMsPerDay, 300},
                                       {kNow, 200},
                                       {kNow + 1, 999}};
  EXPECT_EQ(qualifying_value(a, 365, kNow), 500);
  std::vector<QualifyingActivity> returns = {{kNow, 100}, {kNow, -300}};
  EXPECT_EQ(qualifying_value(returns, 365, kNow), 0);
}

TEST(TiersTest, AStoreShowsATierReachedButNeverADowngrade) {
  auto up = store_tier_view(ladder(), "silver", 5200);  // the cloud's 4,900 and a sale of 300 here
  EXPECT_EQ(up.reached_tier_id, "gold");
  EXPECT_EQ(up.next_tier_id, "") << "gold is the top";
  auto two = store_tier_view(ladder(), "bronze", 6000);
  EXPECT_EQ(two.reached_tier_id, "gold") << "two steps at once";
  auto short_of = store_tier_view(ladder(), "silver", 4999);
  EXPECT_EQ(short_of.reached_tier_id, "");
  EXPECT_EQ(short_of.next_tier_id, "gold");
  EXPECT_EQ(short_of.distance_to_next, 1);
  auto below = store_tier_view(ladder(), "gold", 200);  // a return here, value below silver
  EXPECT_EQ(below.reached_tier_id, "") << "downgrades are the cloud's, after the grace";
  EXPECT_EQ(below.next_tier_id, "");
  auto beyond = store_tier_view(ladder(), "bronze", 800);
  EXPECT_EQ(beyond.next_tier_id, "silver");
  EXPECT_EQ(beyond.distance_to_next, 200);
  EXPECT_EQ(store_tier_view(ladder(), "platinum", 9000).reached_tier_id, "")
      << "a tier the ladder does not have: the cloud places her";
  EXPECT_EQ(store_tier_view(TierPolicy{}, "", 9000).next_tier_id, "") << "no tiers";
}

// The till contract (proto/README.md): a next tier always comes with a distance of at least one
// point (or minor unit), the exact gap to its threshold, for every tier held and every value.
TEST(TiersTest, ANextTierAlwaysComesWithTheGapToItsThreshold) {
  const auto policy = ladder();
  auto threshold_of = [&](const std::string& id) {
    for (const auto& t : policy.ladder) {
      if (t.tier_id == id) return t.threshold;
    }
    return int64_t{-1};
  };
  for (const char* held : {"bronze", "silver", "gold"}) {
    for (int64_t value = -50; value <= 5'100; ++value) {
      auto v = store_tier_view(policy, held, value);
      if (!v.next_tier_id.empty()) {
        ASSERT_GE(v.distance_to_next, 1) << held << " " << value;
        ASSERT_EQ(value + v.distance_to_next, threshold_of(v.next_tier_id)) << held << " " << value;
      }
      auto d = evaluate_tier(policy, {held, value, std::nullopt, "", kNow});
      ASSERT_TRUE(d);
      if (!d->next_tier_id.empty()) {
        ASSERT_GE(d->distance_to_next, 1) << held << " " << value;
      }
    }
  }
}

}  // namespace
}  // namespace accrue
