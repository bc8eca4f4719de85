// /v1/stores and /v1/agents: register stores, and watch the agents' sync health as each agent
// reports it with its change-feed polls (outbox depth and oldest event, quarantine, programme in
// force), beside what the cloud itself knows (last seen, last seq, seq gaps). Revoking an agent
// refuses its uploads and polls from then on (to lock a device out, revoke the store's
// certificate as well: packaging/pki/accrue-pki revoke).
#include <boost/json.hpp>
#include <charconv>

#include "cloud/core/store_auth.h"
#include "cloud/hq/resources.h"
#include "common/base64url.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

json::value time_or_null(const pg::PgResult& r, int row, int col) {
  if (r.is_null(row, col)) return nullptr;
  return json::value(format_utc_iso8601(r.int64(row, col)));
}

json::value int_or_null(const pg::PgResult& r, int row, int col) {
  if (r.is_null(row, col)) return nullptr;
  return r.int64(row, col);
}

constexpr const char* kAgentColumns =
    "a.agent_id, a.store_id, (extract(epoch FROM a.last_seen_at)*1000)::bigint, a.last_seq, "
    "(extract(epoch FROM a.reported_at)*1000)::bigint, a.outbox_depth, "
    "(extract(epoch FROM a.oldest_pending_at)*1000)::bigint, a.quarantined, a.program, "
    "(extract(epoch FROM a.revoked_at)*1000)::bigint, coalesce(a.revoked_reason, ''), "
    "(SELECT count(*) FROM agent_seq_gap g WHERE g.agent_id = a.agent_id)";

json::object agent_json(const pg::PgResult& r, int i, int64_t now_ms) {
  json::object o{{"agent_id", r.text(i, 0)},
                 {"store_id", r.text(i, 1)},
                 {"last_seen_at", time_or_null(r, i, 2)},
                 {"last_seq", r.int64(i, 3)},
                 {"reported_at", time_or_null(r, i, 4)},
                 {"outbox_depth", int_or_null(r, i, 5)},
                 {"oldest_pending_at", time_or_null(r, i, 6)},
                 {"quarantined", int_or_null(r, i, 7)},
                 {"program", r.is_null(i, 8) ? json::value(nullptr) : json::value(r.text(i, 8))},
                 {"revoked_at", time_or_null(r, i, 9)},
                 {"seq_gaps", r.int64(i, 11)}};
  if (!r.text(i, 10).empty()) o["revoked_reason"] = r.text(i, 10);
  // Seconds since the agent was last heard from (null: never).
  o["silent_for_s"] = r.is_null(i, 2)
                          ? json::value(nullptr)
                          : json::value(std::max<int64_t>(0, (now_ms - r.int64(i, 2)) / 1000));
  return o;
}

}  // namespace

void StoresApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/stores", "stores.list", kOperations,
           [this](Call& c) { return list(c); });
  gate.add(r, V::post, "/v1/stores", "stores.create", kAdminOnly,
           [this](Call& c) { return create(c); });
  gate.add(r, V::get, "/v1/stores/{id}", "stores.get", kOperations,
           [this](Call& c) { return get(c); });
  gate.add(r, V::patch, "/v1/stores/{id}", "stores.update", kAdminOnly,
           [this](Call& c) { return update(c); });
  gate.add(r, V::get, "/v1/agents", "agents.list", kOperations,
           [this](Call& c) { return agents(c); });
  gate.add(r, V::post, "/v1/agents/{id}/revoke", "agents.revoke", kAdminOnly,
           [this](Call& c) { return revoke(c); });
}

http::Response StoresApi::create(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto id = in.string("store_id", {.required = true, .min = 1, .max = 64});
  auto name = in.string("name", {.required = true, .min = 1, .max = 200});
  auto country = in.string("country", {.required = true, .min = 2, .max = 2});
  auto zone = in.string("time_zone", {.max = 64}).value_or("");  // "": the programme's
  in.finish();
  if (id && (!valid_store_id(*id) || *id == Ingest::kHeadOfficeStore)) {
    errors.add("/store_id", "letters, digits, '.', '_' and '-' only (and not HQ)");
  }
  if (country && !std::ranges::all_of(*country, [](char c) { return c >= 'A' && c <= 'Z'; })) {
    errors.add("/country", "must be an ISO 3166-1 alpha-2 code, e.g. DE");
  }
  if (!zone.empty() && !d_.zones.load(zone)) {
    errors.add("/time_zone", "not an IANA time zone name");
  }
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  bool exists = false;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query("INSERT INTO store (store_id, name, country, time_zone) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT DO NOTHING",
                {pg::Param::text(*id), pg::Param::text(*name), pg::Param::text(*country),
                 pg::Param::text(zone)}));
    if (r.affected() == 0) {
      exists = true;
      return fail(ErrorCode::kAlreadyExists, "exists");
    }
    return audit_change(c, call, "store.create", "store:" + *id, {{"name", *name}});
  });
  if (exists) {
    return problem(call, Problem::kStoreExists, "store " + *id + " exists");
  }
  if (!done) return problem(call, done.error());
  json::object out{{"store_id", *id},
                   {"name", *name},
                   {"country", *country},
                   {"time_zone", zone},
                   {"agents", json::array{}}};
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/stores/" + *id);
  return res;
}

