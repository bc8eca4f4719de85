// GDPR: export everything about one member, and erasure.
//
// Erasure deletes the personal data (customer_pii) and the identifiers (their keyed hashes), and
// marks the customer erased. The ledger, balance and receipts stay, under the customer id, which
// is a random UUIDv7 with nothing personal left behind it: the books still add up and the audit
// of the programme's liability holds. The change-feed row it writes reaches every store that has
// the member in scope (home store, stores that saw them lately) as a removal, so the member
// leaves every store replica, identifiers included; the cache entry is invalidated and search no
// longer finds them. Erasing an erased member again answers the same.
#include <boost/json.hpp>
#include <cctype>

#include "cloud/core/customer_status.h"
#include "cloud/hq/customer_records.h"
#include "cloud/hq/resources.h"
#include "cloud/sync/feed.h"

#include <map>
#include "common/civil_time.h"
#include "common/ledger.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr int kMaxExportedEntries = 100'000;

}  // namespace

void PrivacyApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/customers/{id}/export", "customers.export", kCustomerCare,
           [this](Call& c) { return export_data(c); });
  gate.add(r, V::post, "/v1/customers/{id}/merge", "customers.merge", kCustomerCare,
           [this](Call& c) { return merge(c); });
  gate.add(r, V::post, "/v1/customers/{id}/erase", "customers.erase", kCustomerCare,
           [this](Call& c) { return erase(c); });
}

http::Response PrivacyApi::erase(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  int64_t identifiers = 0;
  bool already = false;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto row,
                            c.query("SELECT status FROM customer WHERE customer_id = $1 FOR UPDATE",
                                    {pg::Param::text(id)}));
    if (row.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + id);
    already = row.int64(0, 0) == to_int(CustomerStatus::kErased);
    if (already) return {};
    ACCRUE_TRY(c.query("DELETE FROM customer_pii WHERE customer_id = $1", {pg::Param::text(id)}));
    ACCRUE_TRY(c.query("DELETE FROM member_login WHERE customer_id = $1", {pg::Param::text(id)}));
    ACCRUE_ASSIGN_OR_RETURN(
        auto ids, c.query("DELETE FROM identifier WHERE customer_id = $1", {pg::Param::text(id)}));
    identifiers = ids.affected();
    // The home store stays: it puts the member in that store's scope, so the store's feed
    // carries the removal.
    ACCRUE_TRY(
        c.query("UPDATE customer SET status = $2, status_reason = NULL, tier_floor_id = "
                "NULL, country = '', currency = '', revision = revision + 1, updated_at "
                "= now() WHERE customer_id = $1",
                {pg::Param::text(id), pg::Param::text(status_sql(CustomerStatus::kErased))}));
    ACCRUE_TRY(feed_customer_changed(c, id));
    return audit_change(c, call, "customer.erase", "customer:" + id,
                        {{"reason", *reason}, {"identifiers", identifiers}});
  });
  if (!done) return problem(call, done.error());
  after_change(id);
  json::object out{{"customer_id", id}, {"status", "erased"}, {"already_erased", already}};
  return http::json(call.req, json::serialize(out));
}

