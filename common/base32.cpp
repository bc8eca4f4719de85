#include "common/base32.h"

#include <array>
#include <cstdint>

namespace accrue {

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

constexpr std::array<int8_t, 256> decode_table() {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    const auto c = static_cast<unsigned char>(kAlphabet[i]);
    t[c] = static_cast<int8_t>(i);
    if (c >= 'A' && c <= 'Z') t[c - 'A' + 'a'] = static_cast<int8_t>(i);
  }
  t['O'] = t['o'] = 0;
  t['I'] = t['i'] = t['L'] = t['l'] = 1;
  return t;
}

constexpr auto kDecode = decode_table();

}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : bytes) {
    buffer = (buffer << 8) | static_cast<uint8_t>(ch);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kAlphabet[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  size_t digits = 0;
  for (char ch : text) {
    if (ch == '-' || ch == ' ') continue;
    const int8_t v = kDecode[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    ++digits;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // What is left over must be the zero padding of the last byte, shorter than a digit.
  const size_t rem = digits % 8;
  if (rem == 1 || rem == 3 || rem == 6) return std::nullopt;
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace accrue
