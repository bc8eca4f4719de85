#include "common/engine/lots.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

int64_t utc(int y, int mo, int d, int h = 0) {
  return days_from_civil(y, mo, d) * kMsPerDay + h * kMsPerHour;
}

TEST(LotsTest, PendingThroughTheReturnWindow) {
  LotPolicy p{14, ExpiryKind::kNever, 0};
  Lot lot = open_lot(p, TimeZone::utc(), "l1", utc(2026, 11, 27, 10), 100);
  EXPECT_EQ(lot.available_at_ms, utc(2026, 12, 11, 10));
  EXPECT_EQ(lot.expires_at_ms, kNeverExpires);
  std::vector<Lot> lots = {lot};
  auto before = balance_of(lots, utc(2026, 12, 11, 9), kNeverExpires);
  EXPECT_EQ(before.pending, 100);
  EXPECT_EQ(before.available, 0);
  auto after = balance_of(lots, utc(2026, 12, 11, 10), kNeverExpires);
  EXPECT_EQ(after.available, 100);
}

TEST(LotsTest, ExpiresAtLocalEndOfMonthAndYear) {
  auto waw = testing::zones().load("Europe/Warsaw");
  ASSERT_TRUE(waw);
  // 2026-12-31 23:30 UTC is already 2027-01-01 in Warsaw.
  Lot month =
      open_lot({0, ExpiryKind::kEndOfMonth, 2}, *waw, "m", utc(2026, 12, 31, 23) + 1800000, 5);
  EXPECT_EQ(month.expires_at_ms, utc(2027, 3, 31, 22));  // 2027-04-01T00:00+02:00
  Lot year = open_lot({0, ExpiryKind::kEndOfYear, 1}, *waw, "y", utc(2026, 6, 1), 5);
  EXPECT_EQ(year.expires_at_ms, utc(2027, 12, 31, 23));  // 2028-01-01T00:00+01:00
  Lot days = open_lot({0, ExpiryKind::kAfterDays, 30}, *waw, "d", utc(2026, 6, 1), 5);
  EXPECT_EQ(days.expires_at_ms, utc(2026, 7, 1));
}

TEST(LotsTest, SpendsOldestFirst) {
  std::vector<Lot> lots = {{"b", utc(2026, 2, 1), utc(2026, 2, 1), kNeverExpires, 50, 50},
                           {"a", utc(2026, 1, 1), utc(2026, 1, 1), kNeverExpires, 30, 30},
                           {"c", utc(2026, 3, 1), utc(2026, 9, 1), kNeverExpires, 70, 70}};
  auto d = draw_fifo(lots, 60, utc(2026, 4, 1));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, (std::vector<Draw>{{"a", 30}, {"b", 30}}));
  auto short_ = draw_fifo(lots, 81, utc(2026, 4, 1));  // c is still pending
  ASSERT_FALSE(short_);
  EXPECT_EQ(short_.error().code, ErrorCode::kInsufficientPoints);
  EXPECT_FALSE(draw_fifo(lots, 0, utc(2026, 4, 1)));
}

TEST(LotsTest, ExpiredLotsNeitherCountNorSpend) {
  std::vector<Lot> lots = {{"old", utc(2025, 1, 1), utc(2025, 1, 1), utc(2026, 1, 1), 40, 25},
                           {"new", utc(2026, 1, 5), utc(2026, 1, 5), utc(2027, 1, 1), 10, 10}};
  auto b = balance_of(lots, utc(2026, 2, 1), utc(2027, 6, 1));
  EXPECT_EQ(b.available, 10);
  EXPECT_EQ(b.expiring, 10);
  EXPECT_EQ(b.expiring_at_ms, utc(2027, 1, 1));
  EXPECT_EQ(expire_due(lots, utc(2026, 2, 1)), (std::vector<Draw>{{"old", 25}}));
  EXPECT_FALSE(draw_fifo(lots, 11, utc(2026, 2, 1)));
}

TEST(LotsTest, ReversalTakesFromTheSaleLotFirstThenReportsShortfall) {
  std::vector<Lot> lots = {{"other", utc(2026, 1, 1), utc(2026, 1, 1), kNeverExpires, 20, 20},
                           {"sale", utc(2026, 3, 1), utc(2026, 3, 15), kNeverExpires, 50, 10}};
  auto plan = plan_reversal(lots, "sale", 50, utc(2026, 3, 2));
  EXPECT_EQ(plan.draws, (std::vector<Draw>{{"sale", 10}, {"other", 20}}));
  EXPECT_EQ(plan.shortfall, 20);
}

TEST(LotsTest, AStoreShowsTheConfirmedPointsMinusLocalSpendingPlusLocalLots) {
  const LotBalance b = store_balance({500, 40, 120}, LotBalance{30, 70, 10, utc(2027, 1, 1)});
  EXPECT_EQ(b.available, 500 - 120 + 30);
  EXPECT_EQ(b.pending, 40 + 70);
  EXPECT_EQ(b.expiring, 10);  // only the local lots' expiry is known here
  EXPECT_EQ(b.expiring_at_ms, utc(2027, 1, 1));
}

TEST(LotsTest, AStoreSpendsTheConfirmedPointsFirstThenItsLotsOldestFirst) {
  std::vector<Lot> lots = {{"b", utc(2026, 2, 1), utc(2026, 2, 1), kNeverExpires, 50, 50},
                           {"a", utc(2026, 1, 1), utc(2026, 1, 1), kNeverExpires, 30, 30}};
  auto covered = plan_spend(100, lots, 60, utc(2026, 4, 1));
  EXPECT_EQ(covered.from_confirmed, 60);
  EXPECT_TRUE(covered.draws.empty());
  auto both = plan_spend(40, lots, 60, utc(2026, 4, 1));
  EXPECT_EQ(both.from_confirmed, 40);
  EXPECT_EQ(both.draws, (std::vector<Draw>{{"a", 20}}));
  EXPECT_EQ(both.uncovered, 0);
  auto overdrawn = plan_spend(-10, lots, 60, utc(2026, 4, 1));  // spent beyond the confirmed
  EXPECT_EQ(overdrawn.from_confirmed, 0);
  EXPECT_EQ(overdrawn.draws, (std::vector<Draw>{{"a", 30}, {"b", 30}}));
  auto short_ = plan_spend(10, lots, 100, utc(2026, 4, 1));
  EXPECT_EQ(short_.from_confirmed, 10);
  EXPECT_TRUE(short_.draws.empty()) << "nothing is drawn when the lots cannot cover the rest";
  EXPECT_EQ(short_.uncovered, 90);
  ASSERT_TRUE(short_.shortfall);
  EXPECT_EQ(short_.shortfall->code, ErrorCode::kInsufficientPoints);
}

}  // namespace
}  // namespace accrue
