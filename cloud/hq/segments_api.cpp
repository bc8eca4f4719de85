// /v1/segments: saved definitions (segments.h), their size, their members page by page, and a
// CSV export streamed in chunks (no personal data in it: ids, status, tier, store, points,
// dates).
#include <boost/json.hpp>
#include <charconv>

#include "cloud/core/customer_status.h"
#include "cloud/hq/resources.h"
#include "cloud/hq/segments.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

std::optional<SegmentSql> compile_segment(const json::object& definition, FieldErrors& errors,
                                          std::vector<std::string>& values, const std::string& at) {
  const bool clean = errors.empty();
  ObjectReader in(definition, errors, at);
  SegmentSql out;
  std::string& w = out.where;
  w = "TRUE";
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  auto strings =
      [&](const char* key, size_t max_len,
          const std::vector<std::string>& allowed) -> std::optional<std::vector<std::string>> {
    const auto* a = in.array(key, 100);
    if (!a) return std::nullopt;
    std::vector<std::string> items;
    for (size_t i = 0; i < a->size(); ++i) {
      const auto& v = (*a)[i];
      const std::string p = in.pointer(key) + "/" + std::to_string(i);
      if (!v.is_string() || v.as_string().empty() || v.as_string().size() > max_len) {
        errors.add(p, "must be a string of 1 to " + std::to_string(max_len) + " characters");
        continue;
      }
      std::string s(v.as_string());
      if (!allowed.empty() && std::ranges::find(allowed, s) == allowed.end()) {
        errors.add(p, "is not one of the allowed values");
        continue;
      }
      items.push_back(std::move(s));
    }
    if (items.empty()) errors.add(in.pointer(key), "must list at least one value");
    return items;
  };
  if (auto st = strings("statuses", 10, {"active", "blocked"})) {
    std::vector<std::string> codes;
    for (const auto& s : *st) {
      codes.push_back(
          status_sql(s == "active" ? CustomerStatus::kActive : CustomerStatus::kBlocked));
    }
    w += " AND c.status = ANY(" + param(pg::text_array(codes)) + "::smallint[])";
  } else {
    w += " AND c.status = " + status_sql(CustomerStatus::kActive);
  }
  if (auto t = strings("tiers", 64, {})) {
    w += " AND c.tier_id = ANY(" + param(pg::text_array(*t)) + "::text[])";
  }
  if (auto h = strings("home_stores", 64, {})) {
    w += " AND c.home_store_id = ANY(" + param(pg::text_array(*h)) + "::text[])";
  }
  auto range = [&](ObjectReader& r, int64_t lo, int64_t hi) {
    auto min = r.integer("min", {.min = lo, .max = hi});
    auto max = r.integer("max", {.min = lo, .max = hi});
    r.finish();
    if (min && max && *min > *max) errors.add(r.pointer("min"), "is above max");
    if (!r.has("min") && !r.has("max")) errors.add(r.pointer(""), "needs min or max");
    return std::pair{min, max};
  };
  if (const auto* p = in.object("points")) {
    ObjectReader r(*p, errors, in.pointer("points"));
    auto [min, max] = range(r, INT64_MIN / 2, INT64_MAX / 2);
    if (min) w += " AND b.points >= " + param(std::to_string(*min)) + "::bigint";
    if (max) w += " AND b.points <= " + param(std::to_string(*max)) + "::bigint";
  }
  if (const auto* e = in.object("enrolled")) {
    ObjectReader r(*e, errors, in.pointer("enrolled"));
    auto from = r.timestamp("from");
    auto to = r.timestamp("to");
    r.finish();
    if (!r.has("from") && !r.has("to")) errors.add(in.pointer("enrolled"), "needs from or to");
    auto ts = [&](int64_t ms) {
      return "to_timestamp(" + param(std::to_string(static_cast<double>(ms) / 1000.0)) +
             "::double precision)";
    };
    if (from) w += " AND c.enrolled_at >= " + ts(*from);
    if (to) w += " AND c.enrolled_at < " + ts(*to);
  }
  if (const auto* l = in.object("last_purchase_days")) {
    ObjectReader r(*l, errors, in.pointer("last_purchase_days"));
    auto [min, max] = range(r, 0, 36'500);
    w += " AND b.last_purchase_at IS NOT NULL";
    if (min) {
      w += " AND b.last_purchase_at <= now() - make_interval(days => " +
           param(std::to_string(*min)) + "::int)";
    }
    if (max) {
      w += " AND b.last_purchase_at > now() - make_interval(days => " +
           param(std::to_string(*max)) + "::int)";
    }
  }
  if (const auto* a = in.object("activity")) {
    ObjectReader r(*a, errors, in.pointer("activity"));
    auto days = r.integer("days", {.required = true, .min = 1, .max = 3650});
    auto currency = r.string("currency", {.min = 3, .max = 3});
    std::optional<std::pair<std::optional<int64_t>, std::optional<int64_t>>> purchases, spend;
    if (const auto* p = r.object("purchases")) {
      ObjectReader pr(*p, errors, r.pointer("purchases"));
      purchases = range(pr, 0, 1'000'000);
    }
    if (const auto* s = r.object("spend_minor")) {
      ObjectReader sr(*s, errors, r.pointer("spend_minor"));
      spend = range(sr, 0, INT64_MAX / 2);
    }
    r.finish();
    if (!purchases && !spend) errors.add(in.pointer("activity"), "needs purchases or spend_minor");
    if (days) {
      std::string cond =
          "r.customer_id = c.customer_id AND r.occurred_at >= now() - "
          "make_interval(days => " +
          param(std::to_string(*days)) + "::int)";
      if (currency) cond += " AND r.currency = " + param(*currency);
      out.join =
          " LEFT JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(r.amount_minor), 0) AS "
          "spend FROM receipt r WHERE " +
          cond + ") act ON TRUE";
      auto bound = [&](const char* col, const auto& rg) {
        if (rg->first)
          w += std::string(" AND act.") + col + " >= " + param(std::to_string(*rg->first)) +
               "::bigint";
        if (rg->second)
          w += std::string(" AND act.") + col + " <= " + param(std::to_string(*rg->second)) +
               "::bigint";
      };
      if (purchases) bound("n", purchases);
      if (spend) bound("spend", spend);
    }
  }
  in.finish();
  if (!clean || !errors.empty()) return std::nullopt;
  return out;
}

namespace {

bool valid_segment_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  if (!std::isalnum(static_cast<unsigned char>(id[0])) ||
      std::isupper(static_cast<unsigned char>(id[0])))
    return false;
  return std::ranges::all_of(id, [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

constexpr const char* kSegmentColumns =
    "segment_id, name, definition::text, revision, created_by, updated_by, "
    "(extract(epoch FROM created_at)*1000)::bigint, (extract(epoch FROM updated_at)*1000)::bigint";

json::object segment_json(const pg::PgResult& r, int i) {
  return json::object{{"segment_id", r.text(i, 0)},
                      {"name", r.text(i, 1)},
                      {"definition", json::parse(r.text(i, 2))},
                      {"revision", r.int64(i, 3)},
                      {"created_by", r.text(i, 4)},
                      {"updated_by", r.text(i, 5)},
                      {"created_at", format_utc_iso8601(r.int64(i, 6))},
                      {"updated_at", format_utc_iso8601(r.int64(i, 7))}};
}

}  // namespace

Result<SegmentSql> segment_sql(pg::Connection& c, const std::string& id,
                               std::vector<std::string>& values) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query("SELECT definition::text FROM segment WHERE segment_id = $1", {pg::Param::text(id)}));
  if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no segment " + id);
  ACCRUE_ASSIGN_OR_RETURN(auto def, parse_json_object(r.text(0, 0)));
  FieldErrors errors;
  auto sql = compile_segment(def, errors, values);
  if (!sql) return fail(ErrorCode::kInternal, "segment " + id + ": " + errors.summary());
  return *sql;
}

void SegmentsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/segments", "segments.list", kOperations,
           [this](Call& c) { return list(c); });
  gate.add(r, V::post, "/v1/segments", "segments.create", kAdminOnly,
           [this](Call& c) { return write(c, true); });
  gate.add(r, V::get, "/v1/segments/{id}", "segments.get", kOperations,
           [this](Call& c) { return get(c); });
  gate.add(r, V::put, "/v1/segments/{id}", "segments.update", kAdminOnly,
           [this](Call& c) { return write(c, false); });
  gate.add(r, V::delete_, "/v1/segments/{id}", "segments.delete", kAdminOnly,
           [this](Call& c) { return remove(c); });
  gate.add(r, V::get, "/v1/segments/{id}/count", "segments.count", kOperations,
           [this](Call& c) { return count(c); });
  gate.add(r, V::get, "/v1/segments/{id}/members", "segments.members", kEveryRole,
           [this](Call& c) { return members(c); });
  gate.add(r, V::get, "/v1/segments/{id}/export.csv", "segments.export", kOperations,
           [this](Call& c) { return export_csv(c); });
}

