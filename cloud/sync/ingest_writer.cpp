// Ingestion, parts 4 and 5: the batch's rows written in a fixed number of set-based statements,
// and the agent's seq.
#include "cloud/core/webhooks.h"
#include "cloud/pg/copy.h"
#include "cloud/sync/ingest_parts.h"
#include "common/civil_time.h"

namespace accrue::cloud::ingest {

namespace json = boost::json;

namespace {

// How a JSON row's key becomes a COPY column: as it is, as a timestamp from milliseconds, or as
// bytea from hex. A missing or null key is \N.
enum class As { kValue, kMs, kHex };
struct CopyColumn {
  const char* key;
  As as = As::kValue;
};

void append_copy_value(std::string& out, const json::value* v, As as) {
  if (v == nullptr || v->is_null()) {
    out += "\\N";
  } else if (as == As::kMs) {
    out += format_utc_iso8601(v->is_int64() ? v->as_int64() : static_cast<int64_t>(v->as_uint64()));
  } else if (v->is_string()) {
    if (as == As::kHex) out += "\\\\x";
    pg::append_copy_escaped(out, v->as_string());
  } else if (v->is_int64()) {
    out += std::to_string(v->as_int64());
  } else if (v->is_uint64()) {
    out += std::to_string(v->as_uint64());
  } else if (v->is_bool()) {
    out += v->as_bool() ? "t" : "f";
  } else {
    pg::append_copy_escaped(out, json::serialize(*v));
  }
}

// COPY text of the rows gathered as JSON objects, the columns in `columns` order.
std::string copy_text(const json::array& rows, std::initializer_list<CopyColumn> columns) {
  std::string out;
  out.reserve(rows.size() * 160);
  for (const auto& row : rows) {
    const auto& o = row.as_object();
    bool first = true;
    for (const auto& col : columns) {
      if (!first) out += '\t';
      first = false;
      append_copy_value(out, o.if_contains(col.key), col.as);
    }
    out += '\n';
  }
  return out;
}

// One set-based statement over the rows ($1 is their JSON array); nothing to do for none.
Result<int64_t> run(pg::Connection& c, const char* sql, const json::array& rows) {
  if (rows.empty()) return 0;
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(sql, {pg::Param::text(json::serialize(rows))}));
  return r.affected();
}

Result<void> run_all(pg::Connection& c, const char* sql, const json::array& rows) {
  ACCRUE_TRY(run(c, sql, rows));
  return {};
}

constexpr const char* kLedgerColumns =
    "event_id, customer_id, owner_hash, kind, points, agent_points, amount_minor, currency, "
    "store_id, agent_id, seq, till_id, pos_tx_id, ref_event_id, program_id, program_version, "
    "local_day, reason, actor, occurred_at";
constexpr const char* kLotColumns =
    "lot_id, customer_id, earned_at, available_at, expires_at, points, remaining";
constexpr const char* kReceiptColumns =
    "event_id, customer_id, store_id, till_id, pos_tx_id, occurred_at, amount_minor, currency, "
    "points_earned, lines, redeemed_points";

struct LotRows {
  json::array created, updated;
};

LotRows lot_rows(const BatchState& s) {
  LotRows out;
  for (const auto& l : s.lots) {
    if (!l.is_new && !l.dirty) continue;
    json::object o;
    o["lot_id"] = l.lot.lot_id;
    o["remaining"] = l.lot.remaining;
    if (l.is_new) {
      o["customer_id"] = l.customer_id;
      o["earned_at_ms"] = l.lot.earned_at_ms;
      o["available_at_ms"] = l.lot.available_at_ms;
      if (l.lot.expires_at_ms != kNeverExpires) o["expires_at_ms"] = l.lot.expires_at_ms;
      o["points"] = l.lot.points;
      out.created.push_back(std::move(o));
    } else {
      out.updated.push_back(std::move(o));
    }
  }
  return out;
}

// New members: customer, balance, personal data and identifiers.
Result<void> write_members(pg::Connection& c, const Writes& w) {
  ACCRUE_TRY(run_all(
      c,
      "INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, "
      "enrolled_store_id, temp_customer_id) "
      "SELECT x.customer_id, x.tier_id, x.home_store_id, to_timestamp(x.enrolled_at_ms/1000.0), "
      "x.home_store_id, x.temp_customer_id FROM jsonb_to_recordset($1::jsonb) AS "
      "x(customer_id text, tier_id text, home_store_id text, enrolled_at_ms bigint, "
      "temp_customer_id text)",
      w.customers));
  ACCRUE_TRY(run_all(c,
                     "INSERT INTO balance (customer_id) SELECT x.customer_id FROM "
                     "jsonb_to_recordset($1::jsonb) AS x(customer_id text)",
                     w.customers));
  ACCRUE_TRY(run_all(
      c,
      "INSERT INTO customer_pii (customer_id, display_name, birthday_month, birthday_day, "
      "sealed_contact, email, phone, consent_terms, consent_marketing_email, "
      "consent_marketing_sms, consent_terms_at, consent_marketing_email_at, "
      "consent_marketing_sms_at) SELECT x.customer_id, x.display_name, x.birthday_month, "
      "x.birthday_day, decode(x.sealed_contact, 'hex'), x.email, x.phone, x.consent_terms, "
      "x.consent_marketing_email, x.consent_marketing_sms, to_timestamp(x.consents_at_ms / "
      "1000.0), to_timestamp(x.consents_at_ms / 1000.0), to_timestamp(x.consents_at_ms / 1000.0) "
      "FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, display_name text, "
      "birthday_month smallint, birthday_day smallint, sealed_contact text, email text, phone "
      "text, consent_terms boolean, consent_marketing_email boolean, consent_marketing_sms "
      "boolean, consents_at_ms bigint)",
      w.pii));
  return run_all(
      c,
      "INSERT INTO identifier (hash, kind, customer_id) SELECT decode(x.hash, 'hex'), x.kind, "
      "x.customer_id FROM jsonb_to_recordset($1::jsonb) AS x(hash text, kind text, "
      "customer_id text) ON CONFLICT (hash) DO NOTHING",
      w.identifiers);
}

// The append-only rows (ledger, new lots, receipts) by COPY, several times cheaper than
// INSERT ... SELECT from JSON.
Result<void> copy_append_only(pg::Connection& c, const Writes& w, const json::array& new_lots) {
  if (!w.ledger.empty()) {
    ACCRUE_TRY(c.copy_in(std::string("COPY ledger (") + kLedgerColumns + ") FROM STDIN",
                         copy_text(w.ledger, {{"event_id"},
                                              {"customer_id"},
                                              {"owner_hash", As::kHex},
                                              {"kind"},
                                              {"points"},
                                              {"agent_points"},
                                              {"amount_minor"},
                                              {"currency"},
                                              {"store_id"},
                                              {"agent_id"},
                                              {"seq"},
                                              {"till_id"},
                                              {"pos_tx_id"},
                                              {"ref_event_id"},
                                              {"program_id"},
                                              {"program_version"},
                                              {"local_day"},
                                              {"reason"},
                                              {"actor"},
                                              {"occurred_at_ms", As::kMs}})));
  }
  if (!new_lots.empty()) {
    ACCRUE_TRY(c.copy_in(std::string("COPY points_lot (") + kLotColumns + ") FROM STDIN",
                         copy_text(new_lots, {{"lot_id"},
                                              {"customer_id"},
                                              {"earned_at_ms", As::kMs},
                                              {"available_at_ms", As::kMs},
                                              {"expires_at_ms", As::kMs},
                                              {"points"},
                                              {"remaining"}})));
  }
  if (!w.receipts.empty()) {
    ACCRUE_TRY(c.copy_in(std::string("COPY receipt (") + kReceiptColumns + ") FROM STDIN",
                         copy_text(w.receipts, {{"event_id"},
                                                {"customer_id"},
                                                {"store_id"},
                                                {"till_id"},
                                                {"pos_tx_id"},
                                                {"occurred_at_ms", As::kMs},
                                                {"amount_minor"},
                                                {"currency"},
                                                {"points_earned"},
                                                {"lines"},
                                                {"redeemed_points"}})));
  }
  return {};
}

// The same rows by INSERT, skipping what another upload wrote since the duplicate check (a till
// receipt; an event id, which fails the batch: the agent's retry sorts it out).
Result<void> insert_append_only(pg::Connection& c, const Writes& w, const json::array& new_lots) {
  auto inserted =
      run(c,
          "INSERT INTO ledger (event_id, customer_id, owner_hash, kind, points, agent_points, "
          "amount_minor, currency, store_id, agent_id, seq, till_id, pos_tx_id, ref_event_id, "
          "program_id, program_version, local_day, reason, actor, occurred_at) "
          "SELECT x.event_id, x.customer_id, decode(x.owner_hash, 'hex'), x.kind, x.points, "
          "x.agent_points, x.amount_minor, x.currency, x.store_id, x.agent_id, x.seq, x.till_id, "
          "x.pos_tx_id, x.ref_event_id, x.program_id, x.program_version, x.local_day, x.reason, "
          "x.actor, to_timestamp(x.occurred_at_ms/1000.0) FROM jsonb_to_recordset($1::jsonb) AS "
          "x(event_id uuid, customer_id text, owner_hash text, kind smallint, points bigint, "
          "agent_points bigint, amount_minor bigint, currency text, store_id text, agent_id text, "
          "seq bigint, till_id text, pos_tx_id text, ref_event_id uuid, program_id text, "
          "program_version integer, local_day integer, reason text, actor text, "
          "occurred_at_ms bigint) ON CONFLICT (event_id) DO NOTHING",
          w.ledger);
  if (!inserted) return std::unexpected(inserted.error());
  if (*inserted != static_cast<int64_t>(w.ledger.size())) {
    return fail(ErrorCode::kUnavailable, "a concurrent upload wrote the same events; retry");
  }
  ACCRUE_TRY(run_all(
      c,
      "INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, expires_at, "
      "points, remaining) SELECT x.lot_id, x.customer_id, to_timestamp(x.earned_at_ms/1000.0), "
      "to_timestamp(x.available_at_ms/1000.0), to_timestamp(x.expires_at_ms/1000.0), x.points, "
      "x.remaining FROM jsonb_to_recordset($1::jsonb) AS x(lot_id uuid, customer_id text, "
      "earned_at_ms bigint, available_at_ms bigint, expires_at_ms bigint, points bigint, "
      "remaining bigint)",
      new_lots));
  return run_all(
      c,
      "INSERT INTO receipt (event_id, customer_id, store_id, till_id, pos_tx_id, occurred_at, "
      "amount_minor, currency, points_earned, lines, redeemed_points) SELECT x.event_id, "
      "x.customer_id, x.store_id, x.till_id, x.pos_tx_id, "
      "to_timestamp(x.occurred_at_ms/1000.0), x.amount_minor, x.currency, x.points_earned, "
      "x.lines, x.redeemed_points FROM jsonb_to_recordset($1::jsonb) AS x(event_id uuid, "
      "customer_id text, store_id text, till_id text, pos_tx_id text, occurred_at_ms bigint, "
      "amount_minor bigint, currency text, points_earned bigint, lines jsonb, "
      "redeemed_points bigint) ON CONFLICT DO NOTHING",
      w.receipts);
}

// COPY first; a conflict (an event id or a till receipt some other upload wrote: not the
// agent's own retries, which the agent lock and the duplicate check already caught) undoes the
// COPYs, and INSERTs that skip the conflicting rows run instead.
Result<void> write_append_only(pg::Connection& c, const Writes& w, const json::array& new_lots) {
  ACCRUE_TRY(c.exec("SAVEPOINT bulk"));
  auto copied = copy_append_only(c, w, new_lots);
  if (copied) {
    ACCRUE_TRY(c.exec("RELEASE SAVEPOINT bulk"));
    return {};
  }
  if (copied.error().code != ErrorCode::kAlreadyExists) return copied;
  ACCRUE_TRY(c.exec("ROLLBACK TO SAVEPOINT bulk"));
  return insert_append_only(c, w, new_lots);
}

Result<void> write_balances(pg::Connection& c, const Writes& w) {
  json::array deltas;
  for (const auto& [id, d] : w.balances) {
    json::object o;
    o["customer_id"] = id;
    o["points"] = d.points;
    o["earned"] = d.earned;
    o["redeemed"] = d.redeemed;
    if (d.last_purchase_ms > 0) o["last_purchase_ms"] = d.last_purchase_ms;
    deltas.push_back(std::move(o));
  }
  return run_all(
      c,
      "UPDATE balance b SET points = b.points + x.points, "
      "lifetime_earned = b.lifetime_earned + x.earned, "
      "lifetime_redeemed = b.lifetime_redeemed + x.redeemed, "
      "last_purchase_at = greatest(b.last_purchase_at, "
      "to_timestamp(x.last_purchase_ms/1000.0)), version = b.version + 1, updated_at = now() "
      "FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, points bigint, earned bigint, "
      "redeemed bigint, last_purchase_ms bigint) WHERE b.customer_id = x.customer_id",
      deltas);
}

Result<void> write_receipt_changes(pg::Connection& c, const BatchState& s) {
  const Writes& w = s.out;
  ACCRUE_TRY(run_all(c,
                     "UPDATE receipt r SET customer_id = x.customer_id FROM "
                     "jsonb_to_recordset($1::jsonb) AS x(event_id uuid, customer_id text) "
                     "WHERE r.event_id = x.event_id",
                     w.receipt_claims));
  json::array lines;
  for (const auto& [id, sale] : s.sales) {
    if (sale.lines_changed && sale.lines) {
      lines.push_back(json::object{{"event_id", id}, {"lines", sale_lines_json(*sale.lines)}});
    }
  }
  ACCRUE_TRY(run_all(c,
                     "UPDATE receipt r SET lines = x.lines FROM jsonb_to_recordset($1::jsonb) "
                     "AS x(event_id uuid, lines jsonb) WHERE r.event_id = x.event_id",
                     lines));
  ACCRUE_TRY(run_all(
      c,
      "UPDATE receipt r SET points_reversed = r.points_reversed + x.points, "
      "refunded_points = r.refunded_points + x.refunded FROM (SELECT event_id, sum(points) AS "
      "points, sum(coalesce(refunded, 0)) AS refunded FROM jsonb_to_recordset($1::jsonb) AS "
      "y(event_id uuid, points bigint, refunded bigint) GROUP BY event_id) AS x "
      "WHERE r.event_id = x.event_id",
      w.receipt_reversals));
  // Which sale each redemption paid for (a redemption named twice fails the batch: retried).
  ACCRUE_TRY(run_all(c,
                     "INSERT INTO sale_redemption (redemption_event_id, sale_event_id, points) "
                     "SELECT x.redemption_event_id, x.sale_event_id, x.points FROM "
                     "jsonb_to_recordset($1::jsonb) AS x(redemption_event_id uuid, "
                     "sale_event_id uuid, points bigint)",
                     w.sale_redemptions));
  // Every return seen; a held one the review flow applied now is closed.
  return run_all(
      c,
      "INSERT INTO sale_return AS s (store_id, till_id, pos_tx_id, event_id, agent_id, status, "
      "sale_event_id, sale_store_id, sale_till_id, sale_pos_tx_id, customer_id, "
      "points_reversed, points_refunded, envelope, note) SELECT x.store_id, x.till_id, "
      "x.pos_tx_id, x.event_id, x.agent_id, x.status, x.sale_event_id, x.sale_store_id, "
      "x.sale_till_id, x.sale_pos_tx_id, x.customer_id, coalesce(x.points_reversed, 0), "
      "coalesce(x.points_refunded, 0), decode(x.envelope, 'hex'), x.note FROM "
      "jsonb_to_recordset($1::jsonb) AS x(store_id text, till_id text, pos_tx_id text, "
      "event_id uuid, agent_id text, status text, sale_event_id uuid, sale_store_id text, "
      "sale_till_id text, sale_pos_tx_id text, customer_id text, points_reversed bigint, "
      "points_refunded bigint, envelope text, note text) "
      "ON CONFLICT (store_id, till_id, pos_tx_id) DO UPDATE SET status = excluded.status, "
      "sale_event_id = excluded.sale_event_id, customer_id = excluded.customer_id, "
      "points_reversed = excluded.points_reversed, "
      "points_refunded = excluded.points_refunded, envelope = NULL, resolved_at = now(), "
      "resolved_by = 'review' WHERE s.status = 'held' AND s.event_id = excluded.event_id",
      w.sale_returns);
}

// The store has seen these customers: they stay in its change feed's scope.
Result<void> write_store_scope(pg::Connection& c, const Writes& w, std::string_view store_id) {
  if (w.touched.empty()) return {};
  std::vector<std::string> seen(w.touched.begin(), w.touched.end());
  ACCRUE_TRY(
      c.query("INSERT INTO store_customer (store_id, customer_id) SELECT $1, x FROM "
              "unnest($2::text[]) AS x ON CONFLICT (store_id, customer_id) DO UPDATE SET "
              "last_seen_at = now() WHERE store_customer.last_seen_at < now() - interval '1 hour'",
              {pg::Param::text(store_id), pg::Param::text(pg::text_array(seen))}));
  return {};
}

Result<void> write_customer_days(pg::Connection& c, const Writes& w) {
  json::array days;
  for (const auto& [key, delta] : w.day_deltas) {
    json::object o;
    o["customer_id"] = key.first;
    o["local_day"] = key.second;
    o["earned"] = delta.earned;
    o["qualifying_points"] = delta.qualifying_points;
    o["spend_minor"] = delta.spend_minor;
    days.push_back(std::move(o));
  }
  return run_all(
      c,
      "INSERT INTO customer_day (customer_id, local_day, earned, qualifying_points, "
      "spend_minor) SELECT x.customer_id, x.local_day, x.earned, x.qualifying_points, "
      "x.spend_minor FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, local_day "
      "integer, earned bigint, qualifying_points bigint, spend_minor bigint) ON CONFLICT "
      "(customer_id, local_day) DO UPDATE SET earned = customer_day.earned + excluded.earned, "
      "qualifying_points = customer_day.qualifying_points + excluded.qualifying_points, "
      "spend_minor = customer_day.spend_minor + excluded.spend_minor",
      days);
}

}  // namespace

