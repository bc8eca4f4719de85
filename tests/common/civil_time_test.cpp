#include "common/civil_time.h"

#include <gtest/gtest.h>

namespace accrue {
namespace {

TEST(CivilTimeTest, RoundTripsDaysAcrossCenturiesAndLeapYears) {
  for (int64_t d = -800000; d <= 800000; d += 97) {
    CivilDate c = civil_from_days(d);
    ASSERT_EQ(days_from_civil(c.year, c.month, c.day), d);
  }
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(civil_from_days(-1), (CivilDate{1969, 12, 31}));
}

TEST(CivilTimeTest, KnowsLeapYearsAndWeekdays) {
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_TRUE(is_leap_year(2028));
  EXPECT_EQ(days_in_month(2028, 2), 29);
  EXPECT_EQ(days_in_month(2027, 2), 28);
  EXPECT_EQ(iso_weekday(0), 4);                              // 1970-01-01 Thursday
  EXPECT_EQ(iso_weekday(days_from_civil(2026, 11, 27)), 5);  // Black Friday 2026
  EXPECT_EQ(iso_weekday(days_from_civil(2026, 11, 29)), 7);
}

TEST(CivilTimeTest, ParsesLocalDateTimes) {
  auto v = parse_local_datetime("2026-11-27T09:30", "starts_local");
  ASSERT_TRUE(v);
  EXPECT_EQ(format_local_datetime(*v), "2026-11-27T09:30:00");
  EXPECT_EQ(*parse_local_datetime("1970-01-01T00:00:01", "x"), 1000);
  for (std::string_view bad :
       {"2026-11-27", "2026-13-01T00:00", "2026-02-29T00:00", "2026-11-27 09:30",
        "2026-11-27T24:00", "2026-11-27T09:30:60", "2026-11-27T09:3x"}) {
    auto r = parse_local_datetime(bad, "window.ends_local");
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error().message.starts_with("window.ends_local:"));
  }
}

}  // namespace
}  // namespace accrue

namespace accrue {
namespace {

TEST(CivilTimeTest, FormatsUtcInstantsAsRfc3339WithMilliseconds) {
  EXPECT_EQ(format_utc_iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_utc_iso8601(1'795'768'200'123), "2026-11-27T08:30:00.123Z");
  EXPECT_EQ(format_utc_iso8601(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace accrue
