// A thin, owning wrapper over libpq: one connection, results, parameters. Nothing here is
// thread-safe; a Connection is used by one thread at a time (the Pool hands it out).
//
// Statements go out as unnamed extended-protocol queries (PQexecParams): no session state, so the
// same code works directly against Postgres and through PgBouncer in transaction mode. Errors carry
// the SQLSTATE class: connection failures and serialization/deadlock aborts map to kUnavailable
// (retryable), unique violations to kAlreadyExists, everything else to kInternal.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"

namespace accrue::cloud::pg {

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}

  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  int64_t int64(int row, int col) const;  // a text-format integer column; 0 when NULL
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Command tag row count for INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  std::shared_ptr<PGresult> r_;
};

// One statement parameter: text (default) or binary (bytea), or SQL NULL.
struct Param {
  std::optional<std::string_view> value;
  bool binary = false;

  static Param text(std::string_view v) { return {v, false}; }
  static Param bytes(std::string_view v) { return {v, true}; }
  static Param null() { return {std::nullopt, false}; }
};

class Connection {
 public:
  // Connects with `dsn` (a libpq connection string or URI). The host is resolved here, once per
  // connection, never per request.
  static Result<Connection> connect(const std::string& dsn, std::chrono::seconds timeout);

  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;

  // A statement without parameters (may hold several, separated by ';').
  Result<PgResult> exec(const char* sql);
  // One statement with $1..$n parameters, text results.
  Result<PgResult> query(const char* sql, std::span<const Param> params = {});
  Result<PgResult> query(const char* sql, std::initializer_list<Param> params) {
    return query(sql, std::span<const Param>(params.begin(), params.size()));
  }
  Result<PgResult> query(const std::string& sql, std::initializer_list<Param> params) {
    return query(sql.c_str(), params);
  }

  // COPY ... FROM STDIN with `data` in COPY text format. Errors map like query()'s (a unique
  // violation is kAlreadyExists); on error nothing of this COPY is kept.
  Result<void> copy_in(const std::string& sql, std::string_view data);

  // Named prepared statements for query(): each distinct SQL text is prepared once on this
  // connection and then only executed, so PostgreSQL plans it once (planning a query over the
  // monthly ledger partitions costs ~10 ms, measured). Needs a session of its own: off behind a
  // pooler in transaction mode that does not track prepared statements.
  void use_prepared_statements(bool on) { prepare_ = on; }

  // How long a statement may wait for its answer (0: forever). A server that does not answer in
  // time (frozen, partitioned, stuck on a lock) costs the caller this much at most: the
  // connection is dropped, which the server sees as a disconnect and rolls back, and the call
  // fails with kUnavailable. The pool sets it on every lease.
  void set_answer_timeout(std::chrono::milliseconds t) { answer_timeout_ = t; }
  // True once a statement ran out of answer_timeout (the connection is then gone).
  bool timed_out() const { return timed_out_; }

  // False once the server connection is gone: the pool then drops it.
  bool healthy() const;
  PGconn* raw() { return conn_.get(); }

 private:
  explicit Connection(PGconn* c) : conn_(c, &PQfinish) {}
  Result<PgResult> check(PGresult* r);
  // After a PQsend*: waits (up to answer_timeout_) for the statement's results and returns the
  // last one, or the first error, as PQexec would; nullptr (and the connection dropped) when
  // the server did not answer in time.
  PGresult* await_result();
  Result<PgResult> finish(bool sent);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::chrono::milliseconds answer_timeout_{0};
  bool timed_out_ = false;
  bool prepare_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

// A text[] literal ({"a","b"}) of `items`, quoted and escaped, for a `$n::text[]` parameter.
std::string text_array(const std::vector<std::string>& items);

// Text for a bytea column in text format ("\x...") decoded to bytes; nullopt when malformed.
std::optional<std::string> decode_bytea(std::string_view text);

// Runs `body` inside BEGIN ... COMMIT (ROLLBACK on error or when body fails).
template <typename F>
auto in_transaction(Connection& c, F&& body) -> decltype(body()) {
  ACCRUE_TRY(c.exec("BEGIN"));
  auto r = body();
  if (!r) {
    (void)c.exec("ROLLBACK");
    return r;
  }
  ACCRUE_TRY(c.exec("COMMIT"));
  return r;
}

}  // namespace accrue::cloud::pg
