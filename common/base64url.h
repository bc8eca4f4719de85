// base64url without padding (RFC 4648 section 5): JWTs, and cursors carried in URLs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace accrue {

std::string base64url_encode(std::string_view in);
// nullopt for characters outside the alphabet, an impossible length, or non-zero trailing
// bits (a non-canonical spelling).
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace accrue