http::Response PrivacyApi::export_data(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  // One snapshot for the whole export.
  if (auto b = c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !b) {
    return problem(call, b.error());
  }
  auto body = [&]() -> Result<json::object> {
    ACCRUE_ASSIGN_OR_RETURN(auto details, customer_details(c, id));
    json::object out;
    out["exported_at"] = format_utc_iso8601(d_.clock.now_ms());
    out["customer"] = std::move(details.first);
    ACCRUE_ASSIGN_OR_RETURN(auto balance,
                            c.query("SELECT points, lifetime_earned, lifetime_redeemed, "
                                    "lifetime_expired FROM balance WHERE "
                                    "customer_id = $1",
                                    {pg::Param::text(id)}));
    if (balance.rows() == 1) {
      out["balance"] = json::object{{"points", balance.int64(0, 0)},
                                    {"lifetime_earned", balance.int64(0, 1)},
                                    {"lifetime_redeemed", balance.int64(0, 2)},
                                    {"lifetime_expired", balance.int64(0, 3)}};
    }
    ACCRUE_ASSIGN_OR_RETURN(
        auto ledger,
        c.query(
            "SELECT event_id::text, (extract(epoch FROM occurred_at)*1000)::bigint, kind, points, "
            "coalesce(store_id, ''), coalesce(till_id, ''), coalesce(pos_tx_id, ''), "
            "amount_minor IS NOT NULL, coalesce(amount_minor, 0), coalesce(currency, ''), "
            "coalesce(reason, '') FROM ledger WHERE customer_id = $1 ORDER BY occurred_at, "
            "event_id "
            "LIMIT $2::int",
            {pg::Param::text(id), pg::Param::text(std::to_string(kMaxExportedEntries + 1))}));
    json::array entries;
    const int n = std::min(ledger.rows(), kMaxExportedEntries);
    for (int i = 0; i < n; ++i) {
      const int64_t kind = ledger.int64(i, 2);
      json::object e{{"event_id", ledger.text(i, 0)},
                     {"occurred_at", format_utc_iso8601(ledger.int64(i, 1))},
                     {"kind", ledger_kind_name(kind)},
                     {"points", ledger.int64(i, 3)}};
      if (!ledger.text(i, 4).empty()) e["store_id"] = ledger.text(i, 4);
      if (!ledger.text(i, 5).empty()) e["till_id"] = ledger.text(i, 5);
      if (!ledger.text(i, 6).empty()) e["pos_tx_id"] = ledger.text(i, 6);
      if (ledger.boolean(i, 7)) {
        e["amount"] =
            json::object{{"minor_units", ledger.int64(i, 8)}, {"currency", ledger.text(i, 9)}};
      }
      if (!ledger.text(i, 10).empty()) e["reason"] = ledger.text(i, 10);
      entries.push_back(std::move(e));
    }
    out["ledger"] = std::move(entries);
    out["ledger_truncated"] = ledger.rows() > kMaxExportedEntries;
    ACCRUE_ASSIGN_OR_RETURN(
        auto audit,
        c.query("SELECT (extract(epoch FROM at)*1000)::bigint, actor, action FROM audit_log WHERE "
                "subject = $1 ORDER BY id LIMIT 10000",
                {pg::Param::text("customer:" + id)}));
    json::array processing;
    for (int i = 0; i < audit.rows(); ++i) {
      processing.push_back(json::object{{"at", format_utc_iso8601(audit.int64(i, 0))},
                                        {"actor", audit.text(i, 1)},
                                        {"action", audit.text(i, 2)}});
    }
    out["processing"] = std::move(processing);
    return out;
  };
  auto doc = body();
  (void)c.exec(doc ? "COMMIT" : "ROLLBACK");
  if (!doc) return problem(call, doc.error());
  if (!audit_->enqueue(
          {call.who.subject, "customer.export", "customer:" + id, call.ctx.request_id, {}})) {
    return problem(call, Problem::kAuditUnavailable,
                   "personal data cannot be read while its audit trail cannot be written");
  }
  auto res = http::json(call.req, json::serialize(*doc));
  std::string file = "customer-";
  for (char ch : id) file += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ? ch : '_';
  res.set(bhttp::field::content_disposition, "attachment; filename=\"" + file + ".json\"");
  return res;
}

}  // namespace accrue::cloud::hq

