// `accrue-cloud import customers` (import.h): the kind's checks and its batch writer.
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

namespace {

// A batch of staged members written: the rows the database refuses taken out and reported,
// then the members with their balances, personal data, cards and opening-balance lots.
Result<int64_t> write_customers(pg::Connection& w, Batch& b, const std::string& tier,
                                const std::string& actor) {
  if (b.rows > 0) {
    // Rows the database refuses: taken ids and cards, unknown stores.
    ACCRUE_TRY(take_refused(
        w,
        "WITH id_taken AS (DELETE FROM import_stage_customers s USING customer c WHERE "
        "c.customer_id = s.customer_id RETURNING s.line, s.customer_id, 'a customer with this "
        "id exists' AS reason), card_taken AS (DELETE FROM import_stage_customers s USING "
        "identifier i WHERE i.hash = s.card_hash AND s.line NOT IN (SELECT line FROM id_taken) "
        "RETURNING s.line, s.customer_id, 'the card belongs to another member' AS reason), "
        "no_store AS (DELETE FROM import_stage_customers s WHERE s.home_store_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM store t WHERE t.store_id = s.home_store_id) AND s.line "
        "NOT IN (SELECT line FROM id_taken UNION ALL SELECT line FROM card_taken) RETURNING "
        "s.line, s.customer_id, 'no store ' || s.home_store_id AS reason) SELECT * FROM "
        "id_taken UNION ALL SELECT * FROM card_taken UNION ALL SELECT * FROM no_store",
        b));
  }
  ACCRUE_TRY(
      w.query("INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, country, "
              "currency) SELECT customer_id, $1, home_store_id, coalesce(enrolled_at, now()), "
              "coalesce(country, ''), coalesce(currency, '') FROM import_stage_customers",
              {pg::Param::text(tier)}));
  ACCRUE_TRY(
      w.exec("INSERT INTO balance (customer_id, points, lifetime_earned, version) SELECT "
             "customer_id, points, points, 1 FROM import_stage_customers"));
  ACCRUE_TRY(
      w.exec("INSERT INTO customer_pii (customer_id, display_name, email, phone) SELECT "
             "customer_id, coalesce(display_name, ''), email, phone FROM "
             "import_stage_customers WHERE display_name IS NOT NULL OR email IS NOT NULL OR "
             "phone IS NOT NULL"));
  ACCRUE_TRY(
      w.exec("INSERT INTO identifier (hash, kind, customer_id, masked) SELECT card_hash, "
             "'card', customer_id, card_masked FROM import_stage_customers WHERE card_hash IS "
             "NOT NULL"));
  ACCRUE_TRY(w.query(
      "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
      "SELECT event_id, customer_id, $2::smallint, points, 'opening balance (import)', $1, "
      "now() FROM import_stage_customers WHERE points > 0",
      {pg::Param::text(actor), pg::Param::text(std::to_string(to_int(LedgerKind::kAdjustment)))}));
  ACCRUE_TRY(
      w.exec("INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, "
             "expires_at, points, remaining) SELECT event_id, customer_id, now(), "
             "available_at, expires_at, points, points FROM import_stage_customers WHERE "
             "points > 0"));
  ACCRUE_TRY(
      w.query("INSERT INTO change_feed (kind, customer_id) SELECT $1::smallint, customer_id "
              "FROM import_stage_customers",
              {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
  // The members written (on_commit: the cache, and the claims of those with a card).
  ACCRUE_TRY(list_customers(w, "SELECT customer_id FROM import_stage_customers ORDER BY line", b));
  return static_cast<int64_t>(b.customers.size());
}

}  // namespace

Result<ImportReport> import_customers(pg::Connection& c, ProgramCatalog& programs,
                                      const ImportOptions& options,
                                      const std::function<void(int64_t)>& progress) {
  std::optional<IdentifierHasher> hasher;
  if (options.identifier_key) {
    ACCRUE_ASSIGN_OR_RETURN(auto h, IdentifierHasher::create(*options.identifier_key));
    hasher.emplace(std::move(h));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto facts, program_facts(c, programs));
  LotPolicy opening = facts.lots;
  opening.pending_days = 0;  // an opening balance is available at once
  const std::string job = job_name(options);
  const std::string actor = options.actor + ":" + job;

  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  std::unordered_set<std::string> seen_ids, seen_cards;  // within the file, for duplicates

  ImportKind kind;
  kind.name = "customers";
  kind.columns = {"customer_id", "display_name",  "email",       "phone", "country",
                  "currency",    "home_store_id", "enrolled_at", "card",  "points"};
  kind.required = {"customer_id"};
  kind.stage_table =
      "CREATE TEMP TABLE IF NOT EXISTS import_stage_customers (line bigint, customer_id text, "
      "display_name text, email text, phone text, country text, currency text, home_store_id "
      "text, enrolled_at timestamptz, card_hash bytea, card_masked text, points bigint, event_id "
      "uuid, available_at timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS";
  kind.stage_copy = "COPY import_stage_customers FROM STDIN";
  kind.check_columns = [&](const std::map<std::string, size_t>& col) -> Result<void> {
    if (col.contains("card") && !hasher) {
      return fail(ErrorCode::kInvalidArgument,
                  "the file has cards: the programme key is needed (auth.identifier_key_file)");
    }
    return {};
  };
  kind.parse = [&](const Record& f, int64_t line, std::string& key,
                   std::string& stage) -> std::string {
    auto id = f["customer_id"];
    key = id.value_or("");
    if (!id || !printable_id(*id)) return "customer_id: 1 to 64 printable characters without '/'";
    if (!seen_ids.insert(*id).second) return "customer_id appears earlier in the file";
    auto display_name = f["display_name"];
    if (display_name && (!hq::utf8_length(*display_name) || display_name->size() > 600)) {
      return "display_name: not UTF-8 text of at most 200 characters";
    }
    auto country = f["country"];
    if (country && !upper(*country, 2)) return "country: an ISO 3166-1 code like DE";
    auto currency = f["currency"];
    if (currency && !upper(*currency, 3)) return "currency: an ISO 4217 code like EUR";
    std::optional<std::string> email, phone, enrolled_at, card_hash, card_masked;
    if (auto e = f["email"]) {
      auto n = normalize_email(*e);
      if (!n) return "email: " + n.error().message;
      email = *n;
    }
    if (auto p = f["phone"]) {
      auto n = normalize_phone(*p, country.value_or(""));
      if (!n) return "phone: " + n.error().message;
      phone = *n;
    }
    auto home_store = f["home_store_id"];
    if (home_store && !valid_store_id(*home_store)) return "home_store_id: not a store id";
    if (auto t = f["enrolled_at"]) {
      auto ms = hq::parse_rfc3339_ms(*t);
      if (!ms) return "enrolled_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
      enrolled_at = format_utc_iso8601(*ms);
    }
    if (auto card = f["card"]) {
      auto n = normalize_card(*card);
      if (!n) return "card: " + n.error().message;
      auto h = hasher->hash({IdentifierKind::kCard, *n});
      if (!seen_cards.insert(std::string(h.begin(), h.end())).second) {
        return "card appears earlier in the file";
      }
      card_hash = "\\x" + to_hex(h);
      card_masked = "\u2022\u2022\u2022\u2022 " + n->substr(n->size() - 4);
    }
    int64_t points = 0;
    if (auto p = f["points"]; p && !parse_int(*p, 0, 1'000'000'000, points)) {
      return "points: a whole number from 0 to 1000000000";
    }
    std::optional<std::string> event_id, available_at, expires_at;  // an opening balance's
    if (points > 0) {
      event_id = ids.next().to_string();
      Lot lot = open_lot(opening, facts.zone, *event_id, now, points);
      available_at = format_utc_iso8601(lot.available_at_ms);
      if (lot.expires_at_ms != kNeverExpires) expires_at = format_utc_iso8601(lot.expires_at_ms);
    }
    pg::CopyRow(stage) << line << *id << display_name << email << phone << country << currency
                       << home_store << enrolled_at << card_hash << card_masked << points
                       << event_id << available_at << expires_at;
    return "";
  };
  kind.write = [&](pg::Connection& w, Batch& b) {
    return write_customers(w, b, facts.tier, actor);
  };
  return run_import(c, kind, options, progress);
}

}  // namespace accrue::cloud
