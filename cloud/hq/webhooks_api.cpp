// /v1/webhooks: subscriptions (the signing secret is shown once, at creation), their delivery
// log, and redelivery on request. Delivery itself: cloud/core/webhooks.h.
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <charconv>

#include "cloud/core/webhooks.h"
#include "cloud/hq/resources.h"
#include "common/base64url.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr const char* kSubscriptionColumns =
    "subscription_id::text, url, event_types, description, active, created_by, "
    "(extract(epoch FROM created_at)*1000)::bigint, (SELECT count(*) FROM webhook_outbox o "
    "WHERE o.subscription_id = s.subscription_id AND o.state = 'pending'), (SELECT count(*) "
    "FROM webhook_outbox o WHERE o.subscription_id = s.subscription_id AND o.state = 'failed')";

// {a,"b c"} -> ["a", "b c"] (the event types are plain words; quotes are stripped).
json::array text_array_json(std::string_view a) {
  json::array out;
  if (a.size() < 2) return out;
  a = a.substr(1, a.size() - 2);
  while (!a.empty()) {
    auto comma = a.find(',');
    auto item = a.substr(0, comma);
    if (item.size() >= 2 && item.front() == '"') item = item.substr(1, item.size() - 2);
    out.push_back(json::value(item));
    a = comma == std::string_view::npos ? "" : a.substr(comma + 1);
  }
  return out;
}

json::object subscription_json(const pg::PgResult& r, int i) {
  return json::object{{"subscription_id", r.text(i, 0)},
                      {"url", r.text(i, 1)},
                      {"event_types", text_array_json(r.text(i, 2))},
                      {"description", r.text(i, 3)},
                      {"active", r.boolean(i, 4)},
                      {"created_by", r.text(i, 5)},
                      {"created_at", format_utc_iso8601(r.int64(i, 6))},
                      {"pending", r.int64(i, 7)},
                      {"failed", r.int64(i, 8)}};
}

bool valid_uuid(std::string_view s) { return Uuid::parse(s, "id").has_value(); }

}  // namespace

void WebhooksApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/webhooks", "webhooks.list", kAdminOnly,
           [this](Call& c) { return list(c); });
  gate.add(r, V::post, "/v1/webhooks", "webhooks.create", kAdminOnly,
           [this](Call& c) { return create(c); });
  gate.add(r, V::get, "/v1/webhooks/{id}", "webhooks.get", kAdminOnly,
           [this](Call& c) { return get(c); });
  gate.add(r, V::delete_, "/v1/webhooks/{id}", "webhooks.delete", kAdminOnly,
           [this](Call& c) { return remove(c); });
  gate.add(r, V::get, "/v1/webhooks/{id}/deliveries", "webhooks.deliveries", kAdminOnly,
           [this](Call& c) { return deliveries(c); });
  gate.add(r, V::post, "/v1/webhooks/deliveries/{id}/redeliver", "webhooks.redeliver", kAdminOnly,
           [this](Call& c) { return redeliver(c); });
}

http::Response WebhooksApi::create(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto url = in.string("url", {.required = true, .min = 8, .max = 2000});
  auto description = in.string("description", {.max = 200});
  std::vector<std::string> types;
  if (const auto* a = in.array("event_types", 10, true)) {
    for (size_t i = 0; i < a->size(); ++i) {
      const auto& v = (*a)[i];
      const std::string at = "/event_types/" + std::to_string(i);
      if (!v.is_string() || std::ranges::none_of(kWebhookEventTypes, [&](const char* t) {
            return v.as_string() == t;
          })) {
        errors.add(at,
                   "must be one of: member.enrolled, tier.changed, points.accrued, "
                   "points.redeemed, points.adjusted");
        continue;
      }
      types.emplace_back(v.as_string());
    }
    if (types.empty() && a->empty()) errors.add("/event_types", "must list at least one type");
  }
  in.finish();
  if (url) {
    const bool https = url->starts_with("https://");
    const bool http = url->starts_with("http://");
    if (!https && !(http && d_.config.hq_webhooks_allow_http)) {
      errors.add("/url", d_.config.hq_webhooks_allow_http ? "must be an http:// or https:// URL"
                                                          : "must be an https:// URL");
    }
    if (url->find_first_of(" \t\r\n") != std::string::npos) errors.add("/url", "has blanks");
  }
  if (!errors.empty()) return invalid(call, errors);
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    return problem(call, Error{ErrorCode::kInternal, "no random bytes for the secret"});
  }
  const std::string secret =
      "whsec_" + base64url_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
  const std::string id = new_id();
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<pg::PgResult> row;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_TRY(
        c.query("INSERT INTO webhook_subscription (subscription_id, url, event_types, "
                "secret, description, created_by) VALUES ($1::uuid, $2, $3::text[], $4, "
                "$5, $6)",
                {pg::Param::text(id), pg::Param::text(*url), pg::Param::text(pg::text_array(types)),
                 pg::Param::text(secret), pg::Param::text(description.value_or("")),
                 pg::Param::text(call.who.subject)}));
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query((std::string("SELECT ") + kSubscriptionColumns +
                         " FROM webhook_subscription s WHERE subscription_id = $1::uuid")
                            .c_str(),
                        {pg::Param::text(id)}));
    row = std::move(r);
    return audit_change(c, call, "webhook.create", "webhook:" + id, {{"url", *url}});
  });
  if (!done) return problem(call, done.error());
  json::object out = subscription_json(*row, 0);
  out["secret"] = secret;  // shown once
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/webhooks/" + id);
  return res;
}

