#include "cloud/pg/pg.h"

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
  std::string msg = raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_.get());
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

Result<PgResult> Connection::exec(const char* sql) { return check(PQexec(conn_.get(), sql)); }

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
  if (prepare_) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "a" + std::to_string(prepared_.size() + 1);
      auto made = check(
          PQprepare(conn_.get(), name.c_str(), sql, static_cast<int>(params.size()), nullptr));
      if (!made) return std::unexpected(made.error());
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    return check(PQexecPrepared(conn_.get(), it->second.c_str(), static_cast<int>(params.size()),
                                values.data(), lengths.data(), formats.data(), 0));
  }
  return check(PQexecParams(conn_.get(), sql, static_cast<int>(params.size()), nullptr,
                            values.data(), lengths.data(), formats.data(), 0));
}

Result<void> Connection::copy_in(const std::string& sql, std::string_view data) {
  PGconn* c = conn_.get();
  PGresult* start = PQexec(c, sql.c_str());
  if (PQresultStatus(start) != PGRES_COPY_IN) {
    auto r = check(start);  // the statement's own error
    if (!r) return std::unexpected(r.error());
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
