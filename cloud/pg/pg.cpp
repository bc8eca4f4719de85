#include "cloud/pg/pg.h"

#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace accrue::cloud::pg {

int64_t PgResult::int64(int row, int col) const {
  if (is_null(row, col)) return 0;
  auto t = text(row, col);
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

int64_t PgResult::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

Result<Connection> Connection::connect(const std::string& dsn, std::chrono::seconds timeout) {
  // connect_timeout from the caller unless the DSN sets its own.
  std::string full = dsn;
  if (full.find("connect_timeout") == std::string::npos && full.find("://") == std::string::npos) {
    full += " connect_timeout=" + std::to_string(std::max<int64_t>(1, timeout.count()));
  }
  PGconn* c = PQconnectdb(full.c_str());
  if (c == nullptr) return fail(ErrorCode::kInternal, "libpq could not allocate a connection");
  Connection conn(c);
  // Server notices ("relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return fail(ErrorCode::kUnavailable, "cannot connect to PostgreSQL: " + msg);
  }
  return conn;
}

bool Connection::healthy() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

Result<PgResult> Connection::check(PGresult* raw) {
  PgResult r(raw);
  auto status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
  std::string msg = raw     ? PQresultErrorMessage(raw)
                    : conn_ ? PQerrorMessage(conn_.get())
                            : "the connection was dropped";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view s = state ? state : "";
  ErrorCode code = ErrorCode::kInternal;
  if (!healthy() || s.starts_with("08") || s.starts_with("57P")) {
    code = ErrorCode::kUnavailable;  // connection lost, server shutting down
  } else if (s == "40001" || s == "40P01" || s == "55P03") {
    code = ErrorCode::kUnavailable;  // serialization failure, deadlock, lock timeout: retry
  } else if (s == "57014") {
    code = ErrorCode::kDeadlineExceeded;  // statement timeout
  } else if (s == "23505") {
    code = ErrorCode::kAlreadyExists;
  } else if (s.starts_with("22") || s.starts_with("23")) {
    code = ErrorCode::kInvalidArgument;  // data exception, constraint violation
  }
  return fail(code, "PostgreSQL: " + msg + (s.empty() ? "" : " [" + std::string(s) + "]"));
}

PGresult* Connection::await_result() {
  PGconn* c = conn_.get();
  using Clock = std::chrono::steady_clock;
  const bool bounded = answer_timeout_.count() > 0;
  const auto deadline = Clock::now() + answer_timeout_;
  // Waits until the socket is ready for `events`; false when the deadline passed first.
  auto wait_for = [&](short events) {
    for (;;) {
      int ms = -1;
      if (bounded) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        ms = static_cast<int>(left.count()) + 1;
      }
      pollfd p{PQsocket(c), events, 0};
      int r = ::poll(&p, 1, ms);
      if (r > 0) return true;
      if (r == 0) return false;
      if (errno != EINTR) return true;  // let libpq see and report the socket's error
    }
  };
  auto give_up = [&]() -> PGresult* {
    timed_out_ = true;
    conn_.reset();
    return nullptr;
  };
  // The query may not have left the client buffer yet (a large batch).
  for (int f = PQflush(c); f == 1; f = PQflush(c)) {
    if (!wait_for(POLLOUT | POLLIN)) return give_up();
    if (PQconsumeInput(c) == 0) break;
  }
  PGresult* kept = nullptr;
  for (;;) {
    while (PQisBusy(c) != 0) {
      if (!wait_for(POLLIN)) {
        if (kept) PQclear(kept);
        return give_up();
      }
      if (PQconsumeInput(c) == 0) break;  // the connection failed: PQgetResult says how
    }
    PGresult* r = PQgetResult(c);
    if (r == nullptr) break;
    const auto st = PQresultStatus(r);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      if (kept) PQclear(kept);
      return r;  // the caller goes on with the COPY
    }
    // Like PQexec: the last result, except that an error is kept over what follows it.
    if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
      PQclear(r);
    } else {
      if (kept) PQclear(kept);
      kept = r;
    }
    if (PQstatus(c) == CONNECTION_BAD) break;
  }
  return kept;
}

Result<PgResult> Connection::finish(bool sent) {
  if (!sent) return check(nullptr);  // PQerrorMessage says why it could not be sent
  PGresult* r = await_result();
  if (r == nullptr && timed_out_) {
    return fail(ErrorCode::kUnavailable, "PostgreSQL did not answer within " +
                                             std::to_string(answer_timeout_.count()) +
                                             " ms; the connection was dropped");
  }
  return check(r);
}

Result<PgResult> Connection::exec(const char* sql) {
  if (!conn_) return fail(ErrorCode::kUnavailable, "the PostgreSQL connection was dropped");
  return finish(PQsendQuery(conn_.get(), sql) == 1);
}

Result<PgResult> Connection::query(const char* sql, std::span<const Param> params) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  // Text parameters need a terminating NUL; views may not have one, so copy them.
  std::vector<std::string> owned;
  owned.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (!p.value) {
      values[i] = nullptr;
      continue;
    }
    if (p.binary) {
      values[i] = p.value->data();
      lengths[i] = static_cast<int>(p.value->size());
      formats[i] = 1;
    } else {
      owned.emplace_back(*p.value);
      values[i] = owned.back().c_str();
    }
  }
  if (!conn_) return fail(ErrorCode::kUnavailable, "the PostgreSQL connection was dropped");
  const int n = static_cast<int>(params.size());
  if (prepare_) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "a" + std::to_string(prepared_.size() + 1);
      ACCRUE_TRY(finish(PQsendPrepare(conn_.get(), name.c_str(), sql, n, nullptr) == 1));
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    return finish(PQsendQueryPrepared(conn_.get(), it->second.c_str(), n, values.data(),
                                      lengths.data(), formats.data(), 0) == 1);
  }
  return finish(PQsendQueryParams(conn_.get(), sql, n, nullptr, values.data(), lengths.data(),
                                  formats.data(), 0) == 1);
}

Result<void> Connection::copy_in(const std::string& sql, std::string_view data) {
  if (!conn_) return fail(ErrorCode::kUnavailable, "the PostgreSQL connection was dropped");
  PGconn* c = conn_.get();
  PGresult* start = PQexec(c, sql.c_str());
  if (PQresultStatus(start) != PGRES_COPY_IN) {
    ACCRUE_TRY(check(start));  // the statement's own error
    return fail(ErrorCode::kInternal, "COPY did not start");
  }
  PQclear(start);
  const bool sent = PQputCopyData(c, data.data(), static_cast<int>(data.size())) == 1 &&
                    PQputCopyEnd(c, nullptr) == 1;
  Result<void> out;
  while (PGresult* r = PQgetResult(c)) {
    auto checked = check(r);
    if (!checked && out) out = std::unexpected(checked.error());
  }
  if (!sent && out) {
    return fail(ErrorCode::kUnavailable, std::string("COPY: ") + PQerrorMessage(c));
  }
  return out;
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::optional<std::string> decode_bytea(std::string_view text) {
  if (!text.starts_with("\\x") || text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2 - 1);
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 2; i < text.size(); i += 2) {
    int hi = nib(text[i]), lo = nib(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace accrue::cloud::pg
