#include "cloud/hq/api.h"

#include <openssl/sha.h>

#include <charconv>

#include "cloud/core/expiry.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using auth::Role;

Result<std::unique_ptr<HqApi>> HqApi::create(HqDeps deps) {
  std::unique_ptr<HqApi> api(new HqApi(deps));
  if (!deps.config.identifier_key_file.empty()) {
    auto key = read_key_file(deps.config.identifier_key_file, "auth.identifier_key_file");
    if (!key) return std::unexpected(key.error());
    auto h = IdentifierHasher::create(*key);
    if (!h) return std::unexpected(h.error());
    api->hasher_.emplace(std::move(*h));
  }
  return api;
}

HqApi::HqApi(HqDeps deps)
    : d_(deps),
      limiter_(std::make_unique<RateLimiter>(deps.redis, deps.config.cache_key_prefix, deps.clock)),
      idempotency_(std::make_unique<IdempotencyStore>(
          deps.redis, deps.config.cache_key_prefix,
          std::chrono::seconds(deps.config.hq_idempotency_ttl_s))),
      audit_(std::make_unique<AuditTrail>(deps.pool)),
      ids_(deps.clock, deps.random) {}

std::string HqApi::new_customer_id() {
  std::lock_guard lock(ids_mu_);
  return ids_.next().to_string();
}

void HqApi::add(http::Router& router, bhttp::verb method, std::string pattern, std::string name,
                std::initializer_list<Role> roles, Handler handler) {
  router.add(method, std::move(pattern), std::move(name),
             [this, roles = std::vector<Role>(roles), handler = std::move(handler)](
                 const http::Request& req, http::RequestContext& ctx) {
               return gate(req, ctx, roles, handler);
             });
}

