// /v1/programs: the published versions (list, read, diff two), validation with the domain core's
// own checks, and drafts that marketing edits (with ETag / If-Match) and publishes as a new
// version. Publishing writes a change-feed row: every store receives the version with its next
// poll, and events carry the version they were computed with (invariant "one engine, one version",
// docs/architecture.md).
#include <boost/json.hpp>
#include <charconv>

#include "cloud/hq/resources.h"
#include "common/civil_time.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

// "rules[2].multiplier: must be positive" -> {"/rules/2/multiplier", "must be positive"}.
std::pair<std::string, std::string> problem_of(const std::string& message) {
  auto colon = message.find(": ");
  if (colon == std::string::npos || colon > 120 || message.find(' ') < colon) {
    return {"", message};
  }
  std::string pointer = "/";
  for (char ch : message.substr(0, colon)) {
    if (ch == '.' || ch == '[') {
      pointer += '/';
    } else if (ch != ']') {
      pointer += ch;
    }
  }
  return {pointer, message.substr(colon + 2)};
}

json::object validation_of(const std::string& body) {
  auto p = wire::program_from_json(body);
  json::array problems;
  if (!p) {
    auto [field, detail] = problem_of(p.error().message);
    problems.push_back(json::object{{"field", field}, {"detail", detail}});
  }
  return json::object{{"valid", p.has_value()}, {"problems", std::move(problems)}};
}

// Differences between two JSON values as JSON Pointers. Arrays of objects that carry an identity
// (rule_id, tier_id, currency with its country) are matched by it, so a rule inserted first is one
// addition, not a change to every rule after it.
void json_diff(const json::value& a, const json::value& b, const std::string& at,
               json::array& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.as_object()) {
      const auto* w = b.as_object().if_contains(k);
      if (!w) {
        out.push_back(
            json::object{{"path", at + "/" + std::string(k)}, {"op", "removed"}, {"from", v}});
      } else {
        json_diff(v, *w, at + "/" + std::string(k), out);
      }
    }
    for (const auto& [k, w] : b.as_object()) {
      if (!a.as_object().contains(k)) {
        out.push_back(
            json::object{{"path", at + "/" + std::string(k)}, {"op", "added"}, {"to", w}});
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    auto identity = [](const json::value& x) -> std::optional<std::string> {
      if (!x.is_object()) return std::nullopt;
      for (const char* k : {"rule_id", "tier_id", "currency"}) {
        if (const auto* v = x.as_object().if_contains(k); v && v->is_string()) {
          std::string id = std::string(k) + "=" + std::string(v->as_string());
          // A rate is one per currency and country.
          if (const auto* c = x.as_object().if_contains("country");
              c && c->is_string() && !c->as_string().empty()) {
            id += ",country=" + std::string(c->as_string());
          }
          return id;
        }
      }
      return std::nullopt;
    };
    const auto& aa = a.as_array();
    const auto& ba = b.as_array();
    bool keyed = !aa.empty() || !ba.empty();
    for (const auto& x : aa) keyed = keyed && identity(x).has_value();
    for (const auto& x : ba) keyed = keyed && identity(x).has_value();
    if (keyed) {
      for (const auto& x : aa) {
        auto id = *identity(x);
        auto it = std::ranges::find_if(ba, [&](const json::value& y) { return identity(y) == id; });
        if (it == ba.end()) {
          out.push_back(
              json::object{{"path", at + "[" + id + "]"}, {"op", "removed"}, {"from", x}});
        } else {
          json_diff(x, *it, at + "[" + id + "]", out);
        }
      }
      for (const auto& y : ba) {
        auto id = *identity(y);
        if (std::ranges::none_of(aa, [&](const json::value& x) { return identity(x) == id; })) {
          out.push_back(json::object{{"path", at + "[" + id + "]"}, {"op", "added"}, {"to", y}});
        }
      }
      return;
    }
    const size_t n = std::max(aa.size(), ba.size());
    for (size_t i = 0; i < n; ++i) {
      const std::string p = at + "/" + std::to_string(i);
      if (i >= ba.size()) {
        out.push_back(json::object{{"path", p}, {"op", "removed"}, {"from", aa[i]}});
      } else if (i >= aa.size()) {
        out.push_back(json::object{{"path", p}, {"op", "added"}, {"to", ba[i]}});
      } else {
        json_diff(aa[i], ba[i], p, out);
      }
    }
    return;
  }
  if (a != b) out.push_back(json::object{{"path", at}, {"op", "changed"}, {"from", a}, {"to", b}});
}