http::Response SegmentsApi::write(Call& call, bool create) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  std::optional<std::string> id;
  if (create) {
    id = in.string("segment_id", {.required = true, .min = 1, .max = 64});
    if (id && !valid_segment_id(*id)) {
      errors.add("/segment_id",
                 "lower-case letters, digits, '_' and '-', starting with a letter or digit");
    }
  } else {
    id = call.ctx.params.at(0);
    if (!valid_segment_id(*id)) return problem(call, Problem::kNotFound, "no segment " + *id);
  }
  auto name = in.string("name", {.required = true, .min = 1, .max = 200});
  const json::object* def = in.object("definition", true);
  in.finish();
  std::vector<std::string> scratch;
  if (def) (void)compile_segment(*def, errors, scratch);
  if (!errors.empty()) return invalid(call, errors);
  const std::string def_text = json::serialize(*def);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  std::optional<pg::PgResult> row;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    if (create) {
      ACCRUE_ASSIGN_OR_RETURN(
          auto r,
          c.query(std::string("INSERT INTO segment (segment_id, name, definition, created_by, "
                              "updated_by) VALUES ($1, $2, $3::jsonb, $4, $4) ON CONFLICT "
                              "DO NOTHING RETURNING ") +
                      kSegmentColumns,
                  {pg::Param::text(*id), pg::Param::text(*name), pg::Param::text(def_text),
                   pg::Param::text(call.who.subject)}));
      if (r.rows() == 0) {
        refused = problem(call, Problem::kSegmentExists, "segment " + *id + " exists");
        return fail(ErrorCode::kFailedPrecondition, "refused");
      }
      row = std::move(r);
    } else {
      ACCRUE_ASSIGN_OR_RETURN(
          auto cur, c.query("SELECT revision FROM segment WHERE segment_id = $1 FOR UPDATE",
                            {pg::Param::text(*id)}));
      if (cur.rows() == 0) return fail(ErrorCode::kNotFound, "no segment " + *id);
      if ((refused = stale(call, etag(cur.int64(0, 0)), "segment")))
        return fail(ErrorCode::kFailedPrecondition, "refused");
      ACCRUE_ASSIGN_OR_RETURN(
          auto r,
          c.query(std::string("UPDATE segment SET name = $2, definition = $3::jsonb, revision = "
                              "revision + 1, updated_by = $4, updated_at = now() WHERE "
                              "segment_id = $1 RETURNING ") +
                      kSegmentColumns,
                  {pg::Param::text(*id), pg::Param::text(*name), pg::Param::text(def_text),
                   pg::Param::text(call.who.subject)}));
      row = std::move(r);
    }
    return audit_change(c, call, create ? "segment.create" : "segment.update", "segment:" + *id);
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  auto res = http::json(call.req, json::serialize(segment_json(*row, 0)),
                        create ? bhttp::status::created : bhttp::status::ok);
  if (create) res.set(bhttp::field::location, "/v1/segments/" + *id);
  res.set(bhttp::field::etag, etag(row->int64(0, 3)));
  return res;
}

