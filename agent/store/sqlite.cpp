#include "agent/store/sqlite.h"

namespace accrue::agent::sqlite {

Error error_from(int rc, std::string_view what, sqlite3* db) {
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = std::string(what) + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return {ErrorCode::kResourceExhausted, std::string(what) + ": disk full"};
    case SQLITE_IOERR:
      return {ErrorCode::kUnavailable, msg};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {ErrorCode::kDataLoss, msg};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {ErrorCode::kUnavailable, msg};
    case SQLITE_CONSTRAINT:
      return {ErrorCode::kConflict, msg};
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return {ErrorCode::kUnavailable, msg};
    default:
      return {ErrorCode::kInternal, msg};
  }
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    reset();
    return false;
  }
  Error e = error_from(rc, "sqlite step", db_);
  reset();
  return std::unexpected(e);
}

Result<void> Stmt::run() {
  for (;;) {
    ACCRUE_ASSIGN_OR_RETURN(auto r, step());
    if (!r) return {};
  }
}

Result<Db> Db::open(const std::string& path, Mode mode, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int flags =
      SQLITE_OPEN_NOMUTEX |
      (mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db;
  db.db_.reset(raw);
  if (rc != SQLITE_OK) return std::unexpected(error_from(rc, "open " + path, raw));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  return db;
}

Result<void> Db::exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string detail = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Error e = error_from(rc, "sqlite exec", db_.get());
    e.message = "sqlite: " + detail;
    if ((rc & 0xff) == SQLITE_FULL) e.message = "sqlite: disk full";
    return std::unexpected(e);
  }
  return {};
}

Result<Stmt> Db::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(error_from(rc, "sqlite prepare", db_.get()));
  return Stmt(db_.get(), s);
}

Result<int64_t> Db::scalar(std::string_view sql) {
  ACCRUE_ASSIGN_OR_RETURN(auto st, prepare(sql));
  ACCRUE_ASSIGN_OR_RETURN(auto row, st.step());
  if (!row) return fail(ErrorCode::kInternal, "sqlite: no row for a scalar query");
  int64_t v = st.int64(0);
  st.reset();
  return v;
}

Result<Transaction> Transaction::begin(Db& db) {
  ACCRUE_TRY(db.exec("BEGIN IMMEDIATE"));
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_) (void)db_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
  auto r = db_->exec("COMMIT");
  if (r) db_ = nullptr;
  return r;
}

}  // namespace accrue::agent::sqlite