void HqApi::add_routes(http::Router& r) {
  using V = bhttp::verb;
  const auto all = {Role::kAdmin, Role::kSupport, Role::kAnalyst};
  const auto care = {Role::kAdmin, Role::kSupport};
  const auto admin = {Role::kAdmin};
  r.add(V::get, "/v1/openapi.yaml", "openapi", [](const http::Request& req, http::RequestContext&) {
    return http::bytes(req, std::string(openapi_document()), "application/yaml");
  });
  add(r, V::get, "/v1/customers/{id}/status", "customers.status", all,
      [this](Call& c) { return customer_read(c, 0); });
  add(r, V::get, "/v1/customers/{id}", "customers.profile", all,
      [this](Call& c) { return customer_read(c, 1); });
  add(r, V::get, "/v1/customers/{id}/transactions", "customers.transactions", all,
      [this](Call& c) { return customer_read(c, 2); });
  add(r, V::get, "/v1/customers", "customers.search", all,
      [this](Call& c) { return customer_search(c); });
  add(r, V::post, "/v1/customers", "customers.create", care,
      [this](Call& c) { return customer_create(c); });
  add(r, V::get, "/v1/customers/{id}/details", "customers.details", care,
      [this](Call& c) { return customer_details(c); });
  add(r, V::patch, "/v1/customers/{id}/details", "customers.patch", care,
      [this](Call& c) { return customer_patch(c); });
  add(r, V::post, "/v1/customers/{id}/block", "customers.block", care,
      [this](Call& c) { return customer_block(c, true); });
  add(r, V::post, "/v1/customers/{id}/unblock", "customers.unblock", care,
      [this](Call& c) { return customer_block(c, false); });
  add(r, V::put, "/v1/customers/{id}/tier-floor", "customers.tier_floor", care,
      [this](Call& c) { return customer_tier_floor(c); });
  add(r, V::post, "/v1/customers/{id}/adjustments", "points.adjust", care,
      [this](Call& c) { return customer_adjust(c); });
  add(r, V::get, "/v1/customers/{id}/export", "customers.export", care,
      [this](Call& c) { return customer_export(c); });
  add(r, V::post, "/v1/customers/{id}/transfers", "points.transfer", care,
      [this](Call& c) { return customer_transfer(c); });
  add(r, V::post, "/v1/customers/{id}/merge", "customers.merge", care,
      [this](Call& c) { return customer_merge(c); });
  add(r, V::post, "/v1/customers/{id}/erase", "customers.erase", care,
      [this](Call& c) { return customer_erase(c); });
  const auto ops = {Role::kAdmin, Role::kAnalyst};
  add(r, V::get, "/v1/stores", "stores.list", ops, [this](Call& c) { return store_list(c); });
  add(r, V::post, "/v1/stores", "stores.create", admin,
      [this](Call& c) { return store_create(c); });
  add(r, V::get, "/v1/stores/{id}", "stores.get", ops, [this](Call& c) { return store_get(c); });
  add(r, V::get, "/v1/agents", "agents.list", ops, [this](Call& c) { return agent_list(c); });
  add(r, V::post, "/v1/agents/{id}/revoke", "agents.revoke", admin,
      [this](Call& c) { return agent_revoke(c); });
  add(r, V::get, "/v1/programs", "programs.list", all, [this](Call& c) { return program_list(c); });
  add(r, V::get, "/v1/programs/{program_id}/versions/{version}", "programs.version", all,
      [this](Call& c) { return program_version(c); });
  add(r, V::get, "/v1/programs/{program_id}/diff", "programs.diff", all,
      [this](Call& c) { return program_diff(c); });
  add(r, V::post, "/v1/programs/validate", "programs.validate", admin,
      [this](Call& c) { return program_validate(c); });
  add(r, V::get, "/v1/programs/drafts", "programs.drafts", admin,
      [this](Call& c) { return draft_list(c); });
  add(r, V::post, "/v1/programs/drafts", "programs.draft_create", admin,
      [this](Call& c) { return draft_create(c); });
  add(r, V::get, "/v1/programs/drafts/{draft_id}", "programs.draft", admin,
      [this](Call& c) { return draft_get(c); });
  add(r, V::put, "/v1/programs/drafts/{draft_id}", "programs.draft_update", admin,
      [this](Call& c) { return draft_put(c); });
  add(r, V::post, "/v1/programs/drafts/{draft_id}/publish", "programs.publish", admin,
      [this](Call& c) { return draft_publish(c); });
  add(r, V::get, "/v1/segments", "segments.list", ops, [this](Call& c) { return segment_list(c); });
  add(r, V::post, "/v1/segments", "segments.create", admin,
      [this](Call& c) { return segment_write(c, true); });
  add(r, V::get, "/v1/segments/{id}", "segments.get", ops,
      [this](Call& c) { return segment_get(c); });
  add(r, V::put, "/v1/segments/{id}", "segments.update", admin,
      [this](Call& c) { return segment_write(c, false); });
  add(r, V::delete_, "/v1/segments/{id}", "segments.delete", admin,
      [this](Call& c) { return segment_delete(c); });
  add(r, V::get, "/v1/segments/{id}/count", "segments.count", ops,
      [this](Call& c) { return segment_count(c); });
  add(r, V::get, "/v1/segments/{id}/members", "segments.members", all,
      [this](Call& c) { return segment_members(c); });
  add(r, V::get, "/v1/segments/{id}/export.csv", "segments.export", ops,
      [this](Call& c) { return segment_export(c); });
  add(r, V::get, "/v1/webhooks", "webhooks.list", admin,
      [this](Call& c) { return webhook_list(c); });
  add(r, V::post, "/v1/webhooks", "webhooks.create", admin,
      [this](Call& c) { return webhook_create(c); });
  add(r, V::get, "/v1/webhooks/{id}", "webhooks.get", admin,
      [this](Call& c) { return webhook_get(c); });
  add(r, V::delete_, "/v1/webhooks/{id}", "webhooks.delete", admin,
      [this](Call& c) { return webhook_delete(c); });
  add(r, V::get, "/v1/webhooks/{id}/deliveries", "webhooks.deliveries", admin,
      [this](Call& c) { return webhook_deliveries(c); });
  add(r, V::post, "/v1/webhooks/deliveries/{id}/redeliver", "webhooks.redeliver", admin,
      [this](Call& c) { return webhook_redeliver(c); });
  add(r, V::post, "/v1/points/expiry-runs", "points.expiry_run", admin,
      [this](Call& c) { return expiry_run(c); });
  add(r, V::post, "/v1/points/bulk-adjustments", "points.bulk_adjust", care,
      [this](Call& c) { return bulk_adjust(c); });
  add(r, V::get, "/v1/jobs/{id}", "jobs.get", care, [this](Call& c) { return job_get(c); });
  add(r, V::get, "/v1/audit", "audit.list", admin, [this](Call& c) { return audit_list(c); });
}

namespace {

std::string sha256_hex(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return to_hex(std::span<const uint8_t>(md, sizeof md));
}

bool is_write(bhttp::verb v) {
  return v == bhttp::verb::post || v == bhttp::verb::put || v == bhttp::verb::patch ||
         v == bhttp::verb::delete_;
}

}  // namespace

