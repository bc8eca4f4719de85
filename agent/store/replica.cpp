#include "agent/store/replica.h"

#include "agent/store/schema.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace accrue::agent {
namespace {

// Fetches the prepared statement for `sql` into `name`, or returns its error.
#define ACCRUE_STMT(name, sql)                       \
  auto name##_prepared = q(sql);                     \
  if (!name##_prepared) {                            \
    return std::unexpected(name##_prepared.error()); \
  }                                                  \
  sqlite::Stmt& name = **name##_prepared

// Column lists shared by the queries that read whole rows, in the order customer_from and
// ledger_from read them. Macros, so each query stays one string literal (statements are cached
// by the literal's address).
#define ACCRUE_CUSTOMER_COLUMNS(t)                                                            \
#t "customer_id, " #t "status, " #t "tier_id, " #t "display_name, " #t "home_store_id, " #t \
     "confirmed_available, " #t "confirmed_pending, " #t "confirmed_as_of, " #t               \
     "qualifying_value, " #t "local_debit, " #t "birthday_month, " #t "birthday_day, " #t     \
     "enrolled_at"
#define ACCRUE_LEDGER_COLUMNS                                                          \
  "seq, event_id, kind, owner, points, amount_minor, currency, occurred_at, till_id, " \
  "pos_tx_id, program_version, confirmed"

std::string_view bytes(const IdentifierHash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

Result<void> configure(sqlite::Db& db, bool writer) {
  // WAL: readers never block the writer. synchronous=FULL: a commit is on disk when it returns
  // (invariant "durable before acknowledged", docs/architecture.md). The Checkpointer copies the
  // WAL back in the background; the writer's own automatic checkpoint past ~64 MiB is the safety
  // net that bounds the WAL, which is then truncated back to 64 MiB.
  if (writer) {
    ACCRUE_TRY(db.exec("PRAGMA journal_mode=WAL"));
    ACCRUE_TRY(db.exec("PRAGMA journal_size_limit=67108864"));
    ACCRUE_TRY(db.exec("PRAGMA wal_autocheckpoint=16000"));
  }
  ACCRUE_TRY(db.exec("PRAGMA synchronous=FULL"));
  ACCRUE_TRY(db.exec("PRAGMA foreign_keys=OFF"));
  ACCRUE_TRY(db.exec("PRAGMA cache_size=-4096"));  // 4 MiB per connection
  ACCRUE_TRY(db.exec("PRAGMA temp_store=MEMORY"));
  return {};
}

CustomerRow customer_from(const sqlite::Stmt& st) {
  CustomerRow c;
  c.customer_id = st.text(0);
  c.status = static_cast<int>(st.int64(1));
  c.tier_id = st.text(2);
  c.display_name = st.text(3);
  c.home_store_id = st.text(4);
  c.confirmed_available = st.int64(5);
  c.confirmed_pending = st.int64(6);
  c.confirmed_as_of = st.int64(7);
  c.qualifying_value = st.int64(8);
  c.local_debit = st.int64(9);
  c.birthday_month = static_cast<int>(st.int64(10));
  c.birthday_day = static_cast<int>(st.int64(11));
  c.enrolled_at = st.int64(12);
  return c;
}

}  // namespace

std::string provisional_owner(const IdentifierHash& hash) { return "h:" + to_hex(hash); }

int Replica::schema_version() { return static_cast<int>(kMigrations.size()); }

Result<Replica> Replica::open_writer(const std::string& path) {
  auto db = sqlite::Db::open(path, sqlite::Db::Mode::kReadWrite);
  if (!db) return std::unexpected(db.error());
  {
    auto st = db->prepare("PRAGMA quick_check");
    if (!st) return std::unexpected(st.error());
    auto row = st->step();
    if (!row) return fail(ErrorCode::kDataLoss, "replica " + path + ": " + row.error().message);
    std::string verdict(st->text(0));
    st->reset();
    if (verdict != "ok") {
      return fail(ErrorCode::kDataLoss, "replica " + path + " failed quick_check: " + verdict +
                                            " (restore it or delete it to rebuild from the cloud)");
    }
  }
  ACCRUE_TRY(configure(*db, true));
  auto version = db->scalar("PRAGMA user_version");
  if (!version) return std::unexpected(version.error());
  const int64_t known = schema_version();
  if (*version > known) {
    return fail(ErrorCode::kFailedPrecondition,
                "replica " + path + " has schema version " + std::to_string(*version) +
                    ", newer than this agent's " + std::to_string(known) +
                    ": upgrade accrue-agent");
  }
  for (int64_t v = *version; v < known; ++v) {
    auto tx = sqlite::Transaction::begin(*db);
    if (!tx) return std::unexpected(tx.error());
    ACCRUE_TRY(db->exec(kMigrations[static_cast<size_t>(v)]));
    ACCRUE_TRY(db->exec("PRAGMA user_version=" + std::to_string(v + 1)));
    ACCRUE_TRY(tx->commit());
  }
  return Replica(std::move(*db));
}

Result<Replica> Replica::open_reader(const std::string& path) {
  auto db = sqlite::Db::open(path, sqlite::Db::Mode::kReadOnly);
  if (!db) return std::unexpected(db.error());
  ACCRUE_TRY(configure(*db, false));
  ACCRUE_TRY(db->exec("PRAGMA query_only=1"));
  return Replica(std::move(*db));
}

Result<sqlite::Stmt*> Replica::q(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return &it->second;
  auto st = db_.prepare(sql);
  if (!st) return std::unexpected(st.error());
  return &stmts_.emplace(sql, std::move(*st)).first->second;
}

Result<void> Replica::control(const char* sql) {
  ACCRUE_STMT(st, sql);
  return st.run();
}

Result<void> Replica::begin_read() {
  ACCRUE_STMT(st, "BEGIN");
  return st.run();
}

Result<void> Replica::read_at(uint64_t generation) {
  if (in_read()) {
    if (generation == snapshot_generation_) return {};
    end_read();
  }
  // `generation` was read before BEGIN and the snapshot starts at the first read after it, so the
  // snapshot is never older than its label: a stale label only costs one renewal too many.
  ACCRUE_TRY(begin_read());
  snapshot_generation_ = generation;
  return {};
}

bool Replica::in_read() const { return sqlite3_get_autocommit(db_.raw()) == 0; }

void Replica::end_read() {
  if (!in_read()) return;
  auto st = q("COMMIT");
  if (st) (void)(*st)->run();
}

Result<std::optional<std::string>> Replica::customer_for_hash(const IdentifierHash& hash) {
  ACCRUE_STMT(st, "SELECT customer_id FROM identifier WHERE hash = ?");
  st.bind_blob(1, bytes(hash));
  return st.first([](const sqlite::Stmt& s) { return std::string(s.text(0)); });
}

Result<std::optional<CustomerRow>> Replica::customer(std::string_view customer_id) {
  ACCRUE_STMT(st, "SELECT " ACCRUE_CUSTOMER_COLUMNS(c.) " FROM customer c WHERE c.customer_id = ?");
  st.bind(1, customer_id);
  return st.first(customer_from);
}

Result<std::optional<CustomerRow>> Replica::customer_by_hash(const IdentifierHash& hash) {
  ACCRUE_STMT(st,
              "SELECT " ACCRUE_CUSTOMER_COLUMNS(c.)
              " FROM identifier i JOIN customer c ON c.customer_id = i.customer_id "
              "WHERE i.hash = ?");
  st.bind_blob(1, bytes(hash));
  return st.first(customer_from);
}

Result<std::optional<Replica::MemberBalance>> Replica::member_balance(const IdentifierHash& hash,
                                                                      TimestampMs now) {
  // Lots count as in balance_of (common/engine/lots.h): not expired, then pending before
  // available_at and available after.
  ACCRUE_STMT(st,
              "SELECT " ACCRUE_CUSTOMER_COLUMNS(c.) ", "
              "COALESCE((SELECT SUM(remaining) FROM lot l WHERE l.owner = c.customer_id "
              "AND l.remaining > 0 AND l.available_at <= ?2 AND ?2 < l.expires_at), 0), "
              "COALESCE((SELECT SUM(remaining) FROM lot l WHERE l.owner = c.customer_id "
              "AND l.remaining > 0 AND ?2 < l.available_at AND ?2 < l.expires_at), 0) "
              "FROM identifier i JOIN customer c ON c.customer_id = i.customer_id "
              "WHERE i.hash = ?1");
  st.bind_blob(1, bytes(hash)).bind(2, now);
  return st.first([](const sqlite::Stmt& s) {
    return MemberBalance{customer_from(s), s.int64(13), s.int64(14)};
  });
}

Result<std::vector<Lot>> Replica::lots(std::string_view owner) {
  ACCRUE_STMT(st,
              "SELECT seq, earned_at, available_at, expires_at, points, remaining FROM lot "
              "WHERE owner = ? AND remaining > 0 ORDER BY earned_at, seq");
  st.bind(1, owner);
  return st.all([](const sqlite::Stmt& s) {
    return Lot{
        std::to_string(s.int64(0)), s.int64(1), s.int64(2), s.int64(3), s.int64(4), s.int64(5)};
  });
}

Result<std::optional<ReceiptRow>> Replica::receipt(std::string_view till_id,
                                                   std::string_view pos_tx_id) {
  ACCRUE_STMT(st,
              "SELECT kind, fingerprint, response, seq FROM receipt "
              "WHERE till_id = ? AND pos_tx_id = ?");
  st.bind(1, till_id).bind(2, pos_tx_id);
  return st.first([](const sqlite::Stmt& s) {
    ReceiptRow r{static_cast<int>(s.int64(0)), std::string(s.blob(1)), std::string(s.blob(2)),
                 s.is_null(3) ? std::nullopt : std::optional<int64_t>(s.int64(3))};
    return r;
  });
}

namespace {
LedgerRow ledger_from(const sqlite::Stmt& st) {
  LedgerRow r;
  r.seq = st.int64(0);
  r.event_id = st.blob(1);
  r.kind = static_cast<int>(st.int64(2));
  r.owner = st.text(3);
  r.points = st.int64(4);
  if (!st.is_null(5)) r.amount_minor = st.int64(5);
  r.currency = st.text(6);
  r.occurred_at = st.int64(7);
  r.till_id = st.text(8);
  r.pos_tx_id = st.text(9);
  r.program_version = st.int64(10);
  r.confirmed = st.int64(11) != 0;
  return r;
}
}  // namespace

Result<std::vector<LedgerRow>> Replica::transactions(std::string_view owner, int64_t before_seq,
                                                     int limit) {
  ACCRUE_STMT(st, "SELECT " ACCRUE_LEDGER_COLUMNS
                  " FROM ledger WHERE owner = ? AND seq < ? ORDER BY seq DESC LIMIT ?");
  st.bind(1, owner).bind(2, before_seq).bind(3, limit);
  return st.all(ledger_from);
}

Result<std::optional<LedgerRow>> Replica::ledger_entry(int64_t seq) {
  ACCRUE_STMT(st, "SELECT " ACCRUE_LEDGER_COLUMNS " FROM ledger WHERE seq = ?");
  st.bind(1, seq);
  return st.first(ledger_from);
}

Result<std::vector<SaleLineRow>> Replica::sale_lines(int64_t seq) {
  ACCRUE_STMT(st,
              "SELECT line_no, quantity_milli, points, returned_quantity_milli, points_reversed "
              "FROM sale_line WHERE seq = ? ORDER BY line_no");
  st.bind(1, seq);
  return st.all([](const sqlite::Stmt& s) {
    return SaleLineRow{static_cast<uint32_t>(s.int64(0)), s.int64(1), s.int64(2), s.int64(3),
                       s.int64(4)};
  });
}

Result<OutboxStats> Replica::outbox_stats() {
  ACCRUE_STMT(st,
              "SELECT (SELECT rows FROM queue_size WHERE name = 'outbox'), "
              "(SELECT MIN(created_at) FROM outbox), "
              "(SELECT rows FROM queue_size WHERE name = 'quarantine')");
  auto stats = st.first([](const sqlite::Stmt& s) {
    OutboxStats o;
    o.depth = s.int64(0);
    if (!s.is_null(1)) o.oldest_created_at = s.int64(1);
    o.quarantined = s.int64(2);
    return o;
  });
  if (!stats) return std::unexpected(stats.error());
  return stats->value_or(OutboxStats{});
}

Result<std::vector<QuarantineRow>> Replica::quarantine(int64_t after_seq, int limit) {
  ACCRUE_STMT(st,
              "SELECT seq, event_id, body, reject_code, message, quarantined_at FROM quarantine "
              "WHERE seq > ? ORDER BY seq LIMIT ?");
  st.bind(1, after_seq).bind(2, static_cast<int64_t>(limit));
  return st.all([](const sqlite::Stmt& s) {
    return QuarantineRow{s.int64(0),
                         std::string(s.blob(1)),
                         std::string(s.blob(2)),
                         std::string(s.text(3)),
                         std::string(s.text(4)),
                         s.int64(5)};
  });
}

Result<std::vector<OutboxEntry>> Replica::outbox_batch(int64_t after_seq, int max_events,
                                                       size_t max_bytes, bool* more) {
  ACCRUE_STMT(st, "SELECT seq, event_id, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
  st.bind(1, after_seq).bind(2, static_cast<int64_t>(max_events) + 1);
  std::vector<OutboxEntry> out;
  size_t bytes = 0;
  if (more) *more = false;
  for (;;) {
    auto row = st.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const auto body = st.blob(2);
    if (std::cmp_greater_equal(out.size(), max_events) ||
        (!out.empty() && bytes + body.size() > max_bytes)) {
      if (more) *more = true;
      break;
    }
    bytes += body.size();
    out.push_back({st.int64(0), std::string(st.blob(1)), std::string(body)});
  }
  st.reset();
  return out;
}

Result<std::optional<std::string>> Replica::meta(std::string_view key) {
  ACCRUE_STMT(st, "SELECT value FROM meta WHERE key = ?");
  st.bind(1, key);
  return st.first([](const sqlite::Stmt& s) { return std::string(s.text(0)); });
}

Result<std::optional<int64_t>> Replica::meta_int(std::string_view key) {
  auto v = meta(key);
  if (!v) return std::unexpected(v.error());
  if (!*v) return std::nullopt;
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars((*v)->data(), (*v)->data() + (*v)->size(), out);
  if (ec != std::errc() || ptr != (*v)->data() + (*v)->size()) {
    return fail(ErrorCode::kDataLoss, "replica: meta " + std::string(key) + " is not an integer");
  }
  return out;
}

Result<std::optional<std::string>> Replica::latest_program_body() {
  ACCRUE_STMT(st, "SELECT body FROM program ORDER BY installed_at DESC, version DESC LIMIT 1");
  return st.first([](const sqlite::Stmt& s) { return std::string(s.blob(0)); });
}

Result<std::optional<std::string>> Replica::latest_program_version() {
  ACCRUE_STMT(st,
              "SELECT program_id || ':' || version FROM program ORDER BY installed_at DESC, "
              "version DESC LIMIT 1");
  return st.first([](const sqlite::Stmt& s) { return std::string(s.text(0)); });
}

Result<std::pair<int64_t, int64_t>> Replica::daily(std::string_view owner, int64_t day) {
  ACCRUE_STMT(st, "SELECT earned, redeemed_offline FROM daily WHERE owner = ? AND day = ?");
  st.bind(1, owner).bind(2, day);
  auto v = st.first([](const sqlite::Stmt& s) { return std::pair{s.int64(0), s.int64(1)}; });
  if (!v) return std::unexpected(v.error());
  return v->value_or(std::pair<int64_t, int64_t>{0, 0});
}

Result<int64_t> Replica::offline_outstanding() {
  auto v = meta_int("offline_outstanding");
  if (!v) return std::unexpected(v.error());
  return v->value_or(0);
}

Result<void> Replica::add_offline_outstanding(int64_t points) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES ('offline_outstanding', ?1) "
              "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?1");
  return st.bind(1, points).run();
}

Result<void> Replica::set_meta(std::string_view key, std::string_view value) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  return st.bind(1, key).bind(2, value).run();
}

