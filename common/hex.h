// Lower-case hexadecimal of bytes: digests, identifier hashes, bytea literals. The one encoder the
// tree uses; Uuid::to_string formats its own dashed form.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace accrue {

std::string to_hex(std::span<const uint8_t> bytes);

inline std::string to_hex(std::string_view bytes) {
  return to_hex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

// The bytes of an even number of hex digits (either case); nullopt for anything else.
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace accrue
