// Head-office authentication: JWT bearer tokens (RFC 7519) signed with RS256 or ES256, verified
// against a JWKS file (RFC 7517). Only those two algorithms are accepted, and the algorithm must
// match the key the token's `kid` names: `none`, HS256 with a public key as secret and the other
// classic confusions are refused. `iss`, `aud` and `exp` are required and checked (`nbf` too
// when present), with a small clock leeway. Roles come from the `roles` claim (array of strings).
// Thread-safe after load.
#pragma once

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/base64url.h"
#include "common/clock.h"
#include "common/error.h"

namespace accrue::cloud::auth {

// kWebShop: the chain's web shop, a service that books orders and their returns.
enum class Role { kAdmin, kSupport, kAnalyst, kWebShop };
std::string_view to_string(Role r);  // "hq-admin", "hq-support", "hq-analyst", "web-shop"

struct Principal {
  std::string subject;
  std::set<Role> roles;
  bool has_any(std::initializer_list<Role> wanted) const;
};

class JwtVerifier {
 public:
  // Reads the JWKS file. kNotFound / kInvalidArgument (naming the key that is wrong).
  static Result<JwtVerifier> load(const std::string& jwks_path, std::string issuer,
                                  std::string audience);
  // The same from a JWKS document's text; `where` names it in errors (a path, a URL).
  static Result<JwtVerifier> from_jwks(std::string_view text, const std::string& where,
                                       std::string issuer, std::string audience);
  // The reason verify() gives for a token signed with a key the JWKS does not hold (a provider
  // that rotated its keys: fetch them again).
  static constexpr std::string_view kUnknownKey = "unknown signing key";

  // kUnauthenticated with a short reason for anything short of a valid token.
  // A token that verified once is remembered (by its exact bytes, up to kRememberedTokens of
  // them) with its validity window, so a client reusing its token costs a hash lookup instead of
  // a signature check; expiry and not-before are still checked against `now` on every call.
  // Only tokens that passed every check are remembered: forged ones cannot fill the table.
  Result<Principal> verify(std::string_view token, TimestampMs now) const;

  static constexpr size_t kRememberedTokens = 4096;

 private:
  struct Verified {
    Principal principal;
    int64_t exp_s = 0;
    std::optional<int64_t> nbf_s;
  };
  struct Remembered {
    std::shared_mutex mu;
    std::unordered_map<std::string, Verified> tokens;
  };
  Result<Verified> verify_signed(std::string_view token) const;
  std::shared_ptr<Remembered> remembered_ = std::make_shared<Remembered>();

  struct Key {
    std::string alg;  // "RS256" | "ES256"
    std::shared_ptr<EVP_PKEY> pkey;
  };
  std::map<std::string, Key> keys_;  // by kid
  std::string issuer_, audience_;
};

// For local use and tests: a fresh P-256 key pair, as a JWKS document (public) and a PEM
// private key, and tokens signed with it.
struct DevKeys {
  std::string jwks_json;
  std::string private_pem;
};
Result<DevKeys> make_dev_keys(const std::string& kid);
Result<std::string> sign_es256(const std::string& private_pem, const std::string& kid,
                               const std::string& claims_json);

using accrue::base64url_decode;
using accrue::base64url_encode;

}  // namespace accrue::cloud::auth