http::Response StoresApi::list(Call& call) {
  FieldErrors errors;
  const auto target = call.req.target();
  const int limit = page_limit(target, errors);
  std::string after;
  if (auto cur = http::query_param(target, "cursor")) {
    auto raw = base64url_decode(*cur);
    if (!raw || !valid_store_id(*raw)) {
      errors.add("/cursor", "is not one this service handed out");
    } else {
      after = *raw;
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT s.store_id, s.name, s.country, s.time_zone, (SELECT count(*) FROM agent a WHERE "
      "a.store_id = s.store_id), (SELECT (extract(epoch FROM max(a.last_seen_at))*1000)::bigint "
      "FROM agent a WHERE a.store_id = s.store_id) FROM store s WHERE s.store_id > $1 AND "
      "s.store_id <> $2 ORDER BY s.store_id LIMIT $3::int",
      {pg::Param::text(after), pg::Param::text(Ingest::kHeadOfficeStore),
       pg::Param::text(std::to_string(limit + 1))});
  if (!r) return problem(call, r.error());
  json::array items;
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) {
    items.push_back(json::object{{"store_id", r->text(i, 0)},
                                 {"name", r->text(i, 1)},
                                 {"country", r->text(i, 2)},
                                 {"time_zone", r->text(i, 3)},
                                 {"agents", r->int64(i, 4)},
                                 {"last_seen_at", time_or_null(*r, i, 5)}});
  }
  json::object out{{"items", std::move(items)}};
  out["next_cursor"] = r->rows() > limit
                           ? json::value(base64url_encode(std::string(r->text(limit - 1, 0))))
                           : json::value(nullptr);
  return http::json(call.req, json::serialize(out));
}

http::Response StoresApi::get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_store_id(id)) {
    return problem(call, Problem::kBadStoreId, "not a store id");
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto s = (*lease)->query("SELECT name, country, time_zone FROM store WHERE store_id = $1",
                           {pg::Param::text(id)});
  if (!s) return problem(call, s.error());
  if (s->rows() == 0) return problem(call, Problem::kNotFound, "no store " + id);
  auto a = (*lease)->query(std::string("SELECT ") + kAgentColumns +
                               " FROM agent a WHERE a.store_id = $1 ORDER BY a.agent_id LIMIT 100",
                           {pg::Param::text(id)});
  if (!a) return problem(call, a.error());
  json::array agents;
  const int64_t now = d_.clock.now_ms();
  for (int i = 0; i < a->rows(); ++i) agents.push_back(agent_json(*a, i, now));
  json::object out{{"store_id", id},
                   {"name", s->text(0, 0)},
                   {"country", s->text(0, 1)},
                   {"time_zone", s->text(0, 2)},
                   {"agents", std::move(agents)}};
  return http::json(call.req, json::serialize(out));
}

