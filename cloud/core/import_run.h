// The driver both bulk imports (import.h) run on, and what their two files share: a batch, a
// record read by column name, what one kind of import brings (ImportKind), and the programme's
// facts an import needs. Internal to cloud/core/import*.cpp.
#pragma once

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cloud/core/import.h"
#include "common/engine/lots.h"
#include "common/time_zone.h"

namespace accrue::cloud::importing {

// Exactly `n` capital letters A-Z (a currency or country code).
inline bool upper(const std::string& s, size_t n) {
  return s.size() == n && std::ranges::all_of(s, [](char c) { return c >= 'A' && c <= 'Z'; });
}

// An id a CSV may carry: 1-64 printable ASCII characters, no slash.
inline bool printable_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::ranges::all_of(id, [](char c) { return c > ' ' && c <= '~' && c != '/'; });
}

// A whole decimal number in [lo, hi], nothing else around it.
inline bool parse_int(const std::string& s, int64_t lo, int64_t hi, int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= lo && out <= hi;
}

struct Batch {
  int64_t no = 0;
  std::string stage;  // COPY text of the good rows
  int64_t rows = 0;
  std::vector<ImportReject> rejects;
  std::vector<std::string> customers;  // changed by the batch (filled by the writer)
};

// A data line as the header names its fields (trimmed; empty is absent).
class Record {
 public:
  Record(const std::map<std::string, size_t>& col, const std::vector<std::string>& f)
      : col_(col), f_(f) {}
  std::optional<std::string> operator[](const char* name) const {
    auto it = col_.find(name);
    if (it == col_.end() || it->second >= f_.size()) return std::nullopt;
    std::string v = f_[it->second];
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    size_t lead = 0;
    while (lead < v.size() && (v[lead] == ' ' || v[lead] == '\t')) ++lead;
    v.erase(0, lead);
    if (v.empty()) return std::nullopt;
    return v;
  }

 private:
  const std::map<std::string, size_t>& col_;
  const std::vector<std::string>& f_;
};

// What one kind of import brings to the shared driver (reading, batching, parallel writers,
// resume, the reject report).
struct ImportKind {
  std::string name;  // import_job.kind
  std::vector<std::string> columns;
  std::vector<std::string> required;
  std::string stage_table;  // CREATE TEMP TABLE import_stage_<kind> ... ON COMMIT DELETE ROWS
  std::string stage_copy;   // COPY import_stage_<kind> FROM STDIN
  // Refuses a header the kind cannot take beyond unknown or missing columns (optional).
  std::function<Result<void>(const std::map<std::string, size_t>&)> check_columns;
  // Checks one record. Appends its stage line and answers "" or answers why it is refused;
  // `key` is what the reject report names it by.
  std::function<std::string(const Record&, int64_t line, std::string& key, std::string& stage)>
      parse;
  // In the batch's transaction, after the COPY: takes out (and reports in b.rejects) the rows
  // the database refuses, writes the rest, lists the customers it changed. Answers how many
  // rows were imported.
  std::function<Result<int64_t>(pg::Connection&, Batch& b)> write;
};

// Runs one kind of import: reads and checks the file, writes its batches on the options'
// connections, resumes a job that stopped, and reports.
Result<ImportReport> run_import(pg::Connection& c, const ImportKind& kind,
                                const ImportOptions& options,
                                const std::function<void(int64_t)>& progress);

// Refused rows as the writers' DELETE ... RETURNING line, key, reason statements report them.
Result<void> take_refused(pg::Connection& c, const char* sql, Batch& b);
// The customers a statement lists (its first column), as changed by the batch.
Result<void> list_customers(pg::Connection& c, const char* sql, Batch& b);
// The job a run resumes: --job, or the file's name.
std::string job_name(const ImportOptions& options);

// The programme in force now: the new members' tier, lots' policy and the local days.
struct ProgramFacts {
  std::string program_id;
  uint32_t version = 0;
  std::string tier;
  LotPolicy lots;
  TimeZone zone;
};

Result<ProgramFacts> program_facts(pg::Connection& c, ProgramCatalog& programs);

}  // namespace accrue::cloud::importing
