#include "cloud/auth/oidc.h"

#include <curl/curl.h>

#include <boost/json.hpp>

#include "common/sys/log.h"

namespace accrue::cloud::auth {

namespace json = boost::json;

OidcVerifier::OidcVerifier(Options options, Fetch fetch, const Clock& clock)
    : options_(std::move(options)), fetch_(std::move(fetch)), clock_(clock) {
  while (options_.issuer.ends_with('/')) options_.issuer.pop_back();
}

Result<void> OidcVerifier::refresh() {
  fetched_at_.store(clock_.now_ms());
  fetches_.fetch_add(1);
  const std::string discovery_url = options_.issuer + "/.well-known/openid-configuration";
  ACCRUE_ASSIGN_OR_RETURN(auto discovery, fetch_(discovery_url));
  boost::system::error_code ec;
  json::value doc = json::parse(discovery, ec);
  auto text = [&](const char* name) -> std::string {
    const auto* v = doc.is_object() ? doc.as_object().if_contains(name) : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  if (ec || !doc.is_object()) {
    return fail(ErrorCode::kInvalidArgument, discovery_url + ": not a discovery document");
  }
  // OpenID Connect Discovery 1.0, 4.3: the issuer it names is the one asked about.
  std::string issuer = text("issuer");
  while (issuer.ends_with('/')) issuer.pop_back();
  if (issuer != options_.issuer) {
    return fail(ErrorCode::kInvalidArgument,
                discovery_url + ": names issuer " + text("issuer") + ", not " + options_.issuer);
  }
  const std::string jwks_uri = text("jwks_uri");
  if (!jwks_uri.starts_with("https://") && !jwks_uri.starts_with("http://127.0.0.1") &&
      !jwks_uri.starts_with("http://localhost")) {
    return fail(ErrorCode::kInvalidArgument, discovery_url + ": jwks_uri must be an https URL");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto jwks, fetch_(jwks_uri));
  // Tokens carry the issuer as the provider writes it (some with a trailing slash).
  ACCRUE_ASSIGN_OR_RETURN(
      auto verifier, JwtVerifier::from_jwks(jwks, jwks_uri, text("issuer"), options_.audience));
  keys_.store(std::make_shared<const JwtVerifier>(std::move(verifier)));
  held_since_.store(clock_.now_ms());
  return {};
}

void OidcVerifier::refresh_if(bool due) {
  const TimestampMs now = clock_.now_ms();
  const bool held = keys_.load() != nullptr;
  if (held && !due) return;
  if (held && now - fetched_at_.load() < options_.min_refresh.count() * 1000) return;
  std::unique_lock lock(fetching_, std::try_to_lock);
  if (!lock.owns_lock()) {
    if (held) return;  // another request is fetching; the keys held serve this one
    lock.lock();       // nothing to serve with: wait for that fetch
    if (keys_.load() != nullptr) return;
  }
  if (auto r = refresh(); !r) {
    log(LogLevel::kWarn, "member_keys_fetch_failed", {{"reason", r.error().message}});
  }
}

Result<Principal> OidcVerifier::verify(std::string_view token) {
  const TimestampMs now = clock_.now_ms();
  refresh_if(now - held_since_.load() >= options_.refresh.count() * 1000);
  auto keys = keys_.load();
  if (!keys) {
    return fail(ErrorCode::kUnavailable,
                "the identity provider's keys cannot be fetched from " + options_.issuer);
  }
  auto who = keys->verify(token, now);
  if (who || who.error().message != JwtVerifier::kUnknownKey) return who;
  // Signed with a key not held: the provider may have rotated. Fetch once and try again.
  refresh_if(true);
  auto fresh = keys_.load();
  if (fresh == keys) return who;
  return fresh->verify(token, now);
}

namespace {

size_t take(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > (1u << 20)) return 0;  // more than 1 MiB: not keys
  body->append(data, size * n);
  return size * n;
}

}  // namespace

OidcVerifier::Fetch OidcVerifier::http_get(std::chrono::milliseconds timeout) {
  return [timeout](const std::string& url) -> Result<std::string> {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
    std::string body;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "accrue-cloud/1");
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    const CURLcode rc = curl_easy_perform(curl.get());
    if (rc != CURLE_OK) {
      return fail(ErrorCode::kUnavailable, url + ": " + curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      return fail(ErrorCode::kUnavailable, url + ": HTTP " + std::to_string(status));
    }
    return body;
  };
}

}  // namespace accrue::cloud::auth