http::Response SegmentsApi::list(Call& call) {
  return listing(
      call,
      std::string("SELECT ") + kSegmentColumns + " FROM segment ORDER BY segment_id LIMIT 1000",
      segment_json);
}

http::Response SegmentsApi::get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_segment_id(id)) return problem(call, Problem::kNotFound, "no segment " + id);
  return one(call, std::string("SELECT ") + kSegmentColumns + " FROM segment WHERE segment_id = $1",
             id, segment_json, "segment", 3);
}

http::Response SegmentsApi::remove(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_segment_id(id)) return problem(call, Problem::kNotFound, "no segment " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query("DELETE FROM segment WHERE segment_id = $1", {pg::Param::text(id)}));
    if (r.affected() == 0) return fail(ErrorCode::kNotFound, "no segment " + id);
    return audit_change(c, call, "segment.delete", "segment:" + id);
  });
  if (!done) return problem(call, done.error());
  return no_content(call);
}

http::Response SegmentsApi::count(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_segment_id(id)) return problem(call, Problem::kNotFound, "no segment " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  std::vector<std::string> values;
  auto sql = segment_sql(**lease, id, values);
  if (!sql) return problem(call, sql.error());
  std::vector<pg::Param> ps;
  for (const auto& v : values) ps.push_back(pg::Param::text(v));
  auto r = (*lease)->query(("SELECT count(*) FROM customer c JOIN balance b USING (customer_id)" +
                            sql->join + " WHERE " + sql->where)
                               .c_str(),
                           std::span<const pg::Param>(ps));
  if (!r) return problem(call, r.error());
  json::object out{{"segment_id", id},
                   {"count", r->int64(0, 0)},
                   {"counted_at", format_utc_iso8601(d_.clock.now_ms())}};
  return http::json(call.req, json::serialize(out));
}

