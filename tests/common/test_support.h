// Shared helpers for the domain tests: fakes for the clock and randomness, and small builders.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/clock.h"
#include "common/engine/basket.h"
#include "common/money.h"
#include "common/program.h"
#include "common/sys/system.h"

namespace accrue::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimestampMs now = 1'767'225'600'000) : now_(now) {}  // 2026-01-01Z
  TimestampMs now_ms() const override { return now_; }
  void set(TimestampMs t) { now_ = t; }
  void advance(TimestampMs d) { now_ += d; }

 private:
  TimestampMs now_;
};

// Deterministic "random" bytes from a simple counter-mixed generator.
class FakeRandom final : public Random {
 public:
  explicit FakeRandom(uint64_t seed = 1) : state_(seed) {}
  void fill(std::span<uint8_t> out) override {
    for (auto& b : out) {
      state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
      b = static_cast<uint8_t>(state_ >> 56);
    }
  }

 private:
  uint64_t state_;
};

inline Currency cur(std::string_view code) { return *Currency::from_code(code); }

// A minimal valid program: 1 point per 1.00 EUR, floor per line, no tiers or rules.
inline Program simple_program() {
  Program p;
  p.program_id = "test";
  p.version = 1;
  p.earn_rates = {{cur("EUR"), 1, 100}};
  return p;
}

inline BasketLine line(uint32_t no, std::string sku, int64_t amount, int64_t qty_milli = 1000,
                       std::vector<std::string> categories = {}) {
  return BasketLine{no, std::move(sku), std::move(categories), qty_milli, amount};
}

inline ZoneinfoSource& zones() {
  static ZoneinfoSource source;
  return source;
}

}  // namespace accrue::testing