http::Response HqApi::gate(const http::Request& req, http::RequestContext& ctx,
                           const std::vector<Role>& roles, const Handler& handler) {
  auto unauthenticated = [&](std::string_view why) {
    auto res = http::problem(req, ctx, bhttp::status::unauthorized, "unauthenticated", why);
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"accrue\", error=\"invalid_token\"");
    return res;
  };
  if (!d_.jwt)
    return unauthenticated("head-office authentication is not configured on this server");
  auto h = req[bhttp::field::authorization];
  if (!h.starts_with("Bearer ")) return unauthenticated("a bearer token is required");
  auto who = d_.jwt->verify(h.substr(7), d_.clock.now_ms());
  if (!who) return unauthenticated(who.error().message);
  bool allowed = false;
  for (Role r : roles) allowed = allowed || who->roles.contains(r);
  if (!allowed) {
    std::string names;
    for (Role r : roles) names += (names.empty() ? "" : ", ") + std::string(auth::to_string(r));
    return http::problem(req, ctx, bhttp::status::forbidden, "forbidden",
                         "this operation needs one of the roles: " + names);
  }
  // Every /v1/customers/{id}... route: the id is checked here, once.
  if (ctx.route.starts_with("customers.") || ctx.route.starts_with("points.")) {
    if (!ctx.params.empty() && !CustomerReads::valid_customer_id(ctx.params[0])) {
      return http::problem(req, ctx, bhttp::status::bad_request, "bad-customer-id",
                           "customer id: 1 to 64 printable characters without '/'");
    }
  }
  Call call{req, ctx, std::move(*who)};
  const std::string& client = call.who.subject;
  const bool write = is_write(req.method());
  auto limited = [&](const RateLimiter::Decision& d) {
    auto res = http::problem(
        req, ctx, bhttp::status::too_many_requests, "rate-limited",
        "more than " + std::to_string(d.limit) + " requests a minute from this client");
    res.set(bhttp::field::retry_after, std::to_string(d.retry_after_s));
    res.set("RateLimit-Limit", std::to_string(d.limit));
    res.set("RateLimit-Remaining", "0");
    return res;
  };
  auto all =
      limiter_->admit(client, "all", static_cast<int64_t>(d_.config.hq_rate_limit_per_minute));
  if (!all.allowed) return limited(all);
  if (write) {
    auto w = limiter_->admit(client, "write",
                             static_cast<int64_t>(d_.config.hq_write_rate_limit_per_minute));
    if (!w.allowed) {
      limiter_->refund(client, "all");
      return limited(w);
    }
  }

  std::string key(req["Idempotency-Key"]);
  const bool idempotent = req.method() == bhttp::verb::post && !key.empty();
  std::string fingerprint;
  if (idempotent) {
    if (!IdempotencyStore::valid_key(key)) {
      return http::problem(req, ctx, bhttp::status::bad_request, "bad-idempotency-key",
                           "Idempotency-Key: 1 to 255 printable ASCII characters");
    }
    fingerprint = sha256_hex(std::string(req.target()) + "\n" + req.body());
    auto claim = idempotency_->claim(client, key, fingerprint);
    if (!claim) return http::problem(req, ctx, claim.error());
    switch (claim->claim) {
      case IdempotencyStore::Claim::kClaimed:
        break;
      case IdempotencyStore::Claim::kInProgress:
        return http::problem(req, ctx, bhttp::status::conflict, "idempotency-in-progress",
                             "a request with this Idempotency-Key is still being processed");
      case IdempotencyStore::Claim::kMismatch:
        return http::problem(req, ctx, bhttp::status::unprocessable_entity,
                             "idempotency-key-reused",
                             "this Idempotency-Key was used with another request");
      case IdempotencyStore::Claim::kReplay: {
        const auto& s = claim->stored;
        auto res = http::bytes(req, s.body, s.content_type, static_cast<bhttp::status>(s.status));
        if (!s.location.empty()) res.set(bhttp::field::location, s.location);
        res.set("Idempotent-Replayed", "true");
        return res;
      }
    }
  }
  http::Response res = handler(call);
  if (idempotent) {
    if (res.result_int() >= 500) {
      idempotency_->release(client, key);
    } else {
      idempotency_->complete(
          client, key, fingerprint,
          {static_cast<int>(res.result_int()), std::string(res[bhttp::field::content_type]),
           std::string(res[bhttp::field::location]), res.body()});
    }
  }
  return res;
}

