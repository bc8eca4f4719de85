#include "cloud/hq/resource.h"

#include <charconv>

#include "common/sys/log.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

HqShared::HqShared(HqDeps deps) : d(deps), audit(deps.pool), ids_(deps.clock, deps.random) {}

std::string HqShared::new_id() {
  std::lock_guard lock(ids_mu_);
  return ids_.next().to_string();
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

std::string etag(int64_t revision) { return "\"" + std::to_string(revision) + "\""; }

http::Response Resource::problem(Call& call, Problem p, std::string_view detail,
                                 json::object extra) {
  return http::problem(call.req, call.ctx, p, detail, std::move(extra));
}

http::Response Resource::problem(Call& call, const Error& error) {
  return http::problem(call.req, call.ctx, error);
}

http::Response Resource::invalid(Call& call, const FieldErrors& errors) {
  json::object extra;
  extra["errors"] = errors.to_json();
  return problem(call, Problem::kValidation, "the request does not validate: " + errors.summary(),
                 std::move(extra));
}

std::optional<json::object> Resource::json_body(Call& call, http::Response& out) {
  auto type = call.req[bhttp::field::content_type];
  auto base = type.substr(0, type.find(';'));
  if (base != "application/json" && base != "application/merge-patch+json") {
    out = problem(call, Problem::kUnsupportedMediaType, "send the body as application/json");
    return std::nullopt;
  }
  auto o = parse_json_object(call.req.body());
  if (!o) {
    out = problem(call, Problem::kMalformedBody, o.error().message);
    return std::nullopt;
  }
  return std::move(*o);
}

std::optional<std::string> Resource::reason_body(Call& call, http::Response& out) {
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

std::optional<http::Response> Resource::stale(Call& call, const std::string& etag,
                                              std::string_view what) {
  auto if_match = call.req[bhttp::field::if_match];
  if (if_match.empty() || if_match == "*" || if_match == etag) return std::nullopt;
  return problem(call, Problem::kStaleRevision,
                 "the " + std::string(what) + " changed since that revision (If-Match " +
                     std::string(if_match) + ", now " + etag +
                     "): read it again and reapply the change");
}

http::Response Resource::listing(Call& call, const std::string& sql, RowJson row_json) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->exec(sql.c_str());
  if (!r) return problem(call, r.error());
  json::array items;
  for (int i = 0; i < r->rows(); ++i) items.push_back(row_json(*r, i));
  return http::json(call.req, json::serialize(json::object{{"items", std::move(items)}}));
}

http::Response Resource::one(Call& call, const std::string& sql, const std::string& id,
                             RowJson row_json, std::string_view what, int etag_column) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(sql, {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  if (r->rows() == 0)
    return problem(call, Problem::kNotFound, "no " + std::string(what) + " " + id);
  auto res = http::json(call.req, json::serialize(row_json(*r, 0)));
  if (etag_column >= 0) res.set(bhttp::field::etag, etag(r->int64(0, etag_column)));
  return res;
}

http::Response Resource::no_content(Call& call) {
  http::Response res{bhttp::status::no_content, call.req.version()};
  res.set(bhttp::field::server, "accrue-cloud");
  res.keep_alive(call.req.keep_alive());
  res.prepare_payload();
  return res;
}

Result<void> Resource::audit_change(pg::Connection& c, Call& call, std::string action,
                                    std::string subject, json::object detail) {
  return AuditTrail::write(c, {call.who.subject, std::move(action), std::move(subject),
                               call.ctx.request_id, std::move(detail)});
}

void Resource::after_change(const std::string& customer_id) {
  if (!d_.cache.invalidate({customer_id})) {
    log(LogLevel::kWarn, "cache_invalidation_failed", {{"customers", "1"}});
  }
}

}  // namespace accrue::cloud::hq