constexpr const char* kDraftColumns =
    "draft_id::text, body::text, revision, created_by, updated_by, "
    "(extract(epoch FROM created_at)*1000)::bigint, (extract(epoch FROM updated_at)*1000)::bigint, "
    "published_as";

json::object draft_json(const pg::PgResult& r, int i) {
  const std::string body(r.text(i, 1));
  json::object o{
      {"draft_id", r.text(i, 0)},
      {"body", json::parse(body)},
      {"revision", r.int64(i, 2)},
      {"created_by", r.text(i, 3)},
      {"updated_by", r.text(i, 4)},
      {"created_at", format_utc_iso8601(r.int64(i, 5))},
      {"updated_at", format_utc_iso8601(r.int64(i, 6))},
      {"published_as", r.is_null(i, 7) ? json::value(nullptr) : json::value(r.int64(i, 7))},
      {"validation", validation_of(body)}};
  return o;
}

bool valid_uuid_text(std::string_view s) { return Uuid::parse(s, "draft_id").has_value(); }

}  // namespace

void ProgramsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/programs", "programs.list", kEveryRole,
           [this](Call& c) { return list(c); });
  gate.add(r, V::get, "/v1/programs/{program_id}/versions/{version}", "programs.version",
           kEveryRole, [this](Call& c) { return version(c); });
  gate.add(r, V::get, "/v1/programs/{program_id}/diff", "programs.diff", kEveryRole,
           [this](Call& c) { return diff(c); });
  gate.add(r, V::post, "/v1/programs/validate", "programs.validate", kAdminOnly,
           [this](Call& c) { return validate(c); });
  gate.add(r, V::get, "/v1/programs/drafts", "programs.drafts", kAdminOnly,
           [this](Call& c) { return draft_list(c); });
  gate.add(r, V::post, "/v1/programs/drafts", "programs.draft_create", kAdminOnly,
           [this](Call& c) { return draft_create(c); });
  gate.add(r, V::get, "/v1/programs/drafts/{draft_id}", "programs.draft", kAdminOnly,
           [this](Call& c) { return draft_get(c); });
  gate.add(r, V::put, "/v1/programs/drafts/{draft_id}", "programs.draft_update", kAdminOnly,
           [this](Call& c) { return draft_put(c); });
  gate.add(r, V::post, "/v1/programs/drafts/{draft_id}/publish", "programs.publish", kAdminOnly,
           [this](Call& c) { return draft_publish(c); });
}

http::Response ProgramsApi::list(Call& call) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->exec(
      "SELECT program_id, version, (extract(epoch FROM created_at)*1000)::bigint, body->>'name' "
      "FROM program_version ORDER BY created_at DESC, version DESC LIMIT 1000");
  if (!r) return problem(call, r.error());
  json::array items;
  for (int i = 0; i < r->rows(); ++i) {
    items.push_back(json::object{{"program_id", r->text(i, 0)},
                                 {"version", r->int64(i, 1)},
                                 {"name", r->text(i, 3)},
                                 {"published_at", format_utc_iso8601(r->int64(i, 2))},
                                 {"in_force", i == 0}});
  }
  return http::json(call.req, json::serialize(json::object{{"items", std::move(items)}}));
}

