// Our TZif reader against a maintained one: abseil's time zone library (cctz) reads the same
// files in /usr/share/zoneinfo, and for every zone the system holds both must give the same UTC
// offset at every transition between 1900 and 2200 (and a second either side of it), and the same
// instant for local wall-clock times in gaps and overlaps. docs/domain.md explains why the reader
// is ours ("Why the TZif reader is ours"); this test is what keeps that choice honest.
#include <absl/time/civil_time.h>
#include <absl/time/time.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/time_zone.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

namespace fs = std::filesystem;

const fs::path kZoneinfo = "/usr/share/zoneinfo";

// Every zone file under /usr/share/zoneinfo, by IANA name; the posix/ and right/ trees repeat
// the same zones (right/ with leap seconds, which neither reader applies) and are left out.
std::vector<std::string> system_zone_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(kZoneinfo)) return names;
  for (auto it = fs::recursive_directory_iterator(kZoneinfo); it != fs::end(it); ++it) {
    const std::string rel = fs::relative(it->path(), kZoneinfo).string();
    if (it->is_directory() && (rel == "posix" || rel == "right")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    if (std::string_view(magic, 4) == "TZif") names.push_back(rel);
  }
  std::sort(names.begin(), names.end());
  return names;
}

int64_t seconds(absl::Time t) { return absl::ToUnixSeconds(t); }

TEST(TimeZoneCctzTest, EverySystemZoneAgreesAtEveryTransitionFrom1900To2200) {
  const auto names = system_zone_names();
  if (names.empty()) GTEST_SKIP() << "no TZif files in " << kZoneinfo;
  const absl::Time from =
      absl::FromCivil(absl::CivilSecond(1900, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  const absl::Time until =
      absl::FromCivil(absl::CivilSecond(2200, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  size_t zones = 0, instants = 0, wall_times = 0;
  for (const auto& name : names) {
    absl::TimeZone theirs;
    ASSERT_TRUE(absl::LoadTimeZone(name, &theirs)) << name;
    auto ours = testing::zones().load(name);
    ASSERT_TRUE(ours) << name << ": " << ours.error().message;
    ++zones;
    int failures = 0;
    auto same_offset = [&](absl::Time t) {
      const int64_t s = seconds(t);
      const int expected = theirs.At(t).offset;
      ++instants;
      if (ours->offset_at(s) != expected && ++failures <= 3) {
        ADD_FAILURE() << name << " at " << absl::FormatTime(t, absl::UTCTimeZone()) << ": ours "
                      << ours->offset_at(s) << " s, cctz " << expected << " s";
      }
    };
    same_offset(from);
    absl::TimeZone::CivilTransition tr;
    absl::Time t = from;
    while (theirs.NextTransition(t, &tr)) {
      const absl::Time at = theirs.At(tr.to).trans;  // the instant of the transition
      if (at >= until) break;
      same_offset(at - absl::Seconds(1));
      same_offset(at);
      same_offset(at + absl::Seconds(1));
      // The wall-clock times on both sides of the transition, and the one in its middle (in a
      // gap: skipped; in an overlap: repeated). Ours takes cctz's `pre` in every case: a
      // skipped time moves forward by the gap, a repeated one is the earlier instant.
      for (absl::CivilSecond wall : {tr.from, tr.to, tr.from + (tr.to - tr.from) / 2}) {
        const int64_t local_ms = (wall - absl::CivilSecond(1970, 1, 1, 0, 0, 0)) * int64_t{1000};
        const int64_t expected = seconds(theirs.At(wall).pre) * 1000;
        ++wall_times;
        if (ours->to_utc_ms(local_ms) != expected && ++failures <= 3) {
          ADD_FAILURE() << name << " wall clock " << absl::FormatCivilTime(wall) << ": ours "
                        << ours->to_utc_ms(local_ms) << " ms, cctz " << expected << " ms";
        }
      }
      t = at;
    }
    same_offset(until);
  }
  RecordProperty("zones", static_cast<int>(zones));
  RecordProperty("instants", static_cast<int>(instants));
  RecordProperty("wall_times", static_cast<int>(wall_times));
  std::printf("compared %zu zones, %zu instants, %zu wall-clock times\n", zones, instants,
              wall_times);
}

}  // namespace
}  // namespace accrue
