// The synthetic members shared by the store agent's `seed`, the cloud's `generate`, the tests and
// the benchmarks, so that a seeded store replica and a generated cloud database describe the same
// people: member i has card synthetic_card_number(i), id synthetic_customer_id(i), a tier by
// synthetic_tier_index(i) and is blocked when synthetic_blocked(i).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace accrue {

// "6000" followed by i as 12 digits.
inline std::string synthetic_card_number(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "6000%012lld", static_cast<long long>(i));
  return buf;
}

// A version 4 UUID derived from i.
inline std::string synthetic_customer_id(int64_t i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012llx", static_cast<long long>(i));
  return buf;
}

// Position in a ladder of `tiers` tiers: one member in ten at the top, one in four (of the rest)
// in the second, everyone else in the first.
inline size_t synthetic_tier_index(int64_t i, size_t tiers) {
  if (tiers == 0) return 0;
  if (i % 10 == 0) return tiers - 1;
  if (i % 4 == 0) return tiers > 1 ? 1 : 0;
  return 0;
}

inline bool synthetic_blocked(int64_t i) { return i % 997 == 13; }

}  // namespace accrue
