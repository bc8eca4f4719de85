#include "cloud/hq/reads.h"

#include <boost/json.hpp>
#include <charconv>

#include "cloud/auth/jwt.h"
#include "cloud/core/balance.h"
#include "cloud/core/tiers.h"
#include "common/civil_time.h"
#include "common/customer.h"
#include "common/engine/basket.h"
#include "common/engine/lots.h"
#include "common/engine/tiers.h"
#include "common/ledger.h"
#include "common/uuid.h"

namespace accrue::cloud::hq {

namespace json = boost::json;

namespace {

// One statement per read: the customer, the balance, the open lots (as "earned:available:
// expires:remaining" items) and the qualifying value in the programme's tier window, summed
// over the per-day totals ingestion keeps (the ledger itself would mean every monthly partition).
constexpr const char* kRead =
    "SELECT c.customer_id, c.status, c.tier_id, coalesce(c.tier_floor_id, ''), b.points, "
    "b.version, b.lifetime_earned, b.lifetime_redeemed, b.lifetime_expired, "
    "coalesce((extract(epoch FROM b.last_purchase_at)*1000)::bigint, 0), "
    "(extract(epoch FROM c.enrolled_at)*1000)::bigint, coalesce(c.home_store_id, ''), "
    "%LOTS%, "
    "(SELECT coalesce(sum(CASE WHEN $3 THEN d.spend_minor ELSE d.qualifying_points END), 0) "
    "FROM customer_day d WHERE d.customer_id = c.customer_id AND d.local_day > $2::int) "
    "FROM customer c JOIN balance b USING (customer_id) WHERE c.customer_id = $1";

constexpr const char* kIdentifiers =
    "SELECT kind, (extract(epoch FROM created_at)*1000)::bigint FROM identifier "
    "WHERE customer_id = $1 ORDER BY created_at";

}  // namespace

bool CustomerReads::valid_customer_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '/') return false;
  }
  return true;
}

Result<CustomerReads::Document> CustomerReads::status(const std::string& customer_id) {
  return read(customer_id, false);
}

Result<CustomerReads::Document> CustomerReads::profile(const std::string& customer_id) {
  return read(customer_id, true);
}

Result<CustomerReads::Document> CustomerReads::read(const std::string& customer_id, bool profile) {
  if (!valid_customer_id(customer_id)) {
    return fail(ErrorCode::kInvalidArgument, "customer id: 1 to 64 printable characters");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  const TimestampMs now = clock_.now_ms();
  ACCRUE_ASSIGN_OR_RETURN(auto program, programs_.latest(c, now));
  const TierPolicy& tiers = program->program.tiers;
  const std::string after_day = std::to_string(last_day_before_tier_window(*program, now));
  const bool by_spend = tiers.basis == TierBasis::kAmountSpent;
  static const std::string read_sql = [] {
    std::string q = kRead;
    q.replace(q.find("%LOTS%"), 6, kOpenLotsColumn);
    return q;
  }();
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query(read_sql, {pg::Param::text(customer_id), pg::Param::text(after_day),
                                 pg::Param::text(by_spend ? "true" : "false")}));
  if (r.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + customer_id);

  const int64_t status = r.int64(0, 1);
  json::object doc;
  doc["customer_id"] = customer_id;
  doc["status"] = status_name(status);
  Document out;
  out.version = r.int64(0, 5);
  if (is_closed(status)) {  // erased, or merged into another: nothing else to show
    out.json = json::serialize(doc);
    return out;
  }
  const std::string tier_id(r.text(0, 2));
  const int64_t points = r.int64(0, 4);
  const CustomerPoints cp = customer_points(points, parse_open_lots(r.text(0, 12)), now);
  json::object pts;
  pts["available"] = cp.available;
  pts["pending"] = cp.pending;
  pts["expiring_30d"] = cp.expiring;
  if (cp.expiring > 0) pts["expiring_at"] = format_utc_iso8601(cp.expiring_at_ms);
  doc["points"] = std::move(pts);

  json::object tier;
  tier["id"] = tier_id;
  for (const auto& t : tiers.ladder) {
    if (t.tier_id == tier_id) tier["name"] = t.name;
  }
  TierFacts facts;
  facts.current_tier = tier_id;
  facts.qualifying_value = r.int64(0, 13);
  facts.manual_floor = std::string(r.text(0, 3));
  facts.now_ms = now;
  if (auto d = evaluate_tier(tiers, facts); d && !d->next_tier_id.empty()) {
    json::object next;
    next["id"] = d->next_tier_id;
    next[by_spend ? "spend_needed_minor" : "points_needed"] = d->distance_to_next;
    tier["next"] = std::move(next);
  }
  doc["tier"] = std::move(tier);

  if (profile) {
    doc["enrolled_at"] = format_utc_iso8601(r.int64(0, 10));
    if (!r.text(0, 11).empty()) doc["home_store_id"] = r.text(0, 11);
    json::object lifetime;
    lifetime["earned"] = r.int64(0, 6);
    lifetime["redeemed"] = r.int64(0, 7);
    lifetime["expired"] = r.int64(0, 8);
    doc["lifetime"] = std::move(lifetime);
    if (r.int64(0, 9) > 0) doc["last_purchase_at"] = format_utc_iso8601(r.int64(0, 9));
    json::object q;
    q["value"] = facts.qualifying_value;
    q["window_days"] = tiers.window_days;
    q["basis"] = by_spend ? "amount_spent" : "points_earned";
    doc["tier_qualification"] = std::move(q);
    ACCRUE_ASSIGN_OR_RETURN(auto ids, c.query(kIdentifiers, {pg::Param::text(customer_id)}));
    json::array list;
    for (int i = 0; i < ids.rows(); ++i) {
      // The cloud holds only keyed hashes: the kind and when it was linked is all there is.
      json::object o;
      o["kind"] = ids.text(i, 0);
      o["linked_at"] = format_utc_iso8601(ids.int64(i, 1));
      list.push_back(std::move(o));
    }
    doc["identifiers"] = std::move(list);
  }
  out.json = json::serialize(doc);
  return out;
}

