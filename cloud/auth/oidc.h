// Member sign-in: access tokens of the chain's OpenID Connect provider (Cognito, Okta, Auth0,
// Keycloak, ...), for the member API (docs/members.md).
//
// The issuer's discovery document (ISSUER/.well-known/openid-configuration) names its jwks_uri
// and must name the same issuer; the JWKS fetched there verifies the tokens as JwtVerifier does
// (RS256 or ES256 only, the key the token's kid names, iss, aud, exp). The keys are fetched at the
// first token, then again every `refresh` in the background of requests, and at once when a
// token is signed with a key not held yet (a rotation), at most every `min_refresh`, so a forged
// kid cannot make the service hammer the provider. A fetch that fails keeps the keys held.
//
// Thread-safe: verify() may be called from any number of threads; one of them fetches at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cloud/auth/jwt.h"

namespace accrue::cloud::auth {

class OidcVerifier {
 public:
  // GETs a URL and answers its body (a 2xx answer), or why not.
  using Fetch = std::function<Result<std::string>(const std::string& url)>;

  struct Options {
    std::string issuer;    // e.g. https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc
    std::string audience;  // the aud the member API's tokens carry
    std::chrono::seconds refresh{3600};
    std::chrono::seconds min_refresh{30};
  };

  OidcVerifier(Options options, Fetch fetch, const Clock& clock);

  // kUnauthenticated with a short reason for anything short of a valid token; kUnavailable when
  // the provider's keys cannot be had (never fetched, and the provider does not answer).
  Result<Principal> verify(std::string_view token);

  // Fetches the discovery document and the keys now. kUnavailable (the provider did not answer)
  // or kInvalidArgument (what it answered is not usable), naming the URL.
  Result<void> refresh();

  // How many times the keys were fetched (tests, metrics).
  uint64_t fetches() const { return fetches_.load(); }

  // The libcurl GET the service uses: http(s) only, no redirects, `timeout` in all, 1 MiB at
  // most.
  static Fetch http_get(std::chrono::milliseconds timeout);

 private:
  // Fetches when `due` (or when nothing is held), unless another thread is fetching or the last
  // fetch was less than min_refresh ago.
  void refresh_if(bool due);

  Options options_;
  Fetch fetch_;
  const Clock& clock_;
  std::atomic<std::shared_ptr<const JwtVerifier>> keys_;
  std::mutex fetching_;
  std::atomic<TimestampMs> fetched_at_{0};  // the last attempt, successful or not
  std::atomic<TimestampMs> held_since_{0};  // the keys held now were fetched then
  std::atomic<uint64_t> fetches_{0};
};

}  // namespace accrue::cloud::auth
