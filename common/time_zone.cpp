#include "common/time_zone.h"

#include <algorithm>
#include <optional>

#include "common/civil_time.h"

namespace accrue {
namespace {

// The rule of a POSIX TZ string: standard time, and optionally daylight time between two
// yearly transitions.
struct PosixRule {
  struct Date {
    enum class Kind { kJulianNoLeap, kZeroBased, kMonthWeekDay } kind = Kind::kMonthWeekDay;
    int day = 0;  // Jn: 1..365, n: 0..365, M: weekday 0 (Sunday)..6
    int month = 0, week = 0;
    int32_t time = 7200;  // seconds after local midnight; may be negative or past 24h
  };
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  Date start, end;
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> parse() {
    PosixRule r;
    if (!name()) return std::nullopt;
    auto off = offset();
    if (!off) return std::nullopt;
    r.std_offset = -*off;  // POSIX counts west as positive
    if (at_end()) return r;
    if (!name()) return std::nullopt;
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (!at_end() && peek() != ',') {
      auto d = offset();
      if (!d) return std::nullopt;
      r.dst_offset = -*d;
    }
    if (at_end()) {
      // No rule given: the US rule, as the POSIX default.
      r.start = {PosixRule::Date::Kind::kMonthWeekDay, 0, 3, 2, 7200};
      r.end = {PosixRule::Date::Kind::kMonthWeekDay, 0, 11, 1, 7200};
      return r;
    }
    if (!eat(',') || !date(r.start) || !eat(',') || !date(r.end) || !at_end()) {
      return std::nullopt;
    }
    return r;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  bool name() {
    size_t start = pos_;
    if (eat('<')) {
      while (!at_end() && peek() != '>') ++pos_;
      return eat('>') && pos_ - start >= 5;
    }
    while (!at_end() && ((peek() >= 'A' && peek() <= 'Z') || (peek() >= 'a' && peek() <= 'z'))) {
      ++pos_;
    }
    return pos_ - start >= 3;
  }
  std::optional<int> number(int max) {
    size_t start = pos_;
    int v = 0;
    while (!at_end() && peek() >= '0' && peek() <= '9' && pos_ - start < 4) {
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start || v > max) return std::nullopt;
    return v;
  }
  // [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 extension).
  std::optional<int32_t> offset() {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    auto h = number(167);
    if (!h) return std::nullopt;
    int32_t v = *h * 3600;
    if (eat(':')) {
      auto m = number(59);
      if (!m) return std::nullopt;
      v += *m * 60;
      if (eat(':')) {
        auto sec = number(59);
        if (!sec) return std::nullopt;
        v += *sec;
      }
    }
    return sign * v;
  }
  bool date(PosixRule::Date& d) {
    if (eat('M')) {
      auto m = number(12);
      if (!m || *m < 1 || !eat('.')) return false;
      auto w = number(5);
      if (!w || *w < 1 || !eat('.')) return false;
      auto wd = number(6);
      if (!wd) return false;
      d = {PosixRule::Date::Kind::kMonthWeekDay, *wd, *m, *w, 7200};
    } else if (eat('J')) {
      auto n = number(365);
      if (!n || *n < 1) return false;
      d = {PosixRule::Date::Kind::kJulianNoLeap, *n, 0, 0, 7200};
    } else {
      auto n = number(365);
      if (!n) return false;
      d = {PosixRule::Date::Kind::kZeroBased, *n, 0, 0, 7200};
    }
    if (eat('/')) {
      auto t = offset();
      if (!t) return false;
      d.time = *t;
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Local seconds (since 1970-01-01 local) at which a rule date occurs in `year`.
int64_t rule_local_seconds(const PosixRule::Date& d, int year) {
  int64_t day = 0;
  switch (d.kind) {
    case PosixRule::Date::Kind::kJulianNoLeap: {
      day = days_from_civil(year, 1, 1) + d.day - 1;
      if (is_leap_year(year) && d.day >= 60) ++day;  // Jn never counts February 29
      break;
    }
    case PosixRule::Date::Kind::kZeroBased:
      day = days_from_civil(year, 1, 1) + d.day;
      break;
    case PosixRule::Date::Kind::kMonthWeekDay: {
      int64_t first = days_from_civil(year, d.month, 1);
      int first_wd = iso_weekday(first) % 7;  // 0 = Sunday
      int64_t delta = (d.day - first_wd + 7) % 7;
      day = first + delta + 7 * (d.week - 1);
      int64_t last = first + days_in_month(year, d.month) - 1;
      while (day > last) day -= 7;  // week 5 means "last"
      break;
    }
  }
  return day * 86400 + d.time;
}

int32_t posix_offset(const PosixRule& r, int64_t t) {
  if (!r.has_dst) return r.std_offset;
  int year = civil_from_days(day_of_ms((t + r.std_offset) * 1000)).year;
  // Transitions as UTC instants: the start is given in standard time, the end in daylight time.
  int64_t start = rule_local_seconds(r.start, year) - r.std_offset;
  int64_t end = rule_local_seconds(r.end, year) - r.dst_offset;
  bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? r.dst_offset : r.std_offset;
}

// Instants are clamped to +-10^15 ms (about 31,000 years) before offsets are added.
constexpr int64_t kMsLimit = 1'000'000'000'000'000;

}  // namespace

struct TimeZone::Impl {
  std::string name;
  std::vector<int64_t> transitions;  // UTC seconds, ascending
  std::vector<int32_t> offsets;      // offset after each transition
  int32_t initial_offset = 0;        // before the first transition
  std::optional<PosixRule> rule;     // after the last transition (or always, if no table)
};

TimeZone TimeZone::utc() {
  auto impl = std::make_shared<Impl>();
  impl->name = "UTC";
  return TimeZone(std::move(impl));
}

Result<TimeZone> TimeZone::from_posix(std::string name, std::string_view rule) {
  auto parsed = PosixParser(rule).parse();
  if (!parsed) {
    return fail(ErrorCode::kInvalidArgument, "time zone " + name + ": bad POSIX TZ rule");
  }
  auto impl = std::make_shared<Impl>();
  impl->name = std::move(name);
  impl->initial_offset = parsed->std_offset;
  impl->rule = parsed;
  return TimeZone(std::move(impl));
}

Result<TimeZone> TimeZone::from_tzif(std::string name, std::span<const uint8_t> data) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::kInvalidArgument,
                "time zone " + name + ": invalid TZif data (" + std::string(why) + ")");
  };
  auto be32 = [&](size_t at) -> uint32_t {
    return static_cast<uint32_t>(data[at]) << 24 | static_cast<uint32_t>(data[at + 1]) << 16 |
           static_cast<uint32_t>(data[at + 2]) << 8 | data[at + 3];
  };
  auto be64 = [&](size_t at) -> int64_t {
    return static_cast<int64_t>(static_cast<uint64_t>(be32(at)) << 32 | be32(at + 4));
  };
  struct Header {
    uint32_t isut, isstd, leap, time, type, chars;
  };
  auto header = [&](size_t at) -> std::optional<Header> {
    if (data.size() < at + 44 || data[at] != 'T' || data[at + 1] != 'Z' || data[at + 2] != 'i' ||
        data[at + 3] != 'f') {
      return std::nullopt;
    }
    Header h{be32(at + 20), be32(at + 24), be32(at + 28),
             be32(at + 32), be32(at + 36), be32(at + 40)};
    // Bounds that keep the size arithmetic far from overflow.
    if (h.time > 100000 || h.type == 0 || h.type > 256 || h.chars > 65536 || h.leap > 100000 ||
        h.isut > 256 || h.isstd > 256) {
      return std::nullopt;
    }
    return h;
  };
  auto block_size = [](const Header& h, size_t time_size) {
    return h.time * time_size + h.time + h.type * 6 + h.chars + h.leap * (time_size + 4) + h.isstd +
           h.isut;
  };

