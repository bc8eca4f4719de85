// Store credentials for agents that reach the cloud through an ingress which terminates TLS: a
// token signed by the cloud, naming one store and an expiry:
//   v1.<store_id>.<expires_unix_s>.<hex HMAC-SHA-256(key, "v1.<store_id>.<expires_unix_s>")>
// The agent sends it as `Authorization: Bearer <token>`; the store it names is the only store the
// caller may act for. (With mTLS straight to the service, the client certificate names the store
// instead.) Thread-safe after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace accrue::cloud {

class StoreTokens {
 public:
  explicit StoreTokens(std::vector<uint8_t> key) : key_(std::move(key)) {}

  std::string issue(std::string_view store_id, int64_t expires_unix_s) const;
  // The store the token names. kUnauthenticated for a malformed, forged or expired token.
  Result<std::string> verify(std::string_view token, TimestampMs now) const;

 private:
  std::string sign(std::string_view payload) const;
  std::vector<uint8_t> key_;
};

// A store id: 1 to 64 of [A-Za-z0-9._-] (the same rule as the database's CHECK).
bool valid_store_id(std::string_view id);

}  // namespace accrue::cloud
