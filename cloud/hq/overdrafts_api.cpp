// Realized offline exposure (docs/offline-exposure.md): the overdrafts ingestion recorded (points
// two offline stores both honoured), writing one off, and the report per store and day of what
// offline service cost: overdrafts and coupons used twice.
#include <boost/json.hpp>

#include "cloud/hq/resources.h"
#include "common/civil_time.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr const char* kColumns =
    "o.event_id::text, o.customer_id, o.store_id, o.points, o.value_minor, o.currency, "
    "(extract(epoch FROM o.occurred_at)*1000)::bigint, "
    "(extract(epoch FROM o.recorded_at)*1000)::bigint, o.repaid, o.written_off, "
    "coalesce(o.written_off_by, ''), coalesce(o.written_off_reason, ''), "
    "(extract(epoch FROM o.written_off_at)*1000)::bigint";

json::object overdraft_json(const pg::PgResult& r, int i) {
  const int64_t points = r.int64(i, 3);
  const int64_t repaid = r.int64(i, 8);
  const int64_t written_off = r.int64(i, 9);
  json::object o{
      {"event_id", r.text(i, 0)},
      {"customer_id", r.text(i, 1)},
      {"store_id", r.text(i, 2)},
      {"points", points},
      {"value", json::object{{"currency", r.text(i, 5)}, {"minor_units", r.int64(i, 4)}}},
      {"occurred_at", format_utc_iso8601(r.int64(i, 6))},
      {"recorded_at", format_utc_iso8601(r.int64(i, 7))},
      {"repaid", repaid},
      {"written_off", written_off},
      {"outstanding", points - repaid - written_off},
      {"written_off_by", nullptr},
      {"written_off_reason", nullptr},
      {"written_off_at", nullptr}};
  if (!r.text(i, 10).empty()) {
    o["written_off_by"] = r.text(i, 10);
    o["written_off_reason"] = r.text(i, 11);
    o["written_off_at"] = format_utc_iso8601(r.int64(i, 12));
  }
  return o;
}

// "YYYY-MM-DD" as days since 1970-01-01 (nullopt when it is not one).
std::optional<int64_t> day_of(std::string_view text) {
  int y = 0, m = 0, d = 0;
  if (text.size() != 10 || std::sscanf(std::string(text).c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 ||
      m < 1 || m > 12 || d < 1 || d > 31) {
    return std::nullopt;
  }
  const int64_t day = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  if (format_utc_iso8601(day * kMsPerDay).substr(0, 10) != text) return std::nullopt;
  return day;
}

}  // namespace

void OverdraftsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/overdrafts", "overdrafts.list", kEveryRole,
           [this](Call& c) { return list(c); });
  gate.add(r, V::post, "/v1/overdrafts/{id}/write-off", "overdrafts.write_off", kCustomerCare,
           [this](Call& c) { return write_off(c); });
  gate.add(r, V::get, "/v1/reports/offline-exposure", "reports.offline_exposure", kEveryRole,
           [this](Call& c) { return exposure(c); });
}

http::Response OverdraftsApi::list(Call& call) {
  FieldErrors errors;
  const auto target = call.req.target();
  const int limit = page_limit(target, errors);
  std::vector<std::string> values;
  auto param = [&](std::string v) {
    values.push_back(std::move(v));
    return "$" + std::to_string(values.size());
  };
  std::string where = "true";
  const std::string status = http::query_param(target, "status").value_or("open");
  if (status == "open") {
    where += " AND o.repaid + o.written_off < o.points";
  } else if (status == "settled") {
    where += " AND o.repaid + o.written_off = o.points";
  } else if (status != "all") {
    errors.add("/status", "one of open, settled, all");
  }
  if (auto s = http::query_param(target, "store")) where += " AND o.store_id = " + param(*s);
  if (auto c = http::query_param(target, "customer")) where += " AND o.customer_id = " + param(*c);
  if (auto cursor = http::query_param(target, "cursor")) {
    if (!Uuid::parse(*cursor, "cursor")) {
      errors.add("/cursor", "not one this service handed out");
    } else {
      where += " AND o.event_id > " + param(*cursor) + "::uuid";
    }
  }
  if (!errors.empty()) return invalid(call, errors);
  const std::string sql = std::string("SELECT ") + kColumns + " FROM overdraft o WHERE " + where +
                          " ORDER BY o.event_id LIMIT " + std::to_string(limit + 1);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  std::vector<pg::Param> params;
  for (const auto& v : values) params.push_back(pg::Param::text(v));
  auto r = (*lease)->query(sql.c_str(), params);
  if (!r) return problem(call, r.error());
  json::array items;
  const int n = std::min(r->rows(), limit);
  for (int i = 0; i < n; ++i) items.push_back(overdraft_json(*r, i));
  json::value next = nullptr;
  if (r->rows() > limit) next = json::value(r->text(n - 1, 0));
  return http::json(call.req, json::serialize(json::object{{"items", std::move(items)},
                                                           {"next_cursor", std::move(next)}}));
}