  auto h1 = header(0);
  if (!h1) return bad("header");
  char version = static_cast<char>(data[4]);
  size_t at = 44;
  Header h = *h1;
  size_t time_size = 4;
  if (version >= '2') {
    at += block_size(*h1, 4);
    auto h2 = header(at);
    if (!h2) return bad("second header");
    h = *h2;
    at += 44;
    time_size = 8;
  }
  if (data.size() < at + block_size(h, time_size)) return bad("truncated");

  auto impl = std::make_shared<Impl>();
  impl->name = name;
  const size_t times_at = at;
  const size_t idx_at = times_at + h.time * time_size;
  const size_t types_at = idx_at + h.time;
  std::vector<int32_t> type_offsets(h.type);
  for (size_t i = 0; i < h.type; ++i) {
    int32_t off = static_cast<int32_t>(be32(types_at + i * 6));
    if (off < -25 * 3600 || off > 26 * 3600) return bad("offset out of range");
    type_offsets[i] = off;
  }
  impl->initial_offset = type_offsets[0];
  int64_t prev = INT64_MIN;
  for (size_t i = 0; i < h.time; ++i) {
    int64_t t =
        time_size == 8 ? be64(times_at + i * 8) : static_cast<int32_t>(be32(times_at + i * 4));
    uint8_t idx = data[idx_at + i];
    if (idx >= h.type) return bad("type index");
    if (t <= prev) return bad("transitions out of order");
    prev = t;
    impl->transitions.push_back(t);
    impl->offsets.push_back(type_offsets[idx]);
  }
  if (version >= '2') {
    size_t footer = at + block_size(h, time_size);
    if (footer < data.size() && data[footer] == '\n') {
      size_t end = footer + 1;
      while (end < data.size() && data[end] != '\n') ++end;
      if (end >= data.size()) return bad("footer");
      std::string_view rule(reinterpret_cast<const char*>(data.data()) + footer + 1,
                            end - footer - 1);
      if (!rule.empty()) {
        impl->rule = PosixParser(rule).parse();
        if (!impl->rule) return bad("footer rule");
      }
    }
  }
  return TimeZone(std::move(impl));
}

const std::string& TimeZone::name() const { return impl_->name; }

int32_t TimeZone::offset_at(int64_t t) const {
  // Beyond +-10^12 s (about 31,000 years) the answer cannot matter, and clamping keeps every
  // calendar computation below far from overflow.
  t = std::clamp<int64_t>(t, -1'000'000'000'000, 1'000'000'000'000);
  const Impl& z = *impl_;
  if (z.transitions.empty()) {
    return z.rule ? posix_offset(*z.rule, t) : z.initial_offset;
  }
  if (t < z.transitions.front()) return z.initial_offset;
  if (t >= z.transitions.back() && z.rule) return posix_offset(*z.rule, t);
  auto it = std::upper_bound(z.transitions.begin(), z.transitions.end(), t);
  return z.offsets[static_cast<size_t>(it - z.transitions.begin()) - 1];
}

int64_t TimeZone::to_local_ms(TimestampMs utc_ms) const {
  utc_ms = std::clamp<int64_t>(utc_ms, -kMsLimit, kMsLimit);
  int64_t secs = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms - 1) / 1000) - 1;
  return utc_ms + static_cast<int64_t>(offset_at(secs)) * 1000;
}

TimestampMs TimeZone::to_utc_ms(int64_t local_ms) const {
  local_ms = std::clamp<int64_t>(local_ms, -kMsLimit, kMsLimit);
  auto secs = [](int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms - 1) / 1000) - 1; };
  // Two candidate offsets: the one in force a day before and a day after. A local time that
  // maps back to itself under one of them is real; try the earlier instant first.
  int64_t before = offset_at(secs(local_ms) - 86400) * int64_t{1000};
  int64_t after = offset_at(secs(local_ms) + 86400) * int64_t{1000};
  int64_t a = local_ms - before;  // larger offset gives the earlier instant
  int64_t b = local_ms - after;
  int64_t first = std::min(a, b), second = std::max(a, b);
  if (to_local_ms(first) == local_ms) return first;
  if (to_local_ms(second) == local_ms) return second;
  // In a gap the wall clock jumps over local_ms: read it with the offset in force before the
  // gap, which moves it forward by the gap's length (02:30 -> 03:30), as java.time does.
  return a;
}

}  // namespace accrue
