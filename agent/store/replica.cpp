#include "agent/store/replica.h"

#include "agent/store/replica_rows.h"
#include "agent/store/schema.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace accrue::agent {

using namespace replica_rows;

namespace {

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

}  // namespace

std::string provisional_owner(const IdentifierHash& hash) { return "h:" + to_hex(hash); }

int Replica::schema_version() { return static_cast<int>(kMigrations.size()); }

Result<Replica> Replica::open_writer(const std::string& path) {
  ACCRUE_ASSIGN_OR_RETURN(auto db, sqlite::Db::open(path, sqlite::Db::Mode::kReadWrite));
  {
    ACCRUE_ASSIGN_OR_RETURN(auto st, db.prepare("PRAGMA quick_check"));
    auto row = st.step();
    if (!row) return fail(ErrorCode::kDataLoss, "replica " + path + ": " + row.error().message);
    std::string verdict(st.text(0));
    st.reset();
    if (verdict != "ok") {
      return fail(ErrorCode::kDataLoss, "replica " + path + " failed quick_check: " + verdict +
                                            " (restore it or delete it to rebuild from the cloud)");
    }
  }
  ACCRUE_TRY(configure(db, true));
  ACCRUE_ASSIGN_OR_RETURN(auto version, db.scalar("PRAGMA user_version"));
  const int64_t known = schema_version();
  if (version > known) {
    return fail(ErrorCode::kFailedPrecondition,
                "replica " + path + " has schema version " + std::to_string(version) +
                    ", newer than this agent's " + std::to_string(known) +
                    ": upgrade accrue-agent");
  }
  for (int64_t v = version; v < known; ++v) {
    ACCRUE_ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::begin(db));
    ACCRUE_TRY(db.exec(kMigrations[static_cast<size_t>(v)]));
    ACCRUE_TRY(db.exec("PRAGMA user_version=" + std::to_string(v + 1)));
    ACCRUE_TRY(tx.commit());
  }
  return Replica(std::move(db));
}

Result<Replica> Replica::open_reader(const std::string& path) {
  ACCRUE_ASSIGN_OR_RETURN(auto db, sqlite::Db::open(path, sqlite::Db::Mode::kReadOnly));
  ACCRUE_TRY(configure(db, false));
  ACCRUE_TRY(db.exec("PRAGMA query_only=1"));
  return Replica(std::move(db));
}

Result<sqlite::Stmt*> Replica::q(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return &it->second;
  ACCRUE_ASSIGN_OR_RETURN(auto st, db_.prepare(sql));
  return &stmts_.emplace(sql, std::move(st)).first->second;
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

Result<std::optional<TillWriteRow>> Replica::till_write(std::string_view till_id,
                                                        std::string_view pos_tx_id) {
  ACCRUE_STMT(st,
              "SELECT kind, fingerprint, response, seq FROM receipt "
              "WHERE till_id = ? AND pos_tx_id = ?");
  st.bind(1, till_id).bind(2, pos_tx_id);
  return st.first([](const sqlite::Stmt& s) {
    TillWriteRow r{static_cast<int>(s.int64(0)), std::string(s.blob(1)), std::string(s.blob(2)),
                   s.is_null(3) ? std::nullopt : std::optional<int64_t>(s.int64(3))};
    return r;
  });
}

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
              "SELECT line_no, quantity_milli, points, returned_quantity_milli, points_reversed, "
              "amount_minor FROM sale_line WHERE seq = ? ORDER BY line_no");
  st.bind(1, seq);
  return st.all([](const sqlite::Stmt& s) {
    return SaleLineRow{static_cast<uint32_t>(s.int64(0)),
                       s.int64(1),
                       s.int64(2),
                       s.int64(3),
                       s.int64(4),
                       s.int64(5)};
  });
}

Result<std::optional<int64_t>> Replica::sale_paid_by(int64_t redemption_seq) {
  ACCRUE_STMT(st, "SELECT sale_seq FROM sale_redemption WHERE redemption_seq = ?");
  st.bind(1, redemption_seq);
  return st.first([](const sqlite::Stmt& s) { return s.int64(0); });
}

Result<SaleRedeemed> Replica::sale_redeemed(int64_t sale_seq) {
  ACCRUE_STMT(st,
              "SELECT (SELECT COALESCE(SUM(points), 0) FROM sale_redemption WHERE sale_seq = ?1), "
              "(SELECT COALESCE(MAX(refunded), 0) FROM sale_refund WHERE sale_seq = ?1)");
  st.bind(1, sale_seq);
  ACCRUE_ASSIGN_OR_RETURN(auto v, st.first([](const sqlite::Stmt& s) {
    return SaleRedeemed{s.int64(0), s.int64(1)};
  }));
  return v.value_or(SaleRedeemed{});
}

Result<OutboxStats> Replica::outbox_stats() {
  ACCRUE_STMT(st,
              "SELECT (SELECT rows FROM queue_size WHERE name = 'outbox'), "
              "(SELECT MIN(created_at) FROM outbox), "
              "(SELECT rows FROM queue_size WHERE name = 'quarantine')");
  ACCRUE_ASSIGN_OR_RETURN(auto stats, st.first([](const sqlite::Stmt& s) {
    OutboxStats o;
    o.depth = s.int64(0);
    if (!s.is_null(1)) o.oldest_created_at = s.int64(1);
    o.quarantined = s.int64(2);
    return o;
  }));
  return stats.value_or(OutboxStats{});
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
    ACCRUE_ASSIGN_OR_RETURN(auto row, st.step());
    if (!row) break;
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
  ACCRUE_ASSIGN_OR_RETURN(auto v, meta(key));
  if (!v) return std::nullopt;
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
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
  ACCRUE_ASSIGN_OR_RETURN(auto v, st.first([](const sqlite::Stmt& s) {
    return std::pair{s.int64(0), s.int64(1)};
  }));
  return v.value_or(std::pair<int64_t, int64_t>{0, 0});
}

Result<int64_t> Replica::offline_outstanding() {
  ACCRUE_ASSIGN_OR_RETURN(auto v, meta_int("offline_outstanding"));
  return v.value_or(0);
}

Result<void> Replica::add_offline_outstanding(int64_t points) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES ('offline_outstanding', ?1) "
              "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?1");
  return st.bind(1, points).run();
}

}  // namespace accrue::agent
