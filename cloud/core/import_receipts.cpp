// `accrue-cloud import receipts` (import.h): the kind's checks and its batch writer.
#include "cloud/core/import.h"

#include <set>
#include <unordered_set>

#include "cloud/core/customer_status.h"
#include "cloud/core/import_run.h"
#include "cloud/core/store_auth.h"
#include "cloud/hq/json_input.h"
#include "cloud/pg/copy.h"
#include "cloud/sync/feed.h"
#include "common/civil_time.h"
#include "common/engine/lots.h"
#include "common/identifier.h"
#include "common/ledger.h"
#include "common/sys/system.h"
#include "common/uuid.h"

namespace accrue::cloud {

using namespace importing;

Result<ImportReport> import_receipts(pg::Connection& c, ProgramCatalog& programs,
                                     const ImportOptions& options,
                                     const std::function<void(int64_t)>& progress) {
  ACCRUE_ASSIGN_OR_RETURN(auto facts, program_facts(c, programs));
  const std::string job = job_name(options);
  const std::string actor = options.actor + ":" + job;

  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  std::unordered_set<std::string> seen;  // store, till, receipt within the file

  ImportKind kind;
  kind.name = "receipts";
  kind.columns = {"receipt_id",  "store_id",     "till_id",  "customer_id",
                  "occurred_at", "amount_minor", "currency", "points"};
  kind.required = {"receipt_id",  "store_id",     "customer_id",
                   "occurred_at", "amount_minor", "currency"};
  kind.stage_table =
      "CREATE TEMP TABLE IF NOT EXISTS import_stage_receipts (line bigint, key text, event_id "
      "uuid, customer_id text, store_id text, till_id text, pos_tx_id text, occurred_at "
      "timestamptz, amount_minor bigint, currency text, points bigint, local_day integer, "
      "available_at timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS";
  kind.stage_copy = "COPY import_stage_receipts FROM STDIN";
  kind.parse = [&](const Record& f, int64_t line, std::string& key,
                   std::string& stage) -> std::string {
    auto receipt = f["receipt_id"];
    auto store = f["store_id"];
    const std::string till = f["till_id"].value_or("import");
    key = store.value_or("") + "/" + till + "/" + receipt.value_or("");
    if (!receipt || !printable_id(*receipt)) {
      return "receipt_id: 1 to 64 printable characters without '/'";
    }
    if (!store || !valid_store_id(*store)) return "store_id: not a store id";
    if (!printable_id(till)) return "till_id: 1 to 64 printable characters without '/'";
    if (!seen.insert(key).second) return "the same receipt appears earlier in the file";
    auto customer = f["customer_id"];
    if (!customer || !printable_id(*customer)) {
      return "customer_id: 1 to 64 printable characters without '/'";
    }
    auto t = f["occurred_at"];
    auto at = t ? hq::parse_rfc3339_ms(*t) : std::nullopt;
    if (!at) return "occurred_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
    if (*at > now + kMsPerDay) return "occurred_at: more than a day in the future";
    int64_t amount = 0;
    if (!parse_int(f["amount_minor"].value_or(""), 0, kMaxAmountMinor, amount)) {
      return "amount_minor: a whole number of minor units from 0 to 10^15";
    }
    auto currency = f["currency"];
    if (!currency || !upper(*currency, 3) || !Currency::from_code(*currency)) {
      return "currency: an ISO 4217 code like EUR";
    }
    int64_t points = 0;
    if (auto p = f["points"]; p && !parse_int(*p, 0, 1'000'000'000, points)) {
      return "points: a whole number from 0 to 1000000000";
    }
    const std::string event_id = ids.next().to_string();
    std::optional<std::string> available_at, expires_at;
    if (points > 0) {
      // Earned when the sale was: pending and expiring from then, as the programme says.
      Lot lot = open_lot(facts.lots, facts.zone, event_id, *at, points);
      available_at = format_utc_iso8601(lot.available_at_ms);
      if (lot.expires_at_ms != kNeverExpires) expires_at = format_utc_iso8601(lot.expires_at_ms);
    }
    const int64_t day = day_of_ms(facts.zone.to_local_ms(*at));
    pg::CopyRow(stage) << line << key << event_id << *customer << *store << till << *receipt
                       << format_utc_iso8601(*at) << amount << *currency << points << day
                       << available_at << expires_at;
    return "";
  };
  kind.write = [&](pg::Connection& w, Batch& b) -> Result<int64_t> {
    if (b.rows == 0) return 0;
    static const std::string refused_sql =
        "WITH no_customer AS (DELETE FROM import_stage_receipts s WHERE NOT EXISTS (SELECT 1 "
        "FROM customer c WHERE c.customer_id = s.customer_id AND c.status <> " +
        status_sql(CustomerStatus::kMerged) +
        ") RETURNING "
        "s.line, s.key, 'no customer ' || s.customer_id || ' (import the customers first; a "
        "merged member''s receipts go under the member kept)' AS reason), no_store AS (DELETE "
        "FROM import_stage_receipts s WHERE NOT EXISTS (SELECT 1 FROM store t WHERE t.store_id "
        "= s.store_id) AND s.line NOT IN (SELECT line FROM no_customer) RETURNING s.line, s.key, "
        "'no store ' || s.store_id AS reason), taken AS (DELETE FROM import_stage_receipts s "
        "USING receipt r WHERE r.store_id = s.store_id AND r.till_id = s.till_id AND "
        "r.pos_tx_id = s.pos_tx_id AND s.line NOT IN (SELECT line FROM no_customer UNION ALL "
        "SELECT line FROM no_store) RETURNING s.line, s.key, 'this receipt is in the books "
        "already' AS reason) SELECT * FROM no_customer UNION ALL SELECT * FROM no_store UNION "
        "ALL SELECT * FROM taken";
    ACCRUE_TRY(take_refused(w, refused_sql.c_str(), b));
    ACCRUE_TRY(
        w.exec("INSERT INTO receipt (event_id, customer_id, store_id, till_id, pos_tx_id, "
               "occurred_at, amount_minor, currency, points_earned) SELECT event_id, "
               "customer_id, store_id, till_id, pos_tx_id, occurred_at, amount_minor, currency, "
               "points FROM import_stage_receipts"));
    ACCRUE_TRY(w.query(
        "INSERT INTO ledger (event_id, customer_id, kind, points, amount_minor, currency, "
        "store_id, till_id, pos_tx_id, program_id, program_version, local_day, reason, actor, "
        "occurred_at) SELECT event_id, customer_id, $4::smallint, points, amount_minor, currency, "
        "store_id, till_id, pos_tx_id, $1, $2::int, local_day, 'imported receipt', $3, "
        "occurred_at FROM import_stage_receipts",
        {pg::Param::text(facts.program_id), pg::Param::text(std::to_string(facts.version)),
         pg::Param::text(actor), pg::Param::text(std::to_string(to_int(LedgerKind::kAccrual)))}));
    ACCRUE_TRY(
        w.exec("INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, "
               "expires_at, points, remaining) SELECT event_id, customer_id, occurred_at, "
               "available_at, expires_at, points, points FROM import_stage_receipts WHERE "
               "points > 0"));
    ACCRUE_TRY(w.exec(
        "UPDATE balance b SET points = b.points + s.points, lifetime_earned = "
        "b.lifetime_earned + s.points, last_purchase_at = greatest(b.last_purchase_at, s.last), "
        "version = b.version + 1, updated_at = now() FROM (SELECT customer_id, sum(points) AS "
        "points, max(occurred_at) AS last FROM import_stage_receipts GROUP BY 1) s WHERE "
        "b.customer_id = s.customer_id"));
    ACCRUE_TRY(w.exec(
        "INSERT INTO customer_day (customer_id, local_day, earned, qualifying_points, "
        "spend_minor) SELECT customer_id, local_day, sum(points), sum(points), sum(amount_minor) "
        "FROM import_stage_receipts GROUP BY 1, 2 ON CONFLICT (customer_id, local_day) DO "
        "UPDATE SET earned = customer_day.earned + excluded.earned, qualifying_points = "
        "customer_day.qualifying_points + excluded.qualifying_points, spend_minor = "
        "customer_day.spend_minor + excluded.spend_minor"));
    ACCRUE_TRY(
        w.query("INSERT INTO change_feed (kind, customer_id) SELECT DISTINCT $1::smallint, "
                "customer_id FROM import_stage_receipts",
                {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
    ACCRUE_TRY(list_customers(w, "SELECT DISTINCT customer_id FROM import_stage_receipts", b));
    ACCRUE_ASSIGN_OR_RETURN(auto n, w.exec("SELECT count(*) FROM import_stage_receipts"));
    return n.int64(0, 0);
  };
  return run_import(c, kind, options, progress);
}

}  // namespace accrue::cloud