http::Response SegmentsApi::members(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_segment_id(id)) return problem(call, Problem::kNotFound, "no segment " + id);
  return customers_.search(call, &id);
}

http::Response SegmentsApi::export_csv(Call& call) {
  const std::string id = call.ctx.params.at(0);
  if (!valid_segment_id(id)) return problem(call, Problem::kNotFound, "no segment " + id);
  struct State {
    std::vector<std::string> values;
    std::string sql;
    std::string after;
    bool header = false;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto sql = segment_sql(**lease, id, st->values);
    if (!sql) return problem(call, sql.error());
    st->values.emplace_back();  // the keyset position, last
    st->sql =
        "SELECT c.customer_id, c.status, c.tier_id, coalesce(c.home_store_id, ''), b.points, "
        "(extract(epoch FROM c.enrolled_at)*1000)::bigint, "
        "coalesce((extract(epoch FROM b.last_purchase_at)*1000)::bigint, 0) FROM customer c "
        "JOIN balance b USING (customer_id)" +
        sql->join + " WHERE " + sql->where + " AND c.customer_id > $" +
        std::to_string(st->values.size()) + " ORDER BY c.customer_id LIMIT 5000";
  }
  if (!audit_->enqueue(
          {call.who.subject, "segment.export", "segment:" + id, call.ctx.request_id, {}})) {
    return problem(call, Problem::kAuditUnavailable,
                   "exports cannot run while the audit trail cannot be written");
  }
  pg::Pool& pool = d_.pool;
  call.ctx.stream = [st, &pool]() -> Result<std::optional<std::string>> {
    if (!st->header) {
      st->header = true;
      return std::optional<std::string>(
          "customer_id,status,tier_id,home_store_id,points,enrolled_at,last_purchase_at\n");
    }
    if (st->done) return std::optional<std::string>();
    st->values.back() = st->after;
    std::vector<pg::Param> ps;
    for (const auto& v : st->values) ps.push_back(pg::Param::text(v));
    ACCRUE_ASSIGN_OR_RETURN(auto lease, pool.acquire());
    ACCRUE_ASSIGN_OR_RETURN(auto r, lease->query(st->sql.c_str(), std::span<const pg::Param>(ps)));
    std::string out;
    out.reserve(static_cast<size_t>(r.rows()) * 96);
    for (int i = 0; i < r.rows(); ++i) {
      // Ids and store ids are quoted when they hold what CSV would read as structure.
      auto field = [&](std::string_view v) {
        if (v.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(v);
        std::string q = "\"";
        for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return q + "\"";
      };
      const int64_t status = r.int64(i, 1);
      out += field(r.text(i, 0)) + "," + std::string(status_name(status)) + "," +
             field(r.text(i, 2)) + "," + field(r.text(i, 3)) + "," + std::to_string(r.int64(i, 4)) +
             "," + format_utc_iso8601(r.int64(i, 5)) + "," +
             (r.int64(i, 6) > 0 ? format_utc_iso8601(r.int64(i, 6)) : std::string()) + "\n";
    }
    if (r.rows() < 5000) st->done = true;
    if (r.rows() > 0) st->after = std::string(r.text(r.rows() - 1, 0));
    return std::optional<std::string>(std::move(out));
  };
  auto res = http::bytes(call.req, "", "text/csv; charset=utf-8");
  res.set(bhttp::field::content_disposition, "attachment; filename=\"segment-" + id + ".csv\"");
  return res;
}

}  // namespace accrue::cloud::hq