namespace {

// Offline redemptions beyond the member's points (docs/offline-exposure.md), each with its
// points.overdraft webhook; and what her later earnings repaid of her oldest open ones.
Result<void> write_overdrafts(pg::Connection& c, const Writes& w) {
  ACCRUE_TRY(run_all(
      c,
      "WITH o AS (INSERT INTO overdraft (event_id, customer_id, store_id, points, value_minor, "
      "currency, occurred_at) SELECT x.event_id, x.customer_id, x.store_id, x.points, "
      "x.value_minor, x.currency, to_timestamp(x.occurred_at_ms / 1000.0) FROM "
      "jsonb_to_recordset($1::jsonb) AS x(event_id uuid, customer_id text, store_id text, points "
      "bigint, value_minor bigint, currency text, occurred_at_ms bigint) ON CONFLICT DO NOTHING "
      "RETURNING *) INSERT INTO webhook_outbox (subscription_id, event_type, event_id, payload) "
      "SELECT s.subscription_id, 'points.overdraft', o.event_id::text, jsonb_build_object("
      "'event_id', o.event_id, 'customer_id', o.customer_id, 'store_id', o.store_id, 'points', "
      "o.points, 'value', jsonb_build_object('currency', o.currency, 'minor_units', "
      "o.value_minor), 'occurred_at', to_char(o.occurred_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM o JOIN webhook_subscription s ON s.active "
      "AND 'points.overdraft' = ANY(s.event_types)",
      w.overdrafts));
  if (w.repaid.empty()) return {};
  json::array repaid;
  for (const auto& [customer, points] : w.repaid) {
    repaid.push_back(json::object{{"customer_id", customer}, {"points", points}});
  }
  // Oldest first: each open overdraft takes what is left of the repayment after the older ones.
  ACCRUE_TRY(c.query(
      "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, points "
      "bigint)), open AS (SELECT o.event_id, o.points - o.repaid - o.written_off AS owed, "
      "r.points AS paid, sum(o.points - o.repaid - o.written_off) OVER (PARTITION BY "
      "o.customer_id ORDER BY o.occurred_at, o.event_id) AS through FROM overdraft o JOIN r USING "
      "(customer_id) WHERE o.repaid + o.written_off < o.points) UPDATE overdraft d SET repaid = "
      "d.repaid + least(open.owed, greatest(0, open.paid - (open.through - open.owed))) FROM open "
      "WHERE d.event_id = open.event_id AND open.paid > open.through - open.owed",
      {pg::Param::text(json::serialize(repaid))}));
  return {};
}

}  // namespace

