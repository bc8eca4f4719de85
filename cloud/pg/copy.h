// COPY ... FROM STDIN in PostgreSQL's text format: one line per row, tab between columns, \N for
// NULL, backslash escapes for what would break the format. The one encoder behind every COPY the
// service sends (ingestion's append-only rows, the imports' stage tables and reject reports).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace accrue::cloud::pg {

// Appends `v` escaped for a COPY text column (without the NULL marker).
void append_copy_escaped(std::string& out, std::string_view v);

// One row of COPY text: columns in order, the line break when the row goes out of scope.
//   CopyRow(out) << job << line_no << std::nullopt;
class CopyRow {
 public:
  explicit CopyRow(std::string& out) : out_(out) {}
  CopyRow(const CopyRow&) = delete;
  CopyRow& operator=(const CopyRow&) = delete;
  ~CopyRow() { out_ += '\n'; }

  CopyRow& null() {
    next();
    out_ += "\\N";
    return *this;
  }
  CopyRow& operator<<(std::string_view v) {
    next();
    append_copy_escaped(out_, v);
    return *this;
  }
  CopyRow& operator<<(const std::string& v) { return *this << std::string_view(v); }
  CopyRow& operator<<(const char* v) { return *this << std::string_view(v); }
  CopyRow& operator<<(const std::optional<std::string>& v) {
    return v ? *this << std::string_view(*v) : null();
  }
  CopyRow& operator<<(std::nullopt_t) { return null(); }
  CopyRow& operator<<(int64_t v) {
    next();
    out_ += std::to_string(v);
    return *this;
  }
  // A raw, already-formatted column (a number, a timestamp, "t"/"f", a "\\x..." bytea).
  CopyRow& raw(std::string_view v) {
    next();
    out_ += v;
    return *this;
  }

 private:
  void next() {
    if (!first_) out_ += '\t';
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace accrue::cloud::pg