Result<void> Replica::insert_program(std::string_view program_id, int64_t version,
                                     std::string_view body, TimestampMs now) {
  ACCRUE_STMT(st,
              "INSERT OR REPLACE INTO program (program_id, version, body, installed_at) "
              "VALUES (?, ?, ?, ?)");
  return st.bind(1, program_id).bind(2, version).bind_blob(3, body).bind(4, now).run();
}

Result<void> Replica::upsert_customer(const CustomerRow& c) {
  ACCRUE_STMT(st,
              "INSERT OR REPLACE INTO customer (customer_id, status, tier_id, display_name, "
              "home_store_id, confirmed_available, confirmed_pending, confirmed_as_of, "
              "qualifying_value, local_debit, birthday_month, birthday_day, enrolled_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  return st.bind(1, c.customer_id)
      .bind(2, c.status)
      .bind(3, c.tier_id)
      .bind(4, c.display_name)
      .bind(5, c.home_store_id)
      .bind(6, c.confirmed_available)
      .bind(7, c.confirmed_pending)
      .bind(8, c.confirmed_as_of)
      .bind(9, c.qualifying_value)
      .bind(10, c.local_debit)
      .bind(11, c.birthday_month)
      .bind(12, c.birthday_day)
      .bind(13, c.enrolled_at)
      .run();
}

Result<void> Replica::link_identifier(const IdentifierHash& hash, std::string_view customer_id) {
  ACCRUE_STMT(st, "INSERT INTO identifier (hash, customer_id) VALUES (?, ?)");
  return st.bind_blob(1, bytes(hash)).bind(2, customer_id).run();
}

Result<void> Replica::add_local_debit(std::string_view customer_id, int64_t points) {
  ACCRUE_STMT(st, "UPDATE customer SET local_debit = local_debit + ? WHERE customer_id = ?");
  return st.bind(1, points).bind(2, customer_id).run();
}

Result<int64_t> Replica::insert_ledger(const LedgerRow& r) {
  ACCRUE_STMT(st,
              "INSERT INTO ledger (seq, event_id, kind, owner, points, amount_minor, currency, "
              "occurred_at, till_id, pos_tx_id, program_version, confirmed) "
              "VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)");
  st.bind_blob(2, r.event_id).bind(3, r.kind).bind(4, r.owner).bind(5, r.points);
  if (r.amount_minor) {
    st.bind(6, *r.amount_minor).bind(7, r.currency);
  } else {
    st.bind_null(6).bind_null(7);
  }
  ACCRUE_TRY(st.bind(8, r.occurred_at)
                 .bind(9, r.till_id)
                 .bind(10, r.pos_tx_id)
                 .bind(11, r.program_version)
                 .run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_.raw()));
}