Result<void> write_batch(pg::Connection& c, BatchState& s, std::string_view store_id) {
  const Writes& w = s.out;
  const LotRows lots = lot_rows(s);
  ACCRUE_TRY(write_members(c, w));
  ACCRUE_TRY(write_append_only(c, w, lots.created));
  ACCRUE_TRY(write_balances(c, w));
  ACCRUE_TRY(run_all(c,
                     "UPDATE points_lot l SET remaining = x.remaining FROM "
                     "jsonb_to_recordset($1::jsonb) AS x(lot_id uuid, remaining bigint) "
                     "WHERE l.lot_id = x.lot_id",
                     lots.updated));
  ACCRUE_TRY(write_receipt_changes(c, s));
  ACCRUE_TRY(write_store_scope(c, w, store_id));
  ACCRUE_TRY(write_customer_days(c, w));
  // Webhooks for the points events and the new members, queued with them.
  ACCRUE_TRY(run_all(c, kQueueLedgerWebhooksSql, w.ledger));
  ACCRUE_TRY(run_all(c, kQueueEnrolmentWebhooksSql, w.customers));
  ACCRUE_TRY(write_overdrafts(c, w));
  return run_all(c,
                 "INSERT INTO change_feed (kind, customer_id, store_id) SELECT x.kind, "
                 "x.customer_id, x.store_id FROM jsonb_to_recordset($1::jsonb) AS x(kind "
                 "smallint, customer_id text, store_id text)",
                 w.feed);
}

