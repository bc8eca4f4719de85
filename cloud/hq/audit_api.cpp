// GET /v1/audit: the audit trail, newest first, filtered by actor, action, subject and time.
#include <boost/json.hpp>
#include <charconv>

#include "cloud/hq/resources.h"
#include "common/base64url.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

void AuditApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/audit", "audit.list", kAdminOnly, [this](Call& c) { return list(c); });
}

http::Response AuditApi::list(Call& call) {
  const auto target = call.req.target();
  FieldErrors errors;
  const int limit = page_limit(target, errors);
  std::string where = "TRUE";
  std::vector<std::string> values;
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  for (const char* f : {"actor", "action", "subject", "request_id"}) {
    if (auto v = http::query_param(target, f)) {
      if (v->empty() || v->size() > 200) {
        errors.add(std::string("/") + f, "must be 1 to 200 characters");
      } else {
        where += std::string(" AND ") + f + " = " + param(*v);
      }
    }
  }
  for (auto [f, op] : {std::pair{"since", ">="}, std::pair{"until", "<"}}) {
    if (auto v = http::query_param(target, f)) {
      auto ms = parse_rfc3339_ms(*v);
      if (!ms) {
        errors.add(std::string("/") + f, "must be an RFC 3339 date-time");
      } else {
        where += std::string(" AND at ") + op + " to_timestamp(" +
                 param(std::to_string(static_cast<double>(*ms) / 1000.0)) + "::double precision)";
      }
    }
  }
  if (auto cur = http::query_param(target, "cursor")) {
    auto raw = base64url_decode(*cur);
    int64_t id = 0;
    auto ok = raw && !raw->empty() &&
              std::from_chars(raw->data(), raw->data() + raw->size(), id).ec == std::errc() &&
              id > 0;
    if (!ok) {
      errors.add("/cursor", "is not one this service handed out");
    } else {
      where += " AND id < " + param(std::to_string(id)) + "::bigint";
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  const std::string sql =
      "SELECT id, (extract(epoch FROM at)*1000)::bigint, actor, action, coalesce(subject, ''), "
      "request_id, coalesce(detail::text, '{}') FROM audit_log WHERE " +
      where + " ORDER BY id DESC LIMIT " + std::to_string(limit + 1);
  std::vector<pg::Param> ps;
  for (const auto& v : values) ps.push_back(pg::Param::text(v));
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(sql.c_str(), std::span<const pg::Param>(ps));
  if (!r) return problem(call, r.error());
  json::array items;
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) {
    items.push_back(json::object{{"id", r->int64(i, 0)},
                                 {"at", format_utc_iso8601(r->int64(i, 1))},
                                 {"actor", r->text(i, 2)},
                                 {"action", r->text(i, 3)},
                                 {"subject", r->text(i, 4)},
                                 {"request_id", r->text(i, 5)},
                                 {"detail", json::parse(r->text(i, 6))}});
  }
  json::object out{{"items", std::move(items)}};
  out["next_cursor"] = r->rows() > limit
                           ? json::value(base64url_encode(std::to_string(r->int64(limit - 1, 0))))
                           : json::value(nullptr);
  return http::json(call.req, json::serialize(out));
}

}  // namespace accrue::cloud::hq
