// UUIDs: customer ids (version 4, random) and event ids (version 7, time-ordered, RFC 9562).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace accrue {

class Uuid {
 public:
  Uuid() = default;  // the nil UUID
  explicit Uuid(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}

  // Accepts the canonical 36-character form, upper or lower case; anything else is
  // kInvalidArgument naming `field`.
  static Result<Uuid> parse(std::string_view text, std::string_view field = "uuid");

  static Uuid random_v4(Random& random);

  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  int version() const { return bytes_[6] >> 4; }
  bool is_nil() const;
  // For version 7: the embedded Unix time in milliseconds.
  TimestampMs v7_timestamp_ms() const;
  std::string to_string() const;  // lower-case canonical form

  friend auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

// A second id for another row of the event `base` names (a return's refund of redeemed points):
// the same time, so it sorts and partitions with it, and other random bits, by `purpose` (1 to
// 255), so the same event always derives the same id.
Uuid derived_v7(const Uuid& base, uint8_t purpose);

// Makes strictly increasing UUIDv7 values: 48 bits of milliseconds, then 74 random bits that
// are incremented (not redrawn) when the clock has not moved or went backwards, so ids made by
// one generator sort in creation order. Not thread-safe: one generator per writer.
class UuidV7Generator {
 public:
  UuidV7Generator(const Clock& clock, Random& random) : clock_(clock), random_(random) {}
  Uuid next();

 private:
  const Clock& clock_;
  Random& random_;
  Uuid last_;
  TimestampMs last_ms_ = -1;
};

}  // namespace accrue