http::Response ProgramsApi::version(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  uint32_t version = 0;
  const std::string& v = call.ctx.params.at(1);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), version);
  if (ec != std::errc() || p != v.data() + v.size() || version == 0 || id.size() > 64) {
    return problem(call, Problem::kNotFound, "no such programme version");
  }
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT body::text FROM program_version WHERE program_id = $1 AND version = $2::int",
      {pg::Param::text(id), pg::Param::text(std::to_string(version))});
  if (!r) return problem(call, r.error());
  if (r->rows() == 0) {
    return problem(call, Problem::kNotFound,
                   "programme " + id + " has no version " + std::to_string(version));
  }
  return http::json(call.req, std::string(r->text(0, 0)));
}

http::Response ProgramsApi::diff(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  FieldErrors errors;
  auto version = [&](const char* name) -> std::optional<uint32_t> {
    auto v = http::query_param(call.req.target(), name);
    uint32_t n = 0;
    if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc() || n == 0) {
      errors.add(std::string("/") + name, "a published version number is required");
      return std::nullopt;
    }
    return n;
  };
  auto from = version("from");
  auto to = version("to");
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT version, body::text FROM program_version WHERE program_id = $1 AND version IN "
      "($2::int, $3::int)",
      {pg::Param::text(id), pg::Param::text(std::to_string(*from)),
       pg::Param::text(std::to_string(*to))});
  if (!r) return problem(call, r.error());
  std::optional<json::value> a, b;
  for (int i = 0; i < r->rows(); ++i) {
    if (r->int64(i, 0) == *from) a = json::parse(r->text(i, 1));
    if (r->int64(i, 0) == *to) b = json::parse(r->text(i, 1));
  }
  if (!a || !b) {
    return problem(call, Problem::kNotFound,
                   "programme " + id + " has no version " + std::to_string(!a ? *from : *to));
  }
  json::array changes;
  json_diff(*a, *b, "", changes);
  json::object out{
      {"program_id", id}, {"from", *from}, {"to", *to}, {"changes", std::move(changes)}};
  return http::json(call.req, json::serialize(out));
}

http::Response ProgramsApi::validate(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  auto v = validation_of(json::serialize(*body));
  if (!v.at("valid").as_bool()) {
    FieldErrors errors;
    for (const auto& p : v.at("problems").as_array()) {
      errors.add(std::string(p.at("field").as_string()), std::string(p.at("detail").as_string()));
    }
    return invalid(call, errors);
  }
  return http::json(call.req, json::serialize(v));
}

http::Response ProgramsApi::draft_create(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  const std::string text = json::serialize(*body);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  const std::string id = new_id();
  std::optional<pg::PgResult> row;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query(std::string("INSERT INTO program_draft (draft_id, body, created_by, "
                            "updated_by) VALUES ($1::uuid, $2::jsonb, $3, $3) RETURNING ") +
                    kDraftColumns,
                {pg::Param::text(id), pg::Param::text(text), pg::Param::text(call.who.subject)}));
    row = std::move(r);
    return audit_change(c, call, "program.draft_create", "program_draft:" + id);
  });
  if (!done) return problem(call, done.error());
  auto res = http::json(call.req, json::serialize(draft_json(*row, 0)), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/programs/drafts/" + id);
  res.set(bhttp::field::etag, "\"1\"");
  return res;
}

http::Response ProgramsApi::draft_list(Call& call) {
  return listing(call,
                 std::string("SELECT ") + kDraftColumns +
                     " FROM program_draft ORDER BY updated_at DESC LIMIT 100",
                 draft_json);
}

http::Response ProgramsApi::draft_get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid_text(id)) return problem(call, Problem::kNotFound, "no draft " + id);
  return one(
      call,
      std::string("SELECT ") + kDraftColumns + " FROM program_draft WHERE draft_id = $1::uuid", id,
      draft_json, "draft", 2);
}