namespace accrue::cloud::hq {

// Two records of one person become one. The survivor takes the other's identifiers, open lots
// and points (two ledger adjustments, so both balances stay equal to their ledgers), its
// per-day qualification totals, receipts (returns of its sales credit the survivor) and store
// scope. The merged record stays, status "merged" with merged_into, so events a store uploads
// for it later are credited to the survivor, and every store drops it while learning the
// survivor's new identifiers through the change feed.
http::Response PrivacyApi::merge(Call& call) {
  const std::string& survivor = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto merged = in.string("merged_customer_id", {.required = true, .min = 1, .max = 64});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (merged && *merged == survivor) errors.add("/merged_customer_id", "is the survivor itself");
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  std::optional<http::Response> refused;
  int64_t points = 0, identifiers = 0, lots = 0;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    // Balances locked in customer order, as ingestion locks them.
    ACCRUE_ASSIGN_OR_RETURN(
        auto rows,
        c.query("SELECT c.customer_id, c.status, b.points FROM customer c JOIN balance b USING "
                "(customer_id) WHERE c.customer_id IN ($1, $2) ORDER BY c.customer_id FOR UPDATE",
                {pg::Param::text(survivor), pg::Param::text(*merged)}));
    std::map<std::string, std::pair<int64_t, int64_t>> found;  // status, points
    for (int i = 0; i < rows.rows(); ++i) {
      found[std::string(rows.text(i, 0))] = {rows.int64(i, 1), rows.int64(i, 2)};
    }
    if (!found.contains(survivor)) return fail(ErrorCode::kNotFound, "no customer " + survivor);
    if (!found.contains(*merged)) {
      FieldErrors e;
      e.add("/merged_customer_id", "no such customer");
      refused = invalid(call, e);
      return fail(ErrorCode::kFailedPrecondition, "refused");
    }
    for (const auto& [id, st] : found) {
      if (is_closed(st.first)) {
        refused = problem(call, Problem::kCustomerErased,
                          "customer " + id + " was erased or merged already");
        return fail(ErrorCode::kFailedPrecondition, "refused");
      }
    }
    points = found[*merged].second;
    const auto S = pg::Param::text(survivor);
    const auto X = pg::Param::text(*merged);
    ACCRUE_ASSIGN_OR_RETURN(
        auto ids, c.query("UPDATE identifier SET customer_id = $1 WHERE customer_id = $2", {S, X}));
    identifiers = ids.affected();
    ACCRUE_ASSIGN_OR_RETURN(
        auto moved,
        c.query("UPDATE points_lot SET customer_id = $1 WHERE customer_id = $2 AND remaining > 0",
                {S, X}));
    lots = moved.affected();
    if (points != 0) {
      const std::string out_id = new_id(), in_id = new_id();
      const std::string p = std::to_string(points), neg = std::to_string(-points);
      ACCRUE_TRY(c.query(
          "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at, "
          "ref_event_id) VALUES ($1::uuid, $2, 5, $3::bigint, $4, $5, now(), NULL), ($6::uuid, "
          "$7, 5, $8::bigint, $9, $5, now(), $1::uuid)",
          {pg::Param::text(out_id), X, pg::Param::text(neg),
           pg::Param::text("merged into " + survivor + ": " + *reason),
           pg::Param::text(call.who.subject), pg::Param::text(in_id), S, pg::Param::text(p),
           pg::Param::text("merged from " + *merged + ": " + *reason)}));
    }
    ACCRUE_TRY(
        c.query("UPDATE balance SET points = points + $2::bigint, version = version + 1, "
                "updated_at = now() WHERE customer_id = $1",
                {S, pg::Param::text(std::to_string(points))}));
    ACCRUE_TRY(
        c.query("UPDATE balance SET points = 0, version = version + 1, updated_at = now() "
                "WHERE customer_id = $1",
                {X}));
    ACCRUE_TRY(c.query(
        "INSERT INTO customer_day (customer_id, local_day, earned, qualifying_points, "
        "spend_minor) SELECT $1, local_day, earned, qualifying_points, spend_minor FROM "
        "customer_day WHERE customer_id = $2 ON CONFLICT (customer_id, local_day) DO UPDATE SET "
        "earned = customer_day.earned + excluded.earned, qualifying_points = "
        "customer_day.qualifying_points + excluded.qualifying_points, spend_minor = "
        "customer_day.spend_minor + excluded.spend_minor",
        {S, X}));
    ACCRUE_TRY(c.query("DELETE FROM customer_day WHERE customer_id = $1", {X}));
    ACCRUE_TRY(c.query("UPDATE receipt SET customer_id = $1 WHERE customer_id = $2", {S, X}));
    ACCRUE_TRY(c.query(
        "INSERT INTO store_customer (store_id, customer_id, last_seen_at) SELECT store_id, $1, "
        "last_seen_at FROM store_customer WHERE customer_id = $2 ON CONFLICT (store_id, "
        "customer_id) DO UPDATE SET last_seen_at = greatest(store_customer.last_seen_at, "
        "excluded.last_seen_at)",
        {S, X}));
    // Her app's sign-in follows her, unless the survivor has one with that provider already.
    ACCRUE_TRY(
        c.query("UPDATE member_login l SET customer_id = $1 WHERE customer_id = $2 AND NOT "
                "EXISTS (SELECT 1 FROM member_login s WHERE s.customer_id = $1 AND "
                "s.issuer = l.issuer)",
                {S, X}));
    ACCRUE_TRY(c.query("DELETE FROM member_login WHERE customer_id = $1", {X}));
    // So does her app's card; beside the survivor's own, it is dropped (its code finds nobody).
    ACCRUE_TRY(c.query(
        "DELETE FROM identifier WHERE hash = (SELECT hash FROM digital_card WHERE customer_id = "
        "$2) AND EXISTS (SELECT 1 FROM digital_card WHERE customer_id = $1)",
        {S, X}));
    ACCRUE_TRY(c.query("UPDATE digital_card SET customer_id = $1 WHERE customer_id = $2", {S, X}));
    // Earlier merges into the merged member now point at the survivor.
    ACCRUE_TRY(c.query("UPDATE customer SET merged_into = $1 WHERE merged_into = $2", {S, X}));
    ACCRUE_TRY(
        c.query("UPDATE customer SET status = $3, merged_into = $1, revision = revision + "
                "1, updated_at = now() WHERE customer_id = $2",
                {S, X, pg::Param::text(status_sql(CustomerStatus::kMerged))}));
    ACCRUE_TRY(
        c.query("UPDATE customer SET revision = revision + 1, updated_at = now() WHERE "
                "customer_id = $1",
                {S}));
    ACCRUE_TRY(
        c.query("INSERT INTO change_feed (kind, customer_id) VALUES ($3::smallint, $1), "
                "($3::smallint, $2)",
                {S, X, pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
    return audit_change(c, call, "customer.merge", "customer:" + survivor,
                        {{"merged_customer_id", *merged},
                         {"points", points},
                         {"identifiers", identifiers},
                         {"lots", lots},
                         {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(survivor);
  after_change(*merged);
  json::object out{{"customer_id", survivor},
                   {"merged_customer_id", *merged},
                   {"points_moved", points},
                   {"identifiers_moved", identifiers},
                   {"lots_moved", lots}};
  return http::json(call.req, json::serialize(out));
}

}  // namespace accrue::cloud::hq