// The store's name, country or time zone; its agents take the new country and zone from their
// next change-feed page, and the cloud uses them for the events it ingests from then on.
http::Response StoresApi::update(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_store_id(id) || id == Ingest::kHeadOfficeStore) {
    return problem(call, Problem::kBadStoreId, "not a store id");
  }
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto name = in.string("name", {.min = 1, .max = 200});
  auto country = in.string("country", {.min = 2, .max = 2});
  auto zone = in.string("time_zone", {.max = 64});
  in.finish();
  if (!name && !country && !zone && errors.empty()) errors.add("", "no field to change");
  if (country && !std::ranges::all_of(*country, [](char c) { return c >= 'A' && c <= 'Z'; })) {
    errors.add("/country", "must be an ISO 3166-1 alpha-2 code, e.g. DE");
  }
  if (zone && !zone->empty() && !d_.zones.load(*zone)) {
    errors.add("/time_zone", "not an IANA time zone name (or \"\": the programme's)");
  }
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  bool missing = false;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query("UPDATE store SET name = coalesce($2, name), country = coalesce($3, "
                        "country), time_zone = coalesce($4, time_zone) WHERE store_id = $1",
                        {pg::Param::text(id), name ? pg::Param::text(*name) : pg::Param::null(),
                         country ? pg::Param::text(*country) : pg::Param::null(),
                         zone ? pg::Param::text(*zone) : pg::Param::null()}));
    if (r.affected() == 0) {
      missing = true;
      return fail(ErrorCode::kNotFound, "no store " + id);
    }
    json::object changed;
    if (name) changed["name"] = *name;
    if (country) changed["country"] = *country;
    if (zone) changed["time_zone"] = *zone;
    return audit_change(c, call, "store.update", "store:" + id, std::move(changed));
  });
  if (missing) return problem(call, Problem::kNotFound, "no store " + id);
  if (!done) return problem(call, done.error());
  return get(call);
}

http::Response StoresApi::agents(Call& call) {
  FieldErrors errors;
  const auto target = call.req.target();
  const int limit = page_limit(target, errors);
  std::string where = "a.store_id <> $1 AND a.store_id <> $2";  // no agent runs in these
  std::vector<std::string> values{std::string(Ingest::kHeadOfficeStore),
                                  std::string(Ingest::kWebShopStore)};
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  if (auto st = http::query_param(target, "store")) where += " AND a.store_id = " + param(*st);
  if (auto silent = http::query_param(target, "silent_for_s")) {
    int64_t s = 0;
    auto [p, ec] = std::from_chars(silent->data(), silent->data() + silent->size(), s);
    if (ec != std::errc() || p != silent->data() + silent->size() || s < 0) {
      errors.add("/silent_for_s", "must be a whole number of seconds");
    } else {
      where += " AND (a.last_seen_at IS NULL OR a.last_seen_at < now() - make_interval(secs => " +
               param(std::to_string(s)) + "::double precision))";
    }
  }
  if (auto q = http::query_param(target, "quarantined"); q && *q == "true") {
    where += " AND a.quarantined > 0";
  } else if (q) {
    errors.add("/quarantined", "only true filters");
  }
  if (auto cur = http::query_param(target, "cursor")) {
    auto raw = base64url_decode(*cur);
    if (!raw || raw->empty() || raw->size() > 128) {
      errors.add("/cursor", "is not one this service handed out");
    } else {
      where += " AND a.agent_id > " + param(*raw);
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  std::vector<pg::Param> ps;
  for (const auto& v : values) ps.push_back(pg::Param::text(v));
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query((std::string("SELECT ") + kAgentColumns + " FROM agent a WHERE " +
                            where + " ORDER BY a.agent_id LIMIT " + std::to_string(limit + 1))
                               .c_str(),
                           std::span<const pg::Param>(ps));
  if (!r) return problem(call, r.error());
  json::array items;
  const int64_t now = d_.clock.now_ms();
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) items.push_back(agent_json(*r, i, now));
  json::object out{{"items", std::move(items)}};
  out["next_cursor"] = r->rows() > limit
                           ? json::value(base64url_encode(std::string(r->text(limit - 1, 0))))
                           : json::value(nullptr);
  return http::json(call.req, json::serialize(out));
}

http::Response StoresApi::revoke(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (id.empty() || id.size() > 128) {
    return problem(call, Problem::kBadAgentId, "not an agent id");
  }
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query("UPDATE agent SET revoked_at = coalesce(revoked_at, now()), revoked_reason = "
                "coalesce(revoked_reason, $2) WHERE agent_id = $1",
                {pg::Param::text(id), pg::Param::text(*reason)}));
    if (r.affected() == 0) return fail(ErrorCode::kNotFound, "no agent " + id);
    return audit_change(c, call, "agent.revoke", "agent:" + id, {{"reason", *reason}});
  });
  if (!done) return problem(call, done.error());
  auto r = c.query(
      (std::string("SELECT ") + kAgentColumns + " FROM agent a WHERE a.agent_id = $1").c_str(),
      {pg::Param::text(id)});
  if (!r || r->rows() == 0)
    return problem(call, r ? Error{ErrorCode::kNotFound, "gone"} : r.error());
  return http::json(call.req, json::serialize(agent_json(*r, 0, d_.clock.now_ms())));
}

}  // namespace accrue::cloud::hq
