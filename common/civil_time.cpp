#include "common/civil_time.h"

#include <cstdio>

namespace accrue {

int64_t days_from_civil(int year, int month, int day) {
  const int64_t y = static_cast<int64_t>(year) - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = (month + 9) % 12;
  const int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int>(y + (m <= 2 ? 1 : 0)), static_cast<int>(m),
                   static_cast<int>(d)};
}

bool is_leap_year(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

int iso_weekday(int64_t days) {
  // 1970-01-01 was a Thursday (4).
  int64_t w = (days + 3) % 7;
  if (w < 0) w += 7;
  return static_cast<int>(w) + 1;
}

Result<int64_t> parse_local_datetime(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument, std::string(field) +
                                                 ": want a local time like 2026-12-24T18:00 or " +
                                                 "2026-12-24T18:00:00");
  };
  if (text.size() != 16 && text.size() != 19) return bad();
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':') return bad();
  if (text.size() == 19 && text[16] != ':') return bad();
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2);
  int s = text.size() == 19 ? num(17, 2) : 0;
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
      s > 59) {
    return bad();
  }
  if (d > days_in_month(y, mo)) return bad();
  return days_from_civil(y, mo, d) * kMsPerDay + h * kMsPerHour + mi * 60'000 + s * 1000;
}

std::string format_local_datetime(int64_t local_ms) {
  int64_t day = day_of_ms(local_ms);
  int64_t rem = (local_ms - day * kMsPerDay) / 1000;
  CivilDate c = civil_from_days(day);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", c.year, c.month, c.day,
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                static_cast<int>(rem % 60));
  return buf;
}

std::string format_civil_date(const CivilDate& d) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

std::string format_utc_iso8601(int64_t utc_ms) {
  const int64_t ms = ((utc_ms % 1000) + 1000) % 1000;
  return format_local_datetime(utc_ms) + "." + std::to_string(1000 + ms).substr(1) + "Z";
}

}  // namespace accrue
