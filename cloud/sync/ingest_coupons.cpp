// Coupon events in ingestion (docs/rewards.md): a store's CouponUse and CouponUseVoid. A store
// decided the use itself, so the cloud never rejects one for being spent already: the discount
// was given. It records the use, marks the coupon used, and tells every store through the
// change feed; a coupon spent already (used elsewhere while offline, voided by head office
// before the store heard of it) or never issued is recorded as a double use, the realized
// offline exposure. A void gives the coupon back, and clears a double use: a store voids only its
// own uses.
#include "cloud/core/webhooks.h"
#include "cloud/sync/feed.h"
#include "cloud/sync/ingest_parts.h"

namespace accrue::cloud::ingest {

namespace json = boost::json;

std::optional<Rejection> apply_coupon_event(BatchState& s, const sv1::EventEnvelope& e, int index) {
  json::object row{{"index", index},
                   {"event_id", e.event_id()},
                   {"store_id", e.store_id()},
                   {"agent_id", e.agent_id()},
                   {"occurred_at_ms", e.occurred_at_ms()}};
  if (e.has_coupon_use()) {
    const auto& u = e.coupon_use();
    if (!Uuid::parse(u.coupon_id(), "coupon_id")) {
      return Rejection{"bad_coupon", "coupon_use: coupon_id is not a UUID"};
    }
    if (u.till_id().empty() || u.pos_tx_id().empty()) {
      return Rejection{"bad_coupon", "coupon_use: till_id and pos_tx_id are required"};
    }
    row["kind"] = "use";
    row["coupon_id"] = u.coupon_id();
    row["till_id"] = u.till_id();
    row["pos_tx_id"] = u.pos_tx_id();
    row["customer_id"] =
        u.customer_id().empty() ? json::value(nullptr) : json::value(u.customer_id());
    row["reward_id"] = u.reward_id();
    if (u.has_discount()) {
      row["discount_minor"] = u.discount().minor_units();
      row["currency"] = u.discount().currency();
    }
    row["offline"] = u.offline();
  } else {
    const auto& v = e.coupon_use_void();
    if (!Uuid::parse(v.coupon_id(), "coupon_id") || !Uuid::parse(v.use_event_id(), "use")) {
      return Rejection{"bad_coupon", "coupon_use_void: coupon_id and use_event_id are UUIDs"};
    }
    if (v.till_id().empty() || v.pos_tx_id().empty()) {
      return Rejection{"bad_coupon", "coupon_use_void: till_id and pos_tx_id are required"};
    }
    row["kind"] = "void";
    row["coupon_id"] = v.coupon_id();
    row["use_event_id"] = v.use_event_id();
    row["till_id"] = v.till_id();
    row["pos_tx_id"] = v.pos_tx_id();
  }
  s.out.coupon_events.push_back(std::move(row));
  return std::nullopt;
}

namespace {

std::string text_of(const json::object& row, std::string_view key) {
  const auto* v = row.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The columns of a coupon event's row ($1, as jsonb), for the statements below.
#define ACCRUE_COUPON_ROW                                                                   \
  "jsonb_to_record($1::jsonb) AS x(event_id uuid, kind text, coupon_id uuid, use_event_id " \
  "uuid, store_id text, agent_id text, till_id text, pos_tx_id text, customer_id text, "    \
  "reward_id text, discount_minor bigint, currency text, offline boolean, occurred_at_ms "  \
  "bigint)"

json::object webhook_data(const json::object& row) {
  json::object data{{"coupon_id", text_of(row, "coupon_id")},
                    {"store_id", text_of(row, "store_id")},
                    {"till_id", text_of(row, "till_id")},
                    {"use_event_id", text_of(row, "event_id")}};
  if (const auto* d = row.if_contains("discount_minor")) {
    data["discount"] = json::object{{"minor_units", *d}, {"currency", row.at("currency")}};
  }
  return data;
}

enum class Use { kFirst, kDouble, kRefused };

// How the use was written: the coupon's first use, a double use (written all the same: the
// discount was given), or refused (only when the cloud decides while the buyer waits: a till's
// online use, a web order; for a coupon spent already).
Result<Use> write_use(pg::Connection& c, const json::object& row, const std::string& js,
                      Flow flow) {
  const std::string coupon = text_of(row, "coupon_id");
  const std::string event = text_of(row, "event_id");
  ACCRUE_ASSIGN_OR_RETURN(
      auto spent,
      c.query(
          "UPDATE coupon SET status = 'used', used_at = to_timestamp(x.occurred_at_ms / "
          "1000.0), used_store_id = x.store_id, use_event_id = x.event_id FROM " ACCRUE_COUPON_ROW
          " WHERE coupon.coupon_id = x.coupon_id AND coupon.status = 'issued' RETURNING "
          "coupon.reward_id, coalesce(coupon.customer_id, '')",
          {pg::Param::text(js)}));
  if (spent.rows() == 1) {
    ACCRUE_TRY(feed_coupon_changed(c, coupon));
    json::object data = webhook_data(row);
    data["reward_id"] = std::string(spent.text(0, 0));
    const std::string customer(spent.text(0, 1));
    data["customer_id"] = customer.empty() ? json::value(nullptr) : json::value(customer);
    data["offline"] = row.at("offline");
    ACCRUE_TRY(queue_webhook(c, "coupon.redeemed", event, json::serialize(data)));
    return Use::kFirst;
  }
  // The till hears "spent" and gives no discount; a web order is refused whole.
  if (flow == Flow::kOnline || flow == Flow::kHeadOffice) return Use::kRefused;
  // Spent already, or never issued: the discount was given all the same.
  ACCRUE_ASSIGN_OR_RETURN(
      auto was,
      c.query("INSERT INTO coupon_double_use (event_id, coupon_id, store_id, "
              "customer_id, reason, first_event_id, discount_minor, currency, "
              "occurred_at) SELECT x.event_id, x.coupon_id, x.store_id, x.customer_id, "
              "coalesce(c.status, 'unknown'), c.use_event_id, x.discount_minor, "
              "x.currency, to_timestamp(x.occurred_at_ms / 1000.0) FROM " ACCRUE_COUPON_ROW
              " LEFT JOIN coupon c ON c.coupon_id = x.coupon_id ON CONFLICT (event_id) "
              "DO NOTHING RETURNING reason",
              {pg::Param::text(js)}));
  json::object data = webhook_data(row);
  data["reason"] = was.rows() == 1 ? std::string(was.text(0, 0)) : "unknown";
  ACCRUE_TRY(queue_webhook(c, "coupon.double_use", event, json::serialize(data)));
  return Use::kDouble;
}

Result<void> write_void(pg::Connection& c, const json::object& row, const std::string& js) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto back, c.query("UPDATE coupon SET status = 'issued', used_at = NULL, used_store_id = "
                         "NULL, use_event_id = NULL FROM " ACCRUE_COUPON_ROW
                         " WHERE coupon.coupon_id = x.coupon_id AND coupon.status = 'used' AND "
                         "coupon.use_event_id = x.use_event_id AND coupon.used_store_id = "
                         "x.store_id RETURNING 1",
                         {pg::Param::text(js)}));
  if (back.rows() == 1) ACCRUE_TRY(feed_coupon_changed(c, text_of(row, "coupon_id")));
  ACCRUE_TRY(c.query("UPDATE coupon_double_use SET voided_at = now() FROM " ACCRUE_COUPON_ROW
                     " WHERE coupon_double_use.event_id = x.use_event_id AND "
                     "coupon_double_use.store_id = x.store_id AND voided_at IS NULL",
                     {pg::Param::text(js)}));
  return {};
}

}  // namespace