Result<void> Replica::insert_outbox(int64_t seq, std::string_view event_id, std::string_view body,
                                    TimestampMs now) {
  ACCRUE_STMT(st, "INSERT INTO outbox (seq, event_id, body, created_at) VALUES (?, ?, ?, ?)");
  return st.bind(1, seq).bind_blob(2, event_id).bind_blob(3, body).bind(4, now).run();
}

Result<bool> Replica::confirm_uploaded(int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM outbox WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  ACCRUE_STMT(mark, "UPDATE ledger SET confirmed = 1 WHERE seq = ?");
  ACCRUE_TRY(mark.bind(1, seq).run());
  return true;
}

Result<bool> Replica::quarantine_event(int64_t seq, std::string_view code, std::string_view message,
                                       TimestampMs now) {
  ACCRUE_STMT(move,
              "INSERT INTO quarantine (seq, event_id, body, reject_code, message, quarantined_at) "
              "SELECT seq, event_id, body, ?, ?, ? FROM outbox WHERE seq = ?");
  ACCRUE_TRY(move.bind(1, code).bind(2, message).bind(3, now).bind(4, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  ACCRUE_STMT(del, "DELETE FROM outbox WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  return true;
}

Result<bool> Replica::resubmit_quarantined(int64_t seq, TimestampMs now) {
  ACCRUE_STMT(move,
              "INSERT INTO outbox (seq, event_id, body, created_at) "
              "SELECT seq, event_id, body, ? FROM quarantine WHERE seq = ?");
  ACCRUE_TRY(move.bind(1, now).bind(2, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  return drop_quarantined(seq);
}

Result<bool> Replica::drop_quarantined(int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM quarantine WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  return sqlite3_changes(db_.raw()) > 0;
}

Result<void> Replica::insert_lot(int64_t seq, std::string_view owner, const Lot& lot) {
  ACCRUE_STMT(st,
              "INSERT INTO lot (seq, owner, earned_at, available_at, expires_at, points, "
              "remaining) VALUES (?, ?, ?, ?, ?, ?, ?)");
  return st.bind(1, seq)
      .bind(2, owner)
      .bind(3, lot.earned_at_ms)
      .bind(4, lot.available_at_ms)
      .bind(5, lot.expires_at_ms)
      .bind(6, lot.points)
      .bind(7, lot.remaining)
      .run();
}

Result<void> Replica::set_lot_remaining(int64_t seq, int64_t remaining) {
  ACCRUE_STMT(st, "UPDATE lot SET remaining = ? WHERE seq = ?");
  return st.bind(1, remaining).bind(2, seq).run();
}

Result<void> Replica::insert_receipt(std::string_view till_id, std::string_view pos_tx_id, int kind,
                                     std::string_view fingerprint, std::string_view response,
                                     std::optional<int64_t> seq, TimestampMs now) {
  ACCRUE_STMT(st,
              "INSERT INTO receipt (till_id, pos_tx_id, kind, fingerprint, response, seq, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, till_id).bind(2, pos_tx_id).bind(3, kind).bind_blob(4, fingerprint);
  st.bind_blob(5, response);
  if (seq) {
    st.bind(6, *seq);
  } else {
    st.bind_null(6);
  }
  return st.bind(7, now).run();
}

Result<void> Replica::insert_online_redemption(const OnlineRedemptionRow& row) {
  ACCRUE_STMT(st,
              "INSERT INTO online_redemption (till_id, pos_tx_id, event_id, fingerprint, owner, "
              "envelope, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, row.till_id).bind(2, row.pos_tx_id).bind_blob(3, row.event_id);
  st.bind_blob(4, row.fingerprint).bind(5, row.owner).bind_blob(6, row.envelope);
  return st.bind(7, row.created_at).run();
}

namespace {
OnlineRedemptionRow online_redemption_from(const sqlite::Stmt& s) {
  return {std::string(s.text(0)),
          std::string(s.text(1)),
          std::string(s.blob(2)),
          std::string(s.blob(3)),
          std::string(s.text(4)),
          std::string(s.blob(5)),
          s.int64(6)};
}
}  // namespace

Result<std::optional<OnlineRedemptionRow>> Replica::online_redemption(std::string_view till_id,
                                                                      std::string_view pos_tx_id) {
  ACCRUE_STMT(st,
              "SELECT till_id, pos_tx_id, event_id, fingerprint, owner, envelope, created_at "
              "FROM online_redemption WHERE till_id = ? AND pos_tx_id = ?");
  st.bind(1, till_id).bind(2, pos_tx_id);
  return st.first(online_redemption_from);
}

Result<std::vector<OnlineRedemptionRow>> Replica::online_redemptions() {
  ACCRUE_STMT(st,
              "SELECT till_id, pos_tx_id, event_id, fingerprint, owner, envelope, created_at "
              "FROM online_redemption ORDER BY created_at");
  return st.all(online_redemption_from);
}

Result<std::optional<int64_t>> Replica::oldest_online_redemption() {
  ACCRUE_STMT(st, "SELECT MIN(created_at) FROM online_redemption");
  auto row = st.first([](const sqlite::Stmt& s) {
    return s.is_null(0) ? std::optional<int64_t>() : std::optional<int64_t>(s.int64(0));
  });
  if (!row) return std::unexpected(row.error());
  return row->value_or(std::nullopt);
}

Result<void> Replica::delete_online_redemption(std::string_view till_id,
                                               std::string_view pos_tx_id) {
  ACCRUE_STMT(st, "DELETE FROM online_redemption WHERE till_id = ? AND pos_tx_id = ?");
  return st.bind(1, till_id).bind(2, pos_tx_id).run();
}

Result<void> Replica::insert_sale_line(int64_t seq, const SaleLineRow& l) {
  ACCRUE_STMT(st,
              "INSERT INTO sale_line (seq, line_no, quantity_milli, points) VALUES (?, ?, ?, ?)");
  return st.bind(1, seq).bind(2, l.line_no).bind(3, l.quantity_milli).bind(4, l.points).run();
}

Result<void> Replica::add_returned(int64_t seq, uint32_t line_no, int64_t quantity_milli,
                                   int64_t points) {
  ACCRUE_STMT(st,
              "UPDATE sale_line SET returned_quantity_milli = returned_quantity_milli + ?, "
              "points_reversed = points_reversed + ? WHERE seq = ? AND line_no = ?");
  return st.bind(1, quantity_milli).bind(2, points).bind(3, seq).bind(4, line_no).run();
}

Result<void> Replica::add_daily(std::string_view owner, int64_t day, int64_t earned,
                                int64_t redeemed_offline) {
  ACCRUE_STMT(st,
              "INSERT INTO daily (owner, day, earned, redeemed_offline) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (owner, day) DO UPDATE SET earned = earned + excluded.earned, "
              "redeemed_offline = redeemed_offline + excluded.redeemed_offline");
  return st.bind(1, owner).bind(2, day).bind(3, earned).bind(4, redeemed_offline).run();
}

Result<void> Replica::set_ledger_ref(int64_t seq, int64_t ref_seq) {
  ACCRUE_STMT(st, "UPDATE ledger SET ref_seq = ? WHERE seq = ?");
  return st.bind(1, ref_seq).bind(2, seq).run();
}

Result<std::optional<int64_t>> Replica::ledger_ref(int64_t seq) {
  ACCRUE_STMT(st, "SELECT ref_seq FROM ledger WHERE seq = ? AND ref_seq IS NOT NULL");
  st.bind(1, seq);
  return st.first([](const sqlite::Stmt& s) { return s.int64(0); });
}

Result<std::vector<LedgerRow>> Replica::member_events_after(std::string_view customer_id,
                                                            int64_t after_seq) {
  ACCRUE_STMT(ids, "SELECT hash FROM identifier WHERE customer_id = ?");
  ids.bind(1, customer_id);
  auto hashes = ids.all([](const sqlite::Stmt& s) { return std::string(s.blob(0)); });
  if (!hashes) return std::unexpected(hashes.error());
  std::vector<std::string> owners = {std::string(customer_id)};
  ACCRUE_STMT(aliases, "SELECT alias FROM customer_alias WHERE customer_id = ?");
  aliases.bind(1, customer_id);
  auto alias_rows = aliases.all([](const sqlite::Stmt& s) { return std::string(s.text(0)); });
  if (!alias_rows) return std::unexpected(alias_rows.error());
  owners.insert(owners.end(), alias_rows->begin(), alias_rows->end());
  for (const auto& h : *hashes) {
    owners.push_back("h:" +
                     to_hex(std::span(reinterpret_cast<const uint8_t*>(h.data()), h.size())));
  }
  std::vector<LedgerRow> out;
  ACCRUE_STMT(st, "SELECT " ACCRUE_LEDGER_COLUMNS " FROM ledger WHERE owner = ? AND seq > ?");
  for (const auto& owner : owners) {
    st.bind(1, owner).bind(2, after_seq);
    auto rows = st.all(ledger_from);
    if (!rows) return std::unexpected(rows.error());
    out.insert(out.end(), rows->begin(), rows->end());
  }
  std::ranges::sort(out, {}, &LedgerRow::seq);
  return out;
}

Result<int64_t> Replica::confirmed_through(std::string_view customer_id) {
  ACCRUE_STMT(st, "SELECT confirmed_through_seq FROM customer WHERE customer_id = ?");
  st.bind(1, customer_id);
  auto v = st.first([](const sqlite::Stmt& s) { return s.int64(0); });
  if (!v) return std::unexpected(v.error());
  return v->value_or(0);
}

Result<void> Replica::set_confirmed_through(std::string_view customer_id, int64_t seq) {
  ACCRUE_STMT(st, "UPDATE customer SET confirmed_through_seq = ? WHERE customer_id = ?");
  return st.bind(1, seq).bind(2, customer_id).run();
}

Result<void> Replica::set_local_debit(std::string_view customer_id, int64_t points) {
  ACCRUE_STMT(st, "UPDATE customer SET local_debit = ? WHERE customer_id = ?");
  return st.bind(1, points).bind(2, customer_id).run();
}

Result<void> Replica::rebase_lots(std::string_view owner, int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM lot WHERE owner = ? AND seq <= ?");
  ACCRUE_TRY(del.bind(1, owner).bind(2, seq).run());
  ACCRUE_STMT(reset, "UPDATE lot SET remaining = points WHERE owner = ? AND seq > ?");
  return reset.bind(1, owner).bind(2, seq).run();
}

Result<void> Replica::remove_customer(std::string_view customer_id) {
  ACCRUE_STMT(ids, "DELETE FROM identifier WHERE customer_id = ?");
  ACCRUE_TRY(ids.bind(1, customer_id).run());
  ACCRUE_STMT(st, "DELETE FROM customer WHERE customer_id = ?");
  return st.bind(1, customer_id).run();
}

Result<void> Replica::mark_rebuilt(std::string_view customer_id, int64_t generation) {
  ACCRUE_STMT(st, "UPDATE customer SET rebuild_mark = ? WHERE customer_id = ?");
  return st.bind(1, generation).bind(2, customer_id).run();
}

Result<int64_t> Replica::sweep_not_rebuilt(int64_t generation) {
  // Kept: members of this rebuild, provisional members, and members with local events the
  // cloud has not confirmed.
  ACCRUE_STMT(ids,
              "DELETE FROM identifier WHERE customer_id IN (SELECT c.customer_id FROM "
              "customer c WHERE c.rebuild_mark <> ? AND c.status <> ? AND NOT EXISTS "
              "(SELECT 1 FROM ledger l WHERE l.owner = c.customer_id AND l.confirmed = 0))");
  ACCRUE_TRY(ids.bind(1, generation).bind(2, kStatusProvisional).run());
  ACCRUE_STMT(del,
              "DELETE FROM customer WHERE rebuild_mark <> ? AND status <> ? AND NOT EXISTS "
              "(SELECT 1 FROM ledger l WHERE l.owner = customer.customer_id AND "
              "l.confirmed = 0)");
  ACCRUE_TRY(del.bind(1, generation).bind(2, kStatusProvisional).run());
  return static_cast<int64_t>(sqlite3_changes(db_.raw()));
}

Result<void> Replica::relink_identifier(const IdentifierHash& hash, std::string_view customer_id) {
  ACCRUE_STMT(st, "UPDATE identifier SET customer_id = ? WHERE hash = ?");
  return st.bind(1, customer_id).bind_blob(2, bytes(hash)).run();
}

Result<void> Replica::map_temporary_id(std::string_view temp_id, std::string_view customer_id) {
  ACCRUE_STMT(alias,
              "INSERT INTO customer_alias (alias, customer_id) VALUES (?, ?) "
              "ON CONFLICT (alias) DO UPDATE SET customer_id = excluded.customer_id");
  ACCRUE_TRY(alias.bind(1, temp_id).bind(2, customer_id).run());
  ACCRUE_STMT(ids, "UPDATE identifier SET customer_id = ? WHERE customer_id = ?");
  ACCRUE_TRY(ids.bind(1, customer_id).bind(2, temp_id).run());
  ACCRUE_TRY(reassign_owner(temp_id, customer_id));
  auto real = customer(customer_id);
  if (!real) return std::unexpected(real.error());
  if (*real) {
    ACCRUE_STMT(del, "DELETE FROM customer WHERE customer_id = ?");
    return del.bind(1, temp_id).run();
  }
  ACCRUE_STMT(rename, "UPDATE customer SET customer_id = ? WHERE customer_id = ?");
  return rename.bind(1, customer_id).bind(2, temp_id).run();
}

Result<bool> Replica::reassign_owner(std::string_view from, std::string_view to) {
  ACCRUE_STMT(a, "UPDATE lot SET owner = ? WHERE owner = ?");
  ACCRUE_TRY(a.bind(1, to).bind(2, from).run());
  const bool moved = sqlite3_changes(db_.raw()) > 0;
  ACCRUE_STMT(c,
              "UPDATE daily SET owner = ? WHERE owner = ? AND NOT EXISTS "
              "(SELECT 1 FROM daily d WHERE d.owner = ? AND d.day = daily.day)");
  ACCRUE_TRY(c.bind(1, to).bind(2, from).bind(3, to).run());
  return moved;
}

}  // namespace accrue::agent
