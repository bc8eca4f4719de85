// Proleptic Gregorian calendar arithmetic on plain integers (Howard Hinnant's algorithms).
// "Local" values are wall-clock readings in some time zone, stored as if they were UTC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace accrue {

struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  friend bool operator==(const CivilDate&, const CivilDate&) = default;
};

int64_t days_from_civil(int year, int month, int day);
CivilDate civil_from_days(int64_t days);
bool is_leap_year(int year);
int days_in_month(int year, int month);
// ISO weekday of a day count since 1970-01-01: 1 = Monday ... 7 = Sunday.
int iso_weekday(int64_t days);

inline constexpr int64_t kMsPerDay = 86'400'000;
inline constexpr int64_t kMsPerHour = 3'600'000;

// Floor division of milliseconds into days (correct before 1970 too).
inline int64_t day_of_ms(int64_t ms) {
  return ms >= 0 ? ms / kMsPerDay : -((-ms - 1) / kMsPerDay) - 1;
}

// Parses "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (a local wall-clock time) into milliseconds
// since 1970-01-01T00:00 of the same clock. Errors name `field`.
Result<int64_t> parse_local_datetime(std::string_view text, std::string_view field);

// "YYYY-MM-DD".
std::string format_civil_date(const CivilDate& d);
// Formats local milliseconds as "YYYY-MM-DDTHH:MM:SS".
std::string format_local_datetime(int64_t local_ms);
// An instant as RFC 3339 UTC with milliseconds: "2026-11-28T09:30:00.000Z" (what the JSON APIs
// print and PostgreSQL reads).
std::string format_utc_iso8601(int64_t utc_ms);

}  // namespace accrue
