// base64url without padding (RFC 4648 section 5): JWTs, and cursors carried in URLs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace accrue {

std::string base64url_encode(std::string_view in);
// nullopt for characters outside the alphabet or an impossible length.
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace accrue
