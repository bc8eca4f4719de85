// IANA time zones for campaign windows, daily caps and expiry dates, evaluated in a store's
// local time. The core parses TZif data (RFC 8536) handed to it as bytes; reading the bytes from
// /usr/share/zoneinfo is the job of a TimeZoneSource (common/sys/zoneinfo.h). Instants beyond
// the last transition in the file follow the file's POSIX TZ footer rule.
//
// A TimeZone is an immutable value: copy it freely and use it from any thread. Instants beyond
// +-10^15 ms (about 31,000 years from 1970) are clamped to that range.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace accrue {

class TimeZone {
 public:
  static TimeZone utc();
  // `name` is kept for messages; `tzif` is the content of a TZif file (version 1 to 4).
  static Result<TimeZone> from_tzif(std::string name, std::span<const uint8_t> tzif);
  // A POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" or "<+0530>-5:30".
  static Result<TimeZone> from_posix(std::string name, std::string_view rule);

  const std::string& name() const;
  // Seconds east of UTC in force at `utc_seconds`.
  int32_t offset_at(int64_t utc_seconds) const;
  // The local wall clock at an instant, as milliseconds since 1970-01-01T00:00 local.
  int64_t to_local_ms(TimestampMs utc_ms) const;
  // The instant of a local wall-clock time. In a gap (spring forward) the time moves forward by
  // the gap's length (02:30 -> 03:30); in an overlap (fall back) it is the earlier instant.
  TimestampMs to_utc_ms(int64_t local_ms) const;

  struct Impl;

 private:
  explicit TimeZone(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Looks time zones up by IANA name ("Europe/Warsaw"). Implementations are thread-safe.
class TimeZoneSource {
 public:
  virtual ~TimeZoneSource() = default;
  virtual Result<TimeZone> load(std::string_view iana_name) = 0;
};

}  // namespace accrue
