#include "common/uuid.h"

#include <algorithm>

namespace accrue {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void set_version_and_variant(std::array<uint8_t, 16>& b, uint8_t version) {
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | (version << 4));
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
}

}  // namespace

Result<Uuid> Uuid::parse(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                std::string(field) + ": not a UUID (want 8-4-4-4-12 hexadecimal digits)");
  };
  if (text.size() != 36) return bad();
  std::array<uint8_t, 16> b{};
  size_t out = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = hex_value(text[i]);
    int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    b[out++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return Uuid(b);
}

Uuid Uuid::random_v4(Random& random) {
  std::array<uint8_t, 16> b{};
  random.fill(b);
  set_version_and_variant(b, 4);
  return Uuid(b);
}

bool Uuid::is_nil() const {
  return std::ranges::all_of(bytes_, [](uint8_t v) { return v == 0; });
}

TimestampMs Uuid::v7_timestamp_ms() const {
  uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = ms << 8 | bytes_[i];
  return static_cast<TimestampMs>(ms);
}

std::string Uuid::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[bytes_[i] >> 4];
    s += kHex[bytes_[i] & 0x0f];
  }
  return s;
}

Uuid UuidV7Generator::next() {
  TimestampMs now = clock_.now_ms();
  std::array<uint8_t, 16> b{};
  if (now > last_ms_) {
    random_.fill(b);
    for (int i = 5; i >= 0; --i) {
      b[i] = static_cast<uint8_t>(now & 0xff);
      now >>= 8;
    }
  } else {
    // Same millisecond (or the clock stepped back): keep the last timestamp and add one to the
    // 74 random bits, skipping the version and variant bits. Overflow of 2^74 values in one
    // millisecond is not reachable in practice; it would carry into the timestamp, which keeps
    // the order strict.
    b = last_.bytes();
    for (int i = 15; i >= 0; --i) {
      if (i == 6) {  // low nibble belongs to rand_a
        uint8_t low = static_cast<uint8_t>((b[6] & 0x0f) + 1);
        b[6] = static_cast<uint8_t>((b[6] & 0xf0) | (low & 0x0f));
        if (low <= 0x0f) break;
        continue;
      }
      if (i == 8) {  // low six bits belong to rand_b
        uint8_t low = static_cast<uint8_t>((b[8] & 0x3f) + 1);
        b[8] = static_cast<uint8_t>((b[8] & 0xc0) | (low & 0x3f));
        if (low <= 0x3f) break;
        continue;
      }
      if (++b[i] != 0) break;
    }
  }
  set_version_and_variant(b, 7);
  last_ = Uuid(b);
  last_ms_ = last_.v7_timestamp_ms();
  return last_;
}

Uuid derived_v7(const Uuid& base, uint8_t purpose) {
  auto bytes = base.bytes();
  bytes[9] ^= purpose;  // rand_b, far above the generator's increments within one millisecond
  return Uuid(bytes);
}

}  // namespace accrue
