// /v1/returns: every return the cloud has seen (cloud/migrations/0018_returns_anywhere.sql), and
// the review list of those it holds: a return whose sale it does not know yet, or one that asks
// for more than its sale has left. The scheduler's daily `returns` job applies held returns once
// their sale arrives; head office can retry one now or dismiss it with a reason
// (docs/lifecycle.md, "Returns").
#include <boost/json.hpp>

#include "cloud/hq/resources.h"
#include "common/base64url.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr const char* kColumns =
    "r.event_id::text, r.status, r.store_id, r.till_id, r.pos_tx_id, r.agent_id, "
    "coalesce(r.sale_event_id::text, ''), coalesce(r.sale_store_id, ''), "
    "coalesce(r.sale_till_id, ''), coalesce(r.sale_pos_tx_id, ''), coalesce(r.customer_id, ''), "
    "r.points_reversed, (extract(epoch FROM r.received_at)*1000)::bigint, "
    "(extract(epoch FROM r.resolved_at)*1000)::bigint, coalesce(r.resolved_by, ''), "
    "coalesce(r.note, ''), r.points_refunded";

json::value text_or_null(const pg::PgResult& r, int row, int col) {
  if (r.text(row, col).empty()) return nullptr;
  return json::value(r.text(row, col));
}

json::object return_json(const pg::PgResult& r, int i) {
  json::object sale{{"event_id", text_or_null(r, i, 6)},
                    {"store_id", text_or_null(r, i, 7)},
                    {"till_id", text_or_null(r, i, 8)},
                    {"pos_tx_id", text_or_null(r, i, 9)}};
  return json::object{
      {"event_id", r.text(i, 0)},
      {"status", r.text(i, 1)},
      {"store_id", r.text(i, 2)},
      {"till_id", r.text(i, 3)},
      {"pos_tx_id", r.text(i, 4)},
      {"agent_id", r.text(i, 5)},
      {"sale", std::move(sale)},
      {"customer_id", text_or_null(r, i, 10)},
      {"points_reversed", r.int64(i, 11)},
      {"points_refunded", r.int64(i, 16)},
      {"received_at", format_utc_iso8601(r.int64(i, 12))},
      {"resolved_at",
       r.is_null(i, 13) ? json::value(nullptr) : json::value(format_utc_iso8601(r.int64(i, 13)))},
      {"resolved_by", text_or_null(r, i, 14)},
      {"note", text_or_null(r, i, 15)}};
}

bool valid_event_id(const std::string& id) { return Uuid::parse(id, "event_id").has_value(); }

}  // namespace

void ReturnsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/returns", "returns.list", kEveryRole,
           [this](Call& c) { return list(c); });
  gate.add(r, V::get, "/v1/returns/{id}", "returns.get", kEveryRole,
           [this](Call& c) { return get(c); });
  gate.add(r, V::post, "/v1/returns/{id}/retry", "returns.retry", kCustomerCare,
           [this](Call& c) { return retry(c); });
  gate.add(r, V::post, "/v1/returns/{id}/dismiss", "returns.dismiss", kCustomerCare,
           [this](Call& c) { return dismiss(c); });
}

