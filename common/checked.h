// Overflow-checked integer arithmetic for money and points. Nothing here uses floating point.
#pragma once

#include <cstdint>
#include <optional>

namespace accrue {

// 128-bit intermediates for products of amounts, rates and multipliers (a GCC/Clang extension).
__extension__ typedef __int128 int128;

inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Narrows a 128-bit intermediate; nullopt when it does not fit in int64.
inline std::optional<int64_t> narrow(int128 v) {
  if (v > static_cast<int128>(INT64_MAX) || v < static_cast<int128>(INT64_MIN)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

inline bool fits_int64(int128 v) {
  return v <= static_cast<int128>(INT64_MAX) && v >= static_cast<int128>(INT64_MIN);
}

// Floor division for a positive denominator (C++ `/` truncates towards zero). Uses 64-bit
// division when both fit: 128-bit division is a slow library call.
inline int128 floor_div(int128 num, int128 den) {
  if (fits_int64(num) && fits_int64(den)) {
    int64_t n = static_cast<int64_t>(num), d = static_cast<int64_t>(den);
    int64_t q = n / d;
    if ((n % d != 0) && (n < 0)) --q;
    return q;
  }
  int128 q = num / den;
  if ((num % den != 0) && (num < 0)) --q;
  return q;
}

// Ceiling division for a positive denominator.
inline int128 ceil_div(int128 num, int128 den) { return -floor_div(-num, den); }

// Round half to even (banker's rounding) for a positive denominator.
inline int128 half_even_div(int128 num, int128 den) {
  int128 q = floor_div(num, den);
  int128 rem2 = 2 * (num - q * den);  // in [0, 2*den)
  if (rem2 > den || (rem2 == den && (q % 2 != 0))) ++q;
  return q;
}

}  // namespace accrue
