// The only ways the domain core sees time and randomness. Production code passes the system
// implementations (common/sys/system.h); tests pass fakes that they control.
#pragma once

#include <cstdint>
#include <span>

namespace accrue {

// Unix epoch milliseconds, UTC. Every instant in Accrue is one of these.
using TimestampMs = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimestampMs now_ms() const = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with cryptographically strong random bytes.
  virtual void fill(std::span<uint8_t> out) = 0;
};

}  // namespace accrue
