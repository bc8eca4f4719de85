// A thin RAII layer over SQLite: connections, prepared statements and transactions, with
// SQLite's result codes turned into accrue::Error. Not thread-safe: one Db per thread (SQLite
// connections are opened with SQLITE_OPEN_NOMUTEX).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.h"

namespace accrue::agent::sqlite {

// ErrorCode for a SQLite result code: SQLITE_FULL -> kResourceExhausted ("disk full"),
// SQLITE_IOERR -> kUnavailable, SQLITE_CORRUPT/NOTADB -> kDataLoss, SQLITE_BUSY/LOCKED ->
// kUnavailable, SQLITE_CONSTRAINT -> kConflict, anything else kInternal.
Error error_from(int rc, std::string_view what, sqlite3* db = nullptr);

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), stmt_(s, &sqlite3_finalize) {}

  Stmt& bind(int index, int64_t v) {
    sqlite3_bind_int64(stmt_.get(), index, v);
    return *this;
  }
  Stmt& bind(int index, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int index, std::span<const uint8_t> v) {
    sqlite3_bind_blob(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_blob(int index, std::string_view v) {
    sqlite3_bind_blob(stmt_.get(), index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_null(int index) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
  }

  // true: a row is ready; false: done. Resets automatically when done or on error.
  Result<bool> step();
  // Runs to completion (for statements without rows).
  Result<void> run();
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  // The first row as `read(*this)` makes it, or nullopt when there is none; resets afterwards.
  template <typename Read>
  auto first(Read read) -> Result<std::optional<std::invoke_result_t<Read, const Stmt&>>> {
    ACCRUE_ASSIGN_OR_RETURN(auto row, step());
    if (!row) return std::nullopt;
    auto value = read(static_cast<const Stmt&>(*this));
    reset();
    return value;
  }
  // Every row as `read(*this)` makes it.
  template <typename Read>
  auto all(Read read) -> Result<std::vector<std::invoke_result_t<Read, const Stmt&>>> {
    std::vector<std::invoke_result_t<Read, const Stmt&>> out;
    for (;;) {
      ACCRUE_ASSIGN_OR_RETURN(auto row, step());
      if (!row) return out;
      out.push_back(read(static_cast<const Stmt&>(*this)));
    }
  }

  int64_t int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string_view text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string_view();
  }
  std::string_view blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_.get(), col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string_view();
  }

 private:
  sqlite3* db_ = nullptr;
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt_{nullptr, &sqlite3_finalize};
};

class Db {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  // Opens (and for kReadWrite creates) the file. Sets a busy timeout.
  static Result<Db> open(const std::string& path, Mode mode, int busy_timeout_ms = 5000);

  Result<void> exec(std::string_view sql);
  // A statement kept for the connection's lifetime SQLITE_PREPARE_PERSISTENT.
  Result<Stmt> prepare(std::string_view sql);
  // The single integer result of `sql` (PRAGMA user_version, COUNT(*) ...).
  Result<int64_t> scalar(std::string_view sql);

  sqlite3* raw() const { return db_.get(); }

 private:
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db_{nullptr, &sqlite3_close_v2};
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Db& db) : db_(&db) {}
  Db* db_;
};

}  // namespace accrue::agent::sqlite