Result<CouponWrites> write_coupon_events(pg::Connection& c, const json::array& rows, Flow flow) {
  CouponWrites out;
  for (const auto& v : rows) {
    const auto& row = v.as_object();
    const std::string js = json::serialize(row);
    if (text_of(row, "kind") == "use") {
      ACCRUE_ASSIGN_OR_RETURN(auto use, write_use(c, row, js, flow));
      if (use == Use::kDouble) ++out.double_uses;
      if (use == Use::kRefused) {
        out.refused.emplace_back(
            static_cast<int>(row.at("index").as_int64()),
            Rejection{"coupon_spent", "the coupon was used or voided already, or never issued"});
        continue;
      }
    } else {
      ACCRUE_TRY(write_void(c, row, js));
    }
    ACCRUE_TRY(c.query(
        "INSERT INTO coupon_event (event_id, kind, coupon_id, use_event_id, store_id, agent_id, "
        "till_id, pos_tx_id, customer_id, reward_id, discount_minor, currency, offline, "
        "occurred_at) SELECT x.event_id, x.kind, x.coupon_id, x.use_event_id, x.store_id, "
        "x.agent_id, x.till_id, x.pos_tx_id, x.customer_id, x.reward_id, x.discount_minor, "
        "x.currency, coalesce(x.offline, false), to_timestamp(x.occurred_at_ms / 1000.0) "
        "FROM " ACCRUE_COUPON_ROW,
        {pg::Param::text(js)}));
  }
  return out;
}

#undef ACCRUE_COUPON_ROW

}  // namespace accrue::cloud::ingest