Result<std::string> CustomerReads::transactions(const std::string& customer_id, int limit,
                                                const std::string& cursor) {
  if (!valid_customer_id(customer_id)) {
    return fail(ErrorCode::kInvalidArgument, "customer id: 1 to 64 printable characters");
  }
  if (limit < 1 || limit > kMaxPageSize) {
    return fail(ErrorCode::kInvalidArgument, "limit: from 1 to " + std::to_string(kMaxPageSize));
  }
  // The cursor is the (occurred_at ms, event_id) of the last entry of the previous page.
  std::string after_ms = std::to_string(kMaxTimestampMs),
              after_id = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  if (!cursor.empty()) {
    auto raw = auth::base64url_decode(cursor);
    auto colon = raw ? raw->find(':') : std::string::npos;
    int64_t ms = 0;
    if (colon == std::string::npos ||
        std::from_chars(raw->data(), raw->data() + colon, ms).ptr != raw->data() + colon ||
        !Uuid::parse(raw->substr(colon + 1))) {
      return fail(ErrorCode::kInvalidArgument, "cursor: not one this API handed out");
    }
    after_ms = std::to_string(ms);
    after_id = raw->substr(colon + 1);
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  const std::string fetch = std::to_string(limit + 1);
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query(
          "SELECT g.event_id::text, (extract(epoch FROM g.occurred_at)*1000)::bigint, g.kind, "
          "g.points, coalesce(g.store_id, ''), coalesce(g.till_id, ''), coalesce(g.pos_tx_id, ''), "
          "g.amount_minor, coalesce(g.currency, ''), coalesce(g.reason, ''), "
          "coalesce(g.ref_event_id::text, ''), coalesce(r.points_reversed, 0), r.event_id IS NOT "
          "NULL "
          "FROM ledger g LEFT JOIN receipt r ON r.event_id = g.event_id "
          "WHERE g.customer_id = $1 AND (g.occurred_at, g.event_id) < "
          "(to_timestamp($2::bigint / 1000.0), $3::uuid) "
          "ORDER BY g.occurred_at DESC, g.event_id DESC LIMIT $4",
          {pg::Param::text(customer_id), pg::Param::text(after_ms), pg::Param::text(after_id),
           pg::Param::text(fetch)}));
  if (r.rows() == 0) {  // an empty page, or nobody: only then is the second question needed
    ACCRUE_ASSIGN_OR_RETURN(auto exists, c.query("SELECT 1 FROM customer WHERE customer_id = $1",
                                                 {pg::Param::text(customer_id)}));
    if (exists.rows() == 0) return fail(ErrorCode::kNotFound, "no customer " + customer_id);
  }
  json::array items;
  const int n = std::min(r.rows(), limit);
  for (int i = 0; i < n; ++i) {
    json::object o;
    o["event_id"] = r.text(i, 0);
    o["occurred_at"] = format_utc_iso8601(r.int64(i, 1));
    const int64_t kind = r.int64(i, 2);
    o["kind"] = ledger_kind_name(kind);
    o["points"] = r.int64(i, 3);
    if (!r.text(i, 4).empty()) o["store_id"] = r.text(i, 4);
    if (!r.text(i, 5).empty()) o["till_id"] = r.text(i, 5);
    if (!r.text(i, 6).empty()) o["pos_tx_id"] = r.text(i, 6);
    if (!r.is_null(i, 7)) {
      json::object amount;
      amount["minor_units"] = r.int64(i, 7);
      amount["currency"] = r.text(i, 8);
      o["amount"] = std::move(amount);
    }
    if (!r.text(i, 9).empty()) o["reason"] = r.text(i, 9);
    if (!r.text(i, 10).empty()) o["ref_event_id"] = r.text(i, 10);
    if (r.boolean(i, 12)) o["points_reversed"] = r.int64(i, 11);
    items.push_back(std::move(o));
  }
  json::object doc;
  doc["customer_id"] = customer_id;
  doc["items"] = std::move(items);
  if (r.rows() > limit) {
    doc["next_cursor"] = auth::base64url_encode(std::to_string(r.int64(limit - 1, 1)) + ":" +
                                                std::string(r.text(limit - 1, 0)));
  } else {
    doc["next_cursor"] = nullptr;
  }
  return json::serialize(doc);
}

}  // namespace accrue::cloud::hq