// The outstanding points go back on the member's balance as a head-office adjustment that opens
// no lot (the debt is what goes), and the overdraft is marked written off: one transaction.
http::Response OverdraftsApi::write_off(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!Uuid::parse(id, "id")) return problem(call, Problem::kNotFound, "no overdraft " + id);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  std::string customer;
  int64_t outstanding = 0;
  std::shared_ptr<const PublishedProgram> program;
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto r = (*lease)->query(
        "SELECT customer_id, points - repaid - written_off FROM overdraft WHERE event_id = "
        "$1::uuid",
        {pg::Param::text(id)});
    if (!r) return problem(call, r.error());
    if (r->rows() == 0) return problem(call, Problem::kNotFound, "no overdraft " + id);
    customer = std::string(r->text(0, 0));
    outstanding = r->int64(0, 1);
    auto latest = d_.programs.latest(**lease, d_.clock.now_ms());
    if (!latest) return problem(call, latest.error());
    program = *latest;
  }
  if (outstanding == 0) {
    return problem(call, Problem::kOverdraftSettled,
                   "overdraft " + id + " is settled already: nothing is outstanding");
  }
  HeadOfficeBatch batch(*program, d_.clock.now_ms());
  auto& e =
      batch.adjustment(new_id(), customer, outstanding,
                       "write-off of offline overdraft " + id + ": " + *reason, call.who.subject);
  e.mutable_adjustment()->set_writes_off_overdraft(id);
  std::optional<http::Response> refused;
  auto result = d_.ingest.apply_head_office(
      batch.batch(), [&](pg::Connection& c, const sync::v1::EventBatchResult& r) -> Result<void> {
        if (r.results(0).status() != sync::v1::EVENT_STATUS_APPLIED) {
          refused = problem(call, Problem::kAdjustmentRefused, r.results(0).message());
          return fail(ErrorCode::kFailedPrecondition, "refused");
        }
        // Guarded by what was read: a repayment or another write-off in between refuses this one.
        ACCRUE_ASSIGN_OR_RETURN(
            auto u, c.query("UPDATE overdraft SET written_off = written_off + $2::bigint, "
                            "written_off_by = $3, written_off_reason = $4, written_off_at = now() "
                            "WHERE event_id = $1::uuid AND points - repaid - written_off = "
                            "$2::bigint RETURNING 1",
                            {pg::Param::text(id), pg::Param::text(std::to_string(outstanding)),
                             pg::Param::text(call.who.subject), pg::Param::text(*reason)}));
        if (u.rows() == 0) {
          refused = problem(call, Problem::kOverdraftSettled,
                            "overdraft " + id + " changed meanwhile; read it again");
          return fail(ErrorCode::kFailedPrecondition, "changed");
        }
        return audit_change(c, call, "overdrafts.write_off", "customer:" + customer,
                            {{"event_id", id}, {"points", outstanding}, {"reason", *reason}});
      });
  if (refused) return std::move(*refused);
  if (!result) return problem(call, result.error());
  after_change(customer);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      (std::string("SELECT ") + kColumns + " FROM overdraft o WHERE o.event_id = $1::uuid").c_str(),
      {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  return http::json(call.req, json::serialize(overdraft_json(*r, 0)));
}

