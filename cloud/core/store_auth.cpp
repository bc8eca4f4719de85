#include "cloud/core/store_auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <charconv>

#include "common/hex.h"

namespace accrue::cloud {

bool valid_store_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;  // '.' is allowed in the database but separates token fields
  }
  return true;
}

std::string StoreTokens::sign(std::string_view payload) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), md, &n);
  return to_hex(std::span<const uint8_t>(md, n));
}

std::string StoreTokens::issue(std::string_view store_id, int64_t expires_unix_s) const {
  std::string payload = "v1." + std::string(store_id) + "." + std::to_string(expires_unix_s);
  return payload + "." + sign(payload);
}

Result<std::string> StoreTokens::verify(std::string_view token, TimestampMs now) const {
  auto bad = [] { return fail(ErrorCode::kUnauthenticated, "invalid store token"); };
  if (token.size() > 512 || !token.starts_with("v1.")) return bad();
  auto last = token.rfind('.');
  auto mid = token.rfind('.', last - 1);
  if (last == std::string_view::npos || mid == std::string_view::npos || mid < 3) return bad();
  std::string_view store = token.substr(3, mid - 3);
  std::string_view exp = token.substr(mid + 1, last - mid - 1);
  std::string_view sig = token.substr(last + 1);
  if (!valid_store_id(store)) return bad();
  int64_t expires = 0;
  auto [p, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expires);
  if (ec != std::errc() || p != exp.data() + exp.size()) return bad();
  const std::string want = sign(token.substr(0, last));
  if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0) {
    return bad();
  }
  if (expires * 1000 <= now) return fail(ErrorCode::kUnauthenticated, "the store token expired");
  return std::string(store);
}

}  // namespace accrue::cloud
