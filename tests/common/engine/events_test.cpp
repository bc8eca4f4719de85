#include "common/engine/events.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

Program program() {
  Program p = testing::simple_program();
  p.event_rules = {100, 250};
  return p;
}

TimestampMs noon(int y, int m, int d) {
  return days_from_civil(y, m, d) * kMsPerDay + 12 * kMsPerHour;
}

TEST(EventsTest, EnrolmentBonus) { EXPECT_EQ(enrolment_bonus(program()), 100); }

TEST(EventsTest, BirthdayBonusOncePerLocalYear) {
  auto utc = TimeZone::utc();
  auto b = birthday_bonus(program(), utc, {5, 17, std::nullopt, noon(2026, 5, 17)});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->points, 250);
  EXPECT_EQ(b->year, 2026);
  EXPECT_FALSE(birthday_bonus(program(), utc, {5, 17, 2026, noon(2026, 5, 17)}));
  EXPECT_FALSE(birthday_bonus(program(), utc, {5, 17, std::nullopt, noon(2026, 5, 18)}));
  EXPECT_FALSE(birthday_bonus(program(), utc, {0, 0, std::nullopt, noon(2026, 5, 17)}));
}

TEST(EventsTest, LeapDayBirthdaysCountOnTheTwentyEighth) {
  auto utc = TimeZone::utc();
  EXPECT_TRUE(birthday_bonus(program(), utc, {2, 29, 2025, noon(2026, 2, 28)}));
  EXPECT_FALSE(birthday_bonus(program(), utc, {2, 29, 2027, noon(2028, 2, 28)}));
  EXPECT_TRUE(birthday_bonus(program(), utc, {2, 29, 2027, noon(2028, 2, 29)}));
}

TEST(EventsTest, BirthdayFollowsTheStoreTimeZone) {
  auto tokyo = testing::zones().load("Asia/Tokyo");
  ASSERT_TRUE(tokyo);
  // 2026-05-16T20:00Z is already the 17th in Tokyo.
  TimestampMs t = days_from_civil(2026, 5, 16) * kMsPerDay + 20 * kMsPerHour;
  EXPECT_TRUE(birthday_bonus(program(), *tokyo, {5, 17, std::nullopt, t}));
  EXPECT_FALSE(birthday_bonus(program(), TimeZone::utc(), {5, 17, std::nullopt, t}));
}

}  // namespace
}  // namespace accrue