// Per store and UTC day: the overdrafts recorded (points, and money per currency) and the coupons
// used twice (their discount per currency). `from` and `to` are days (YYYY-MM-DD), at most 366
// apart; by default the last 30 days.
http::Response OverdraftsApi::exposure(Call& call) {
  FieldErrors errors;
  const auto target = call.req.target();
  const int64_t today = d_.clock.now_ms() / kMsPerDay;
  int64_t from = today - 29, to = today;
  if (auto f = http::query_param(target, "from")) {
    if (auto d = day_of(*f)) {
      from = *d;
    } else {
      errors.add("/from", "a day, YYYY-MM-DD");
    }
  }
  if (auto t = http::query_param(target, "to")) {
    if (auto d = day_of(*t)) {
      to = *d;
    } else {
      errors.add("/to", "a day, YYYY-MM-DD");
    }
  }
  if (errors.empty() && (to < from || to - from > 365)) {
    errors.add("/to", "on or after from, at most 366 days");
  }
  const auto store = http::query_param(target, "store");
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  // Per (store, day, currency) first, then per (store, day) with the money per currency.
  auto r = (*lease)->query(
      "WITH o1 AS (SELECT store_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, currency, "
      "count(*) AS n, sum(points) AS points, sum(points - repaid - written_off) AS outstanding, "
      "sum(value_minor) AS value FROM overdraft WHERE occurred_at >= to_timestamp($1::bigint * "
      "86400) AND occurred_at < to_timestamp(($2::bigint + 1) * 86400) AND ($3 = '' OR store_id "
      "= $3) GROUP BY 1, 2, 3), "
      "o AS (SELECT store_id, day, sum(n) AS n, sum(points) AS points, sum(outstanding) AS "
      "outstanding, coalesce(jsonb_object_agg(currency, value) FILTER (WHERE currency <> ''), "
      "'{}') AS value FROM o1 GROUP BY 1, 2), "
      "d1 AS (SELECT store_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, currency, count(*) "
      "AS n, sum(discount_minor) AS discount FROM coupon_double_use WHERE voided_at IS NULL AND "
      "occurred_at >= to_timestamp($1::bigint * 86400) AND occurred_at < to_timestamp(($2::bigint "
      "+ 1) * 86400) AND ($3 = '' OR store_id = $3) GROUP BY 1, 2, 3), "
      "d AS (SELECT store_id, day, sum(n) AS n, coalesce(jsonb_object_agg(currency, discount) "
      "FILTER (WHERE currency IS NOT NULL AND discount IS NOT NULL), '{}') AS discount FROM d1 "
      "GROUP BY 1, 2) "
      "SELECT coalesce(o.store_id, d.store_id), to_char(coalesce(o.day, d.day), 'YYYY-MM-DD'), "
      "coalesce(o.n, 0), coalesce(o.points, 0), coalesce(o.outstanding, 0), "
      "coalesce(o.value, '{}')::text, coalesce(d.n, 0), coalesce(d.discount, '{}')::text FROM o "
      "FULL JOIN d ON d.store_id = o.store_id AND d.day = o.day ORDER BY 2, 1 LIMIT 10000",
      {pg::Param::text(std::to_string(from)), pg::Param::text(std::to_string(to)),
       pg::Param::text(store.value_or(""))});
  if (!r) return problem(call, r.error());
  auto money = [](std::string_view text) {
    json::array out;
    const json::value parsed = json::parse(text);
    for (const auto& [currency, minor] : parsed.as_object()) {
      out.push_back(json::object{{"currency", currency}, {"minor_units", minor}});
    }
    return out;
  };
  json::array items;
  for (int i = 0; i < r->rows(); ++i) {
    items.push_back(json::object{{"store_id", r->text(i, 0)},
                                 {"day", r->text(i, 1)},
                                 {"overdrafts", r->int64(i, 2)},
                                 {"overdraft_points", r->int64(i, 3)},
                                 {"outstanding_points", r->int64(i, 4)},
                                 {"overdraft_value", money(r->text(i, 5))},
                                 {"coupon_double_uses", r->int64(i, 6)},
                                 {"coupon_double_use_value", money(r->text(i, 7))}});
  }
  return http::json(call.req, json::serialize(json::object{
                                  {"from", format_utc_iso8601(from * kMsPerDay).substr(0, 10)},
                                  {"to", format_utc_iso8601(to * kMsPerDay).substr(0, 10)},
                                  {"items", std::move(items)}}));
}

}  // namespace accrue::cloud::hq
