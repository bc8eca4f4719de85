#include "cloud/hq/gate.h"

#include <openssl/sha.h>

#include "cloud/http/problems.h"
#include "common/hex.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
using auth::Role;
using http::Problem;

namespace {

std::string sha256_hex(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return to_hex(std::span<const uint8_t>(md, sizeof md));
}

}  // namespace

bool is_change(bhttp::verb v) {
  return v == bhttp::verb::post || v == bhttp::verb::put || v == bhttp::verb::patch ||
         v == bhttp::verb::delete_;
}

http::Response unauthenticated(const http::Request& req, const http::RequestContext& ctx,
                               std::string_view why) {
  auto res = http::problem(req, ctx, Problem::kUnauthenticated, why);
  res.set(bhttp::field::www_authenticate, "Bearer realm=\"accrue\", error=\"invalid_token\"");
  return res;
}

http::Response rate_limited(Call& call, const RateLimiter::Decision& d) {
  auto res =
      http::problem(call.req, call.ctx, Problem::kRateLimited,
                    "more than " + std::to_string(d.limit) + " requests a minute from this client");
  res.set(bhttp::field::retry_after, std::to_string(d.retry_after_s));
  res.set("RateLimit-Limit", std::to_string(d.limit));
  res.set("RateLimit-Remaining", "0");
  return res;
}

Gate::Gate(const HqDeps& deps)
    : d_(deps),
      limiter_(std::make_unique<RateLimiter>(deps.redis, deps.config.cache_key_prefix, deps.clock)),
      idempotency_(std::make_unique<IdempotencyStore>(
          deps.redis, deps.config.cache_key_prefix,
          std::chrono::seconds(deps.config.hq_idempotency_ttl_s))) {}

Gate::~Gate() = default;

void Gate::add(http::Router& router, bhttp::verb method, std::string pattern, std::string name,
               Roles roles, Handler handler) {
  router.add(method, std::move(pattern), std::move(name),
             [this, roles, handler = std::move(handler)](const http::Request& req,
                                                         http::RequestContext& ctx) {
               return pass(req, ctx, roles, handler);
             });
}

http::Response Gate::pass(const http::Request& req, http::RequestContext& ctx, Roles roles,
                          const Handler& handler) {
  if (!d_.jwt) {
    return unauthenticated(req, ctx, "head-office authentication is not configured on this server");
  }
  auto h = req[bhttp::field::authorization];
  if (!h.starts_with("Bearer ")) return unauthenticated(req, ctx, "a bearer token is required");
  auto who = d_.jwt->verify(h.substr(7), d_.clock.now_ms());
  if (!who) return unauthenticated(req, ctx, who.error().message);
  if (!std::ranges::any_of(roles, [&](Role r) { return who->roles.contains(r); })) {
    std::string names;
    for (Role r : roles) names += (names.empty() ? "" : ", ") + std::string(auth::to_string(r));
    return http::problem(req, ctx, Problem::kForbidden,
                         "this operation needs one of the roles: " + names);
  }
  if (ctx.route.starts_with("customers.") || ctx.route.starts_with("points.")) {
    if (!ctx.params.empty() && !CustomerReads::valid_customer_id(ctx.params[0])) {
      return http::problem(req, ctx, Problem::kBadCustomerId,
                           "customer id: 1 to 64 printable characters without '/'");
    }
  }
  Call call{req, ctx, std::move(*who)};
  return admitted(*limiter_, *idempotency_, call,
                  {d_.config.hq_rate_limit_per_minute, d_.config.hq_write_rate_limit_per_minute},
                  handler);
}

http::Response admitted(RateLimiter& limiter, IdempotencyStore& idempotency, Call& call,
                        Limits limits, const std::function<http::Response(Call&)>& handler) {
  const std::string& client = call.who.subject;
  auto all = limiter.admit(client, "all", static_cast<int64_t>(limits.per_minute));
  if (!all.allowed) return rate_limited(call, all);
  if (is_change(call.req.method())) {
    auto w = limiter.admit(client, "write", static_cast<int64_t>(limits.changes_per_minute));
    if (!w.allowed) {
      limiter.refund(client, "all");
      return rate_limited(call, w);
    }
  }
  std::string key(call.req["Idempotency-Key"]);
  if (call.req.method() == bhttp::verb::post && !key.empty()) {
    return run_once(idempotency, call, key, handler);
  }
  return handler(call);
}

http::Response run_once(IdempotencyStore& store, Call& call, const std::string& key,
                        const std::function<http::Response(Call&)>& handler) {
  const auto& req = call.req;
  const std::string& client = call.who.subject;
  if (!IdempotencyStore::valid_key(key)) {
    return http::problem(req, call.ctx, Problem::kBadIdempotencyKey,
                         "Idempotency-Key: 1 to 255 printable ASCII characters");
  }
  const std::string fingerprint = sha256_hex(std::string(req.target()) + "\n" + req.body());
  auto claim = store.claim(client, key, fingerprint);
  if (!claim) return http::problem(req, call.ctx, claim.error());
  switch (claim->claim) {
    case IdempotencyStore::Claim::kClaimed:
      break;
    case IdempotencyStore::Claim::kInProgress:
      return http::problem(req, call.ctx, Problem::kIdempotencyInProgress,
                           "a request with this Idempotency-Key is still being processed");
    case IdempotencyStore::Claim::kMismatch:
      return http::problem(req, call.ctx, Problem::kIdempotencyKeyReused,
                           "this Idempotency-Key was used with another request");
    case IdempotencyStore::Claim::kReplay: {
      const auto& s = claim->stored;
      auto res = http::bytes(req, s.body, s.content_type, static_cast<bhttp::status>(s.status));
      if (!s.location.empty()) res.set(bhttp::field::location, s.location);
      res.set("Idempotent-Replayed", "true");
      return res;
    }
  }
  http::Response res = handler(call);
  if (res.result_int() >= 500) {
    store.release(client, key);
  } else {
    store.complete(
        client, key, fingerprint,
        {static_cast<int>(res.result_int()), std::string(res[bhttp::field::content_type]),
         std::string(res[bhttp::field::location]), res.body()});
  }
  return res;
}

}  // namespace accrue::cloud::hq