http::Response HqApi::invalid(Call& call, const FieldErrors& errors) {
  json::object extra;
  extra["errors"] = errors.to_json();
  return http::problem(call.req, call.ctx, bhttp::status::unprocessable_entity, "validation",
                       "the request does not validate: " + errors.summary(), std::move(extra));
}

http::Response HqApi::problem(Call& call, bhttp::status status, std::string_view type,
                              std::string_view detail) {
  return http::problem(call.req, call.ctx, status, type, detail);
}

std::optional<json::object> HqApi::json_body(Call& call, http::Response& out) {
  auto type = call.req[bhttp::field::content_type];
  auto semi = type.find(';');
  auto base = type.substr(0, semi);
  if (base != "application/json" && base != "application/merge-patch+json") {
    out = problem(call, bhttp::status::unsupported_media_type, "unsupported-media-type",
                  "send the body as application/json");
    return std::nullopt;
  }
  auto o = parse_json_object(call.req.body());
  if (!o) {
    out = problem(call, bhttp::status::bad_request, "malformed-body", o.error().message);
    return std::nullopt;
  }
  return std::move(*o);
}

std::optional<std::string> HqApi::reason_body(Call& call, http::Response& out) {
  auto body = json_body(call, out);
  if (!body) return std::nullopt;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (!errors.empty()) {
    out = invalid(call, errors);
    return std::nullopt;
  }
  return reason;
}

std::optional<http::Response> HqApi::stale(Call& call, const std::string& etag,
                                           std::string_view what) {
  auto if_match = call.req[bhttp::field::if_match];
  if (if_match.empty() || if_match == "*" || if_match == etag) return std::nullopt;
  return problem(call, bhttp::status::precondition_failed, "stale-revision",
                 "the " + std::string(what) + " changed since that revision (If-Match " +
                     std::string(if_match) + ", now " + etag +
                     "): read it again and reapply the change");
}

http::Response HqApi::no_content(Call& call) {
  http::Response res{bhttp::status::no_content, call.req.version()};
  res.set(bhttp::field::server, "accrue-cloud");
  res.keep_alive(call.req.keep_alive());
  res.prepare_payload();
  return res;
}

int page_limit(std::string_view target, FieldErrors& errors) {
  auto l = http::query_param(target, "limit");
  if (!l) return kDefaultPageSize;
  int limit = 0;
  auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
  if (ec != std::errc() || p != l->data() + l->size() || limit < 1 || limit > kMaxPageSize) {
    errors.add("/limit", "must be from 1 to " + std::to_string(kMaxPageSize));
    return kDefaultPageSize;
  }
  return limit;
}

Result<void> HqApi::audit_change(pg::Connection& c, Call& call, std::string action,
                                 std::string subject, json::object detail) {
  return AuditTrail::write(c, {call.who.subject, std::move(action), std::move(subject),
                               call.ctx.request_id, std::move(detail)});
}

http::Response HqApi::expiry_run(Call& call) {
  // A body is optional: {"max_seconds": 1..60} (default 20).
  int64_t max_seconds = 20;
  if (!call.req.body().empty()) {
    http::Response bad;
    auto body = json_body(call, bad);
    if (!body) return bad;
    FieldErrors errors;
    ObjectReader in(*body, errors);
    if (auto s = in.integer("max_seconds", {.min = 1, .max = 60})) max_seconds = *s;
    in.finish();
    if (!errors.empty()) return invalid(call, errors);
  }
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(call.req, call.ctx, lease.error());
  SystemRandom random;
  auto r = run_expiry(**lease, d_.clock, random, std::chrono::seconds(max_seconds), 1000,
                      [this](const std::vector<std::string>& ids) {
                        if (!d_.cache.invalidate(ids)) {
                          log(LogLevel::kWarn, "cache_invalidation_failed",
                              {{"customers", std::to_string(ids.size())}});
                        }
                      });
  if (!r) return http::problem(call.req, call.ctx, r.error());
  json::object out{{"customers", r->customers},
                   {"lots", r->lots},
                   {"points", r->points},
                   {"complete", r->complete}};
  if (auto a = audit_change(**lease, call, "points.expiry_run", "points", out); !a) {
    log(LogLevel::kWarn, "audit_write_failed", {{"error", a.error().message}});
  }
  return http::json(call.req, json::serialize(out));
}

void HqApi::after_change(const std::string& customer_id) {
  if (!d_.cache.invalidate({customer_id})) {
    log(LogLevel::kWarn, "cache_invalidation_failed", {{"customers", "1"}});
  }
}

}  // namespace accrue::cloud::hq
