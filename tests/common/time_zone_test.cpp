#include "common/time_zone.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

int64_t utc(int y, int mo, int d, int h, int mi) {
  return days_from_civil(y, mo, d) * kMsPerDay + h * kMsPerHour + mi * 60'000;
}

TimeZone zone(std::string_view name) {
  auto z = testing::zones().load(name);
  EXPECT_TRUE(z) << name << ": " << (z ? "" : z.error().message);
  return z ? *z : TimeZone::utc();
}

TEST(TimeZoneTest, FollowsEuropeanSummerTime) {
  TimeZone waw = zone("Europe/Warsaw");
  EXPECT_EQ(waw.offset_at(utc(2026, 1, 15, 12, 0) / 1000), 3600);
  EXPECT_EQ(waw.offset_at(utc(2026, 7, 15, 12, 0) / 1000), 7200);
  // 2026-03-29 01:00 UTC the clocks go from 02:00 to 03:00.
  EXPECT_EQ(waw.offset_at(utc(2026, 3, 29, 0, 59) / 1000), 3600);
  EXPECT_EQ(waw.offset_at(utc(2026, 3, 29, 1, 0) / 1000), 7200);
  EXPECT_EQ(waw.to_local_ms(utc(2026, 11, 27, 8, 30)), utc(2026, 11, 27, 9, 30));
}

TEST(TimeZoneTest, UsesTheFooterRuleFarInTheFuture) {
  TimeZone waw = zone("Europe/Warsaw");
  EXPECT_EQ(waw.offset_at(utc(2090, 7, 1, 0, 0) / 1000), 7200);
  EXPECT_EQ(waw.offset_at(utc(2090, 12, 1, 0, 0) / 1000), 3600);
  TimeZone ny = zone("America/New_York");
  EXPECT_EQ(ny.offset_at(utc(2090, 7, 1, 0, 0) / 1000), -4 * 3600);
  EXPECT_EQ(ny.offset_at(utc(2090, 1, 1, 0, 0) / 1000), -5 * 3600);
}

TEST(TimeZoneTest, HandlesSouthernHemisphereAndHalfHourZones) {
  TimeZone syd = zone("Australia/Sydney");
  EXPECT_EQ(syd.offset_at(utc(2026, 1, 15, 0, 0) / 1000), 11 * 3600);
  EXPECT_EQ(syd.offset_at(utc(2026, 7, 15, 0, 0) / 1000), 10 * 3600);
  EXPECT_EQ(syd.offset_at(utc(2080, 1, 15, 0, 0) / 1000), 11 * 3600);
  TimeZone kol = zone("Asia/Kolkata");
  EXPECT_EQ(kol.offset_at(utc(2026, 6, 1, 0, 0) / 1000), 5 * 3600 + 1800);
}

TEST(TimeZoneTest, MapsLocalTimesBackThroughGapsAndOverlaps) {
  TimeZone waw = zone("Europe/Warsaw");
  // Ordinary time.
  EXPECT_EQ(waw.to_utc_ms(utc(2026, 11, 27, 9, 30)), utc(2026, 11, 27, 8, 30));
  // 02:30 on 2026-03-29 does not exist: moved forward to 03:30 local = 01:30 UTC.
  EXPECT_EQ(waw.to_utc_ms(utc(2026, 3, 29, 2, 30)), utc(2026, 3, 29, 1, 30));
  // 02:30 on 2026-10-25 happens twice: the earlier is 00:30 UTC.
  EXPECT_EQ(waw.to_utc_ms(utc(2026, 10, 25, 2, 30)), utc(2026, 10, 25, 0, 30));
  // Midnights used for expiry.
  EXPECT_EQ(waw.to_utc_ms(utc(2028, 1, 1, 0, 0)), utc(2027, 12, 31, 23, 0));
}

TEST(TimeZoneTest, ParsesPosixRules) {
  auto z = TimeZone::from_posix("test", "CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->offset_at(utc(2026, 7, 1, 0, 0) / 1000), 7200);
  auto fixed = TimeZone::from_posix("ist", "<+0530>-5:30");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->offset_at(0), 5 * 3600 + 1800);
  auto julian = TimeZone::from_posix("j", "XST3XDT,J60/0,J300/0");
  ASSERT_TRUE(julian);
  for (std::string_view bad : {"", "C", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0",
                               "CET-200", "CET-1CEST,M3.5.0,M10.5.0/x"}) {
    EXPECT_FALSE(TimeZone::from_posix("bad", bad)) << bad;
  }
}

TEST(TimeZoneTest, ExtremeInstantsDoNotOverflow) {
  TimeZone waw = zone("Europe/Warsaw");
  for (int64_t t : {INT64_MAX, INT64_MIN, int64_t{0}}) {
    (void)waw.offset_at(t);
    (void)waw.to_local_ms(t);
    (void)waw.to_utc_ms(t);
  }
  EXPECT_EQ(waw.offset_at(INT64_MAX / 1000), waw.offset_at(1'000'000'000'000));
}

TEST(TimeZoneTest, RejectsDamagedTzifData) {
  std::vector<uint8_t> junk = {'T', 'Z', 'i', 'f', '2'};
  EXPECT_FALSE(TimeZone::from_tzif("junk", junk));
  junk.resize(44, 0xff);
  EXPECT_FALSE(TimeZone::from_tzif("junk", junk));
  EXPECT_FALSE(TimeZone::from_tzif("empty", {}));
}

TEST(ZoneinfoSourceTest, RefusesPathsThatAreNotZoneNames) {
  for (std::string_view bad : {"", "../etc/passwd", "/etc/passwd", "Europe/../../etc",
                               "Europe/Warsaw;rm", "Europe//Warsaw"}) {
    auto r = testing::zones().load(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  auto missing = testing::zones().load("Mars/Olympus_Mons");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace accrue