http::Response ReturnsApi::list(Call& call) {
  FieldErrors errors;
  const auto target = call.req.target();
  const int limit = page_limit(target, errors);
  std::string status = "held";
  if (auto st = http::query_param(target, "status")) {
    status = *st;
    if (status != "held" && status != "applied" && status != "dismissed") {
      errors.add("/status", "one of held, applied, dismissed");
    }
  }
  std::vector<std::string> values{status};
  std::string where = "r.status = $1";
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  if (auto store = http::query_param(target, "store")) {
    if (store->empty() || store->size() > 64) errors.add("/store", "a store id");
    where += " AND r.store_id = " + param(*store);
  }
  if (auto cur = http::query_param(target, "cursor")) {  // the last event id of a page
    auto raw = base64url_decode(*cur);
    if (!raw || !valid_event_id(*raw)) {
      errors.add("/cursor", "is not one this service handed out");
    } else {
      where += " AND r.event_id > " + param(*raw) + "::uuid";
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  const std::string limit_param = param(std::to_string(limit + 1));
  std::vector<pg::Param> params;
  for (const auto& v : values) params.push_back(pg::Param::text(v));
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  const std::string sql = std::string("SELECT ") + kColumns + " FROM sale_return r WHERE " + where +
                          " ORDER BY r.status, r.event_id LIMIT " + limit_param + "::int";
  auto r = (*lease)->query(sql.c_str(), std::span<const pg::Param>(params));
  if (!r) return problem(call, r.error());
  json::array items;
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) items.push_back(return_json(*r, i));
  json::object out{{"items", std::move(items)}};
  out["next_cursor"] = r->rows() > limit
                           ? json::value(base64url_encode(std::string(r->text(limit - 1, 0))))
                           : json::value(nullptr);
  return http::json(call.req, json::serialize(out));
}

http::Response ReturnsApi::get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_event_id(id)) return problem(call, Problem::kNotFound, "no return " + id);
  return one(call, std::string("SELECT ") + kColumns + " FROM sale_return r WHERE r.event_id = $1",
             id, return_json, "return");
}

// Applies a held return now, as the daily job would: 200 with the return, applied or still held
// (its note says why).
http::Response ReturnsApi::retry(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_event_id(id)) return problem(call, Problem::kNotFound, "no return " + id);
  std::string store, envelope;
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto r = (*lease)->query(
        "SELECT status, store_id, coalesce(envelope, ''::bytea) FROM sale_return "
        "WHERE event_id = $1",
        {pg::Param::text(id)});
    if (!r) return problem(call, r.error());
    if (r->rows() == 0) return problem(call, Problem::kNotFound, "no return " + id);
    if (r->text(0, 0) != "held") {
      return problem(call, Problem::kReturnNotHeld, "the return is " + std::string(r->text(0, 0)));
    }
    store = r->text(0, 1);
    auto raw = pg::decode_bytea(r->text(0, 2));
    if (!raw) return problem(call, Error{ErrorCode::kDataLoss, "the held return's event is bad"});
    envelope = std::move(*raw);
  }
  auto applied = d_.ingest.apply_held_return(store, envelope);
  if (!applied) return problem(call, applied.error());
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    pg::Connection& c = **lease;
    auto done = pg::in_transaction(c, [&]() -> Result<void> {
      if (*applied) {
        ACCRUE_TRY(
            c.query("UPDATE sale_return SET note = $2 WHERE event_id = $1 AND "
                    "status = 'held'",
                    {pg::Param::text(id), pg::Param::text(**applied)}));
      }
      return audit_change(c, call, "return.retry", "return:" + id,
                          {{"applied", !applied->has_value()}});
    });
    if (!done) return problem(call, done.error());
  }
  return get(call);
}

// Closes a held return without reversing anything (a sale that will never arrive, a till's
// mistake), with the reason; audited.
http::Response ReturnsApi::dismiss(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!valid_event_id(id)) return problem(call, Problem::kNotFound, "no return " + id);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::string status;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto r,
                            c.query("SELECT status FROM sale_return WHERE event_id = $1 FOR UPDATE",
                                    {pg::Param::text(id)}));
    if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no return " + id);
    status = r.text(0, 0);
    if (status != "held") return {};
    ACCRUE_TRY(
        c.query("UPDATE sale_return SET status = 'dismissed', envelope = NULL, "
                "resolved_at = now(), resolved_by = $2, note = $3 WHERE event_id = $1",
                {pg::Param::text(id), pg::Param::text("hq:" + call.who.subject),
                 pg::Param::text(*reason)}));
    return audit_change(c, call, "return.dismiss", "return:" + id, {{"reason", *reason}});
  });
  if (!done) return problem(call, done.error());
  if (status != "held") return problem(call, Problem::kReturnNotHeld, "the return is " + status);
  return get(call);
}

}  // namespace accrue::cloud::hq