http::Response WebhooksApi::list(Call& call) {
  return listing(call,
                 std::string("SELECT ") + kSubscriptionColumns +
                     " FROM webhook_subscription s ORDER BY created_at LIMIT 1000",
                 subscription_json);
}

http::Response WebhooksApi::get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid(id)) return problem(call, Problem::kNotFound, "no webhook " + id);
  return one(call,
             std::string("SELECT ") + kSubscriptionColumns +
                 " FROM webhook_subscription s WHERE subscription_id = $1::uuid",
             id, subscription_json, "webhook");
}

http::Response WebhooksApi::remove(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid(id)) return problem(call, Problem::kNotFound, "no webhook " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query("DELETE FROM webhook_subscription WHERE subscription_id = $1::uuid",
                        {pg::Param::text(id)}));
    if (r.affected() == 0) return fail(ErrorCode::kNotFound, "no webhook " + id);
    return audit_change(c, call, "webhook.delete", "webhook:" + id);
  });
  if (!done) return problem(call, done.error());
  return no_content(call);
}

http::Response WebhooksApi::deliveries(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid(id)) return problem(call, Problem::kNotFound, "no webhook " + id);
  const auto target = call.req.target();
  FieldErrors errors;
  const int limit = page_limit(target, errors);
  int64_t before = INT64_MAX;
  if (auto cur = http::query_param(target, "cursor")) {
    auto raw = base64url_decode(*cur);
    if (!raw || std::from_chars(raw->data(), raw->data() + raw->size(), before).ec != std::errc()) {
      errors.add("/cursor", "is not one this service handed out");
    }
  }
  std::string state;
  if (auto s = http::query_param(target, "state")) {
    if (*s != "pending" && *s != "delivered" && *s != "failed") {
      errors.add("/state", "must be one of: pending, delivered, failed");
    }
    state = *s;
  }
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT o.delivery_id, o.event_type, o.event_id, o.state, o.attempts, o.last_status, "
      "coalesce(o.last_error, ''), (extract(epoch FROM o.created_at)*1000)::bigint, "
      "(extract(epoch FROM o.next_attempt_at)*1000)::bigint, "
      "(extract(epoch FROM o.delivered_at)*1000)::bigint, (SELECT coalesce(json_agg("
      "json_build_object('attempt', a.attempt, 'at', to_char(a.at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'status', a.status, 'error', a.error, "
      "'duration_ms', a.duration_ms) ORDER BY a.attempt), '[]') FROM webhook_attempt a WHERE "
      "a.delivery_id = o.delivery_id) FROM webhook_outbox o WHERE o.subscription_id = $1::uuid "
      "AND o.delivery_id < $2::bigint AND ($3 = '' OR o.state = $3) ORDER BY o.delivery_id DESC "
      "LIMIT $4::int",
      {pg::Param::text(id), pg::Param::text(std::to_string(before)), pg::Param::text(state),
       pg::Param::text(std::to_string(limit + 1))});
  if (!r) return problem(call, r.error());
  json::array items;
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) {
    json::object o{
        {"delivery_id", r->int64(i, 0)},
        {"event_type", r->text(i, 1)},
        {"event_id", r->text(i, 2)},
        {"state", r->text(i, 3)},
        {"attempts", r->int64(i, 4)},
        {"last_status", r->is_null(i, 5) ? json::value(nullptr) : json::value(r->int64(i, 5))},
        {"last_error", r->text(i, 6)},
        {"created_at", format_utc_iso8601(r->int64(i, 7))},
        {"next_attempt_at", r->text(i, 3) == "pending"
                                ? json::value(format_utc_iso8601(r->int64(i, 8)))
                                : json::value(nullptr)},
        {"delivered_at",
         r->is_null(i, 9) ? json::value(nullptr) : json::value(format_utc_iso8601(r->int64(i, 9)))},
        {"log", json::parse(r->text(i, 10))}};
    items.push_back(std::move(o));
  }
  json::object out{{"items", std::move(items)}};
  out["next_cursor"] = r->rows() > limit
                           ? json::value(base64url_encode(std::to_string(r->int64(limit - 1, 0))))
                           : json::value(nullptr);
  return http::json(call.req, json::serialize(out));
}

http::Response WebhooksApi::redeliver(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  int64_t delivery = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), delivery);
  if (ec != std::errc() || p != id.data() + id.size() || delivery <= 0) {
    return problem(call, Problem::kNotFound, "no delivery " + id);
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query("UPDATE webhook_outbox SET state = 'pending', next_attempt_at = now() WHERE "
                "delivery_id = $1::bigint",
                {pg::Param::text(id)}));
    if (r.affected() == 0) return fail(ErrorCode::kNotFound, "no delivery " + id);
    return audit_change(c, call, "webhook.redeliver", "webhook_delivery:" + id);
  });
  if (!done) return problem(call, done.error());
  if (d_.webhooks) d_.webhooks->wake();
  json::object out{{"delivery_id", delivery}, {"state", "pending"}};
  return http::json(call.req, json::serialize(out), bhttp::status::accepted);
}

}  // namespace accrue::cloud::hq
