// Crockford's base32 (digits and upper-case letters without I, L, O, U): codes people read off
// a screen, key in or scan, since QR codes store these characters compactly (alphanumeric mode).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace accrue {

// Upper case, no padding, no separators.
std::string base32_encode(std::string_view bytes);
// Case-insensitive; O reads as 0 and I, L as 1; hyphens and spaces are skipped (codes are often
// printed in groups). nullopt for any other character, an impossible length or non-zero trailing
// bits (a non-canonical spelling).
std::optional<std::string> base32_decode(std::string_view text);

}  // namespace accrue