http::Response ProgramsApi::draft_put(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid_text(id)) return problem(call, Problem::kNotFound, "no draft " + id);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  const std::string text = json::serialize(*body);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  std::optional<pg::PgResult> row;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto cur, c.query("SELECT revision, published_as IS NOT NULL FROM program_draft WHERE "
                          "draft_id = $1::uuid FOR UPDATE",
                          {pg::Param::text(id)}));
    if (cur.rows() == 0) return fail(ErrorCode::kNotFound, "no draft " + id);
    if (cur.boolean(0, 1)) {
      refused = problem(call, Problem::kDraftPublished,
                        "this draft was published; start a new draft for the next version");
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    if ((refused = stale(call, etag(cur.int64(0, 0)), "draft")))
      return fail(ErrorCode::kFailedPrecondition, "refused");
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query(std::string("UPDATE program_draft SET body = $2::jsonb, revision = revision "
                            "+ 1, updated_by = $3, updated_at = now() WHERE draft_id = "
                            "$1::uuid RETURNING ") +
                    kDraftColumns,
                {pg::Param::text(id), pg::Param::text(text), pg::Param::text(call.who.subject)}));
    row = std::move(r);
    return audit_change(c, call, "program.draft_update", "program_draft:" + id);
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  auto res = http::json(call.req, json::serialize(draft_json(*row, 0)));
  res.set(bhttp::field::etag, etag(row->int64(0, 2)));
  return res;
}

http::Response ProgramsApi::draft_publish(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_uuid_text(id)) return problem(call, Problem::kNotFound, "no draft " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  Program published;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto cur,
        c.query("SELECT body::text, revision, published_as IS NOT NULL FROM program_draft "
                "WHERE draft_id = $1::uuid FOR UPDATE",
                {pg::Param::text(id)}));
    if (cur.rows() == 0) return fail(ErrorCode::kNotFound, "no draft " + id);
    if (cur.boolean(0, 2)) {
      refused = problem(call, Problem::kDraftPublished, "this draft was published already");
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    if ((refused = stale(call, etag(cur.int64(0, 1)), "draft")))
      return fail(ErrorCode::kFailedPrecondition, "refused");
    const std::string body(cur.text(0, 0));
    auto program = wire::program_from_json(body);
    if (!program) {
      FieldErrors errors;
      auto [field, detail] = problem_of(program.error().message);
      errors.add(field, detail);
      refused = invalid(call, errors);
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    // One writer at a time per programme, and versions only go up.
    ACCRUE_TRY(c.query("SELECT pg_advisory_xact_lock(hashtext($1))",
                       {pg::Param::text(program->program_id)}));
    ACCRUE_ASSIGN_OR_RETURN(auto latest,
                            c.query("SELECT coalesce(max(version), 0) FROM program_version WHERE "
                                    "program_id = $1",
                                    {pg::Param::text(program->program_id)}));
    if (static_cast<int64_t>(program->version) <= latest.int64(0, 0)) {
      FieldErrors errors;
      errors.add("/version", "must be above the latest published version, " +
                                 std::to_string(latest.int64(0, 0)));
      refused = invalid(call, errors);
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    ACCRUE_ASSIGN_OR_RETURN(auto p, ProgramCatalog::publish(c, body));
    published = std::move(p);
    ACCRUE_TRY(c.query("UPDATE program_draft SET published_as = $2::int WHERE draft_id = $1::uuid",
                       {pg::Param::text(id), pg::Param::text(std::to_string(published.version))}));
    return audit_change(c, call, "program.publish", "program:" + published.program_id,
                        {{"version", published.version}, {"draft_id", id}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  json::object out{
      {"program_id", published.program_id}, {"version", published.version}, {"draft_id", id}};
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/programs/" + published.program_id + "/versions/" +
                                      std::to_string(published.version));
  return res;
}

}  // namespace accrue::cloud::hq