Result<uint64_t> track_agent_seq(pg::Connection& c, const sv1::EventBatch& batch, const Verdicts& v,
                                 Flow flow, int64_t watermark) {
  if (flow == Flow::kReview) return 0;  // the event's seq was tracked when it first arrived
  const std::string& agent = batch.agent_id();
  if (flow == Flow::kOnline) {
    // An online decision has no seq: it is listed beside the watermark until its upload
    // arrives.
    for (int i = 0; i < batch.events_size(); ++i) {
      if (!v.is_new(i)) continue;
      ACCRUE_TRY(
          c.query("INSERT INTO agent_online_event (agent_id, event_id) VALUES ($1, $2::uuid) "
                  "ON CONFLICT DO NOTHING",
                  {pg::Param::text(agent), pg::Param::text(batch.events(i).event_id())}));
    }
  } else if (flow == Flow::kStore && v.any_duplicate()) {
    // Their upload arrived (as a duplicate of the online decision).
    std::vector<std::string> uploaded;
    for (int i = 0; i < batch.events_size(); ++i) {
      if (v.duplicate(i)) uploaded.push_back(batch.events(i).event_id());
    }
    ACCRUE_TRY(
        c.query("DELETE FROM agent_online_event WHERE agent_id = $1 AND event_id = ANY($2::uuid[])",
                {pg::Param::text(agent), pg::Param::text(pg::text_array(uploaded))}));
  }
  uint64_t gaps = 0;
  json::array gap_rows;
  for (int i = 0; flow == Flow::kStore && i < batch.events_size(); ++i) {
    if (v.rejection(i) && v.rejection(i)->code == "wrong_agent") continue;
    const int64_t seq = static_cast<int64_t>(batch.events(i).seq());
    if (seq <= 0) continue;
    if (seq > watermark + 1) {
      gap_rows.push_back(json::object{{"from_seq", watermark + 1}, {"to_seq", seq - 1}});
      ++gaps;
    }
    watermark = std::max(watermark, seq);
  }
  if (!gap_rows.empty()) {
    ACCRUE_TRY(
        c.query("INSERT INTO agent_seq_gap (agent_id, from_seq, to_seq) SELECT $2, x.from_seq, "
                "x.to_seq FROM jsonb_to_recordset($1::jsonb) AS x(from_seq bigint, to_seq bigint) "
                "ON CONFLICT DO NOTHING",
                {pg::Param::text(json::serialize(gap_rows)), pg::Param::text(agent)}));
  }
  ACCRUE_TRY(c.query("UPDATE agent SET last_seq = $2, last_seen_at = now() WHERE agent_id = $1",
                     {pg::Param::text(agent), pg::Param::text(std::to_string(watermark))}));
  if (flow != Flow::kOnline && batch.events_size() > 0 && batch.events(0).seq() % 1000 == 1) {
    // Now and then: online redemptions whose upload never came (a replica replaced).
    ACCRUE_TRY(
        c.query("DELETE FROM agent_online_event WHERE agent_id = $1 "
                "AND applied_at < now() - interval '30 days'",
                {pg::Param::text(agent)}));
  }
  return gaps;
}

}  // namespace accrue::cloud::ingest
