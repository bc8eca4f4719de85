#include "cloud/core/import.h"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
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

Result<std::optional<std::vector<std::string>>> CsvReader::next() {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, any = false, after_quote = false;
  std::string line;
  line_ = consumed_ + 1;
  // One physical line at a time, bounded: a file without line breaks (or a quote never closed)
  // is refused instead of read whole into memory.
  constexpr size_t kMaxRecord = 1 << 20;
  auto next_line = [&](std::string& out) -> Result<bool> {
    out.clear();
    auto* buf = in_.rdbuf();
    for (;;) {
      const int ch = buf->sbumpc();
      if (ch == std::char_traits<char>::eof()) return !out.empty();
      if (ch == '\n') return true;
      out += static_cast<char>(ch);
      if (out.size() + field.size() > kMaxRecord) {
        return fail(ErrorCode::kInvalidArgument,
                    "line " + std::to_string(line_) + ": a record longer than 1 MiB");
      }
    }
  };
  for (;;) {
    ACCRUE_ASSIGN_OR_RETURN(auto more, next_line(line));
    if (!more) break;
    ++consumed_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    any = true;
    for (size_t i = 0; i < line.size(); ++i) {
      const char ch = line[i];
      if (quoted) {
        if (ch == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            quoted = false;
            after_quote = true;
          }
        } else {
          field += ch;
        }
      } else if (ch == ',') {
        fields.push_back(std::move(field));
        field.clear();
        after_quote = false;
      } else if (ch == '"' && field.empty() && !after_quote) {
        quoted = true;
      } else {
        field += ch;
      }
    }
    if (quoted) {
      field += '\n';  // a line break inside a quoted field
      continue;
    }
    fields.push_back(std::move(field));
    return std::optional(std::move(fields));
  }
  if (quoted) {
    return fail(ErrorCode::kInvalidArgument,
                "line " + std::to_string(line_) + ": a quoted field is never closed");
  }
  if (any) {
    fields.push_back(std::move(field));
    return std::optional(std::move(fields));
  }
  return std::optional<std::vector<std::string>>();
}

Result<std::vector<ImportReject>> import_rejects(pg::Connection& c, const std::string& job) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT line, key, reason FROM import_reject WHERE job = $1 ORDER BY line",
                      {pg::Param::text(job)}));
  std::vector<ImportReject> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.int64(i, 0), std::string(r.text(i, 1)), std::string(r.text(i, 2))});
  }
  return out;
}

namespace importing {
namespace {

Result<int64_t> write_batch(pg::Connection& c, const ImportKind& kind, const std::string& job,
                            Batch& b) {
  auto body = [&]() -> Result<int64_t> {
    if (b.rows > 0) ACCRUE_TRY(c.copy_in(kind.stage_copy.c_str(), b.stage));
    auto imported = kind.write(c, b);
    if (!imported) return imported;
    if (!b.rejects.empty()) {
      std::string rd;
      for (const auto& r : b.rejects) {
        pg::CopyRow(rd) << job << r.line << r.key << r.reason;
      }
      ACCRUE_TRY(c.copy_in("COPY import_reject (job, line, key, reason) FROM STDIN", rd));
    }
    ACCRUE_TRY(
        c.query("INSERT INTO import_batch (job, batch_no, imported, rejected) VALUES ($1, "
                "$2::bigint, $3::int, $4::int)",
                {pg::Param::text(job), pg::Param::text(std::to_string(b.no)),
                 pg::Param::text(std::to_string(*imported)),
                 pg::Param::text(std::to_string(b.rejects.size()))}));
    return imported;
  };
  ACCRUE_TRY(c.exec("BEGIN"));
  auto imported = body();
  if (!imported) {
    (void)c.exec("ROLLBACK");
    return imported;
  }
  ACCRUE_TRY(c.exec("COMMIT"));
  return imported;
}

// The header of an import file: each known column's position, and how many there are.
struct Columns {
  std::map<std::string, size_t> by_name;
  size_t width = 0;
};

Result<Columns> read_header(CsvReader& csv, const ImportKind& kind, const std::string& file) {
  ACCRUE_ASSIGN_OR_RETURN(auto header, csv.next());
  if (!header) return fail(ErrorCode::kInvalidArgument, file + ": the file is empty");
  Columns out;
  out.width = header->size();
  for (size_t i = 0; i < out.width; ++i) {
    std::string name = (*header)[i];
    if (i == 0 && name.starts_with("\xEF\xBB\xBF")) name = name.substr(3);  // a UTF-8 BOM
    if (std::ranges::find(kind.columns, name) == kind.columns.end()) {
      std::string known;
      for (const auto& k : kind.columns) known += (known.empty() ? "" : ", ") + k;
      return fail(ErrorCode::kInvalidArgument,
                  file + ": unknown column \"" + name + "\" (known: " + known + ")");
    }
    if (!out.by_name.emplace(name, i).second) {
      return fail(ErrorCode::kInvalidArgument, file + ": column " + name + " twice");
    }
  }
  for (const auto& r : kind.required) {
    if (!out.by_name.contains(r)) {
      return fail(ErrorCode::kInvalidArgument, file + ": the " + r + " column is required");
    }
  }
  if (kind.check_columns) ACCRUE_TRY(kind.check_columns(out.by_name));
  return out;
}

// The import job a run belongs to (created on first run): its batch size, kept from its first
// run so batch n is the same lines, and the batches already committed.
struct Job {
  std::string name;
  int64_t batch_size = 0;
  std::set<int64_t> committed;
};

Result<Job> open_job(pg::Connection& c, const ImportKind& kind, const ImportOptions& options) {
  Job out;
  out.name = job_name(options);
  ACCRUE_TRY(
      c.query("INSERT INTO import_job (job, kind, file, batch_size) VALUES ($1, $2, $3, $4::int) "
              "ON CONFLICT (job) DO NOTHING",
              {pg::Param::text(out.name), pg::Param::text(kind.name), pg::Param::text(options.file),
               pg::Param::text(std::to_string(options.batch))}));
  ACCRUE_ASSIGN_OR_RETURN(
      auto job, c.query("SELECT kind, batch_size, finished_at IS NOT NULL FROM import_job WHERE "
                        "job = $1",
                        {pg::Param::text(out.name)}));
  if (job.text(0, 0) != kind.name) {
    return fail(ErrorCode::kFailedPrecondition,
                "job " + out.name + " is not a " + kind.name + " import");
  }
  if (job.boolean(0, 2)) {
    return fail(ErrorCode::kFailedPrecondition,
                "job " + out.name + " finished already; give another --job to import again");
  }
  out.batch_size = job.int64(0, 1);
  ACCRUE_ASSIGN_OR_RETURN(auto b, c.query("SELECT batch_no FROM import_batch WHERE job = $1",
                                          {pg::Param::text(out.name)}));
  for (int i = 0; i < b.rows(); ++i) out.committed.insert(b.int64(i, 0));
  return out;
}

}  // namespace

// Refused rows as the writers' DELETE ... RETURNING line, key, reason statements report them.
Result<void> take_refused(pg::Connection& c, const char* sql, Batch& b) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.exec(sql));
  for (int i = 0; i < r.rows(); ++i) {
    b.rejects.push_back({r.int64(i, 0), std::string(r.text(i, 1)), std::string(r.text(i, 2))});
  }
  return {};
}

Result<void> list_customers(pg::Connection& c, const char* sql, Batch& b) {
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.exec(sql));
  for (int i = 0; i < r.rows(); ++i) b.customers.emplace_back(r.text(i, 0));
  return {};
}

// The job a run resumes: --job, or the file's name.
std::string job_name(const ImportOptions& options) {
  return options.job.empty() ? std::filesystem::path(options.file).filename().string()
                             : options.job;
}

Result<ImportReport> run_import(pg::Connection& c, const ImportKind& kind,
                                const ImportOptions& options,
                                const std::function<void(int64_t)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return fail(ErrorCode::kInvalidArgument, "cannot read " + options.file);
  CsvReader csv(in);
  ACCRUE_ASSIGN_OR_RETURN(auto columns, read_header(csv, kind, options.file));
  const std::map<std::string, size_t>& col = columns.by_name;
  ImportReport report;
  ACCRUE_ASSIGN_OR_RETURN(auto job, open_job(c, kind, options));
  report.job = job.name;
  const int64_t batch_size = job.batch_size;
  const std::set<int64_t>& committed = job.committed;

  // Writers: this connection and options.workers - 1 more, each committing whole batches.
  std::vector<pg::Connection*> conns{&c};
  std::vector<pg::Connection> more;
  for (int i = 1; i < options.workers && options.connect_more; ++i) {
    ACCRUE_ASSIGN_OR_RETURN(auto m, options.connect_more());
    more.push_back(std::move(m));
  }
  for (auto& m : more) conns.push_back(&m);
  for (auto* w : conns) ACCRUE_TRY(w->exec(kind.stage_table.c_str()));

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  bool done_reading = false;
  std::optional<Error> failed;
  int64_t imported = 0, rejected = 0, lines_written = 0;
  auto worker = [&](pg::Connection* w) {
    for (;;) {
      Batch b;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || done_reading || failed; });
        if (failed || queue.empty()) return;
        b = std::move(queue.front());
        queue.pop_front();
      }
      cv.notify_all();
      const int64_t lines = b.rows + static_cast<int64_t>(b.rejects.size());
      auto n = write_batch(*w, kind, report.job, b);
      if (n && options.on_commit && !b.customers.empty()) options.on_commit(b.customers);
      std::lock_guard lock(mu);
      if (!n) {
        if (!failed) failed = n.error();
        cv.notify_all();
        return;
      }
      imported += *n;
      rejected += static_cast<int64_t>(b.rejects.size());
      lines_written += lines;
      if (progress) progress(lines_written + report.skipped);
    }
  };
  std::vector<std::thread> threads;
  for (auto* w : conns) threads.emplace_back(worker, w);
  auto push = [&](Batch&& b) -> bool {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return queue.size() < conns.size() * 2 || failed; });
    if (failed) return false;
    queue.push_back(std::move(b));
    cv.notify_all();
    return true;
  };
  auto finish_workers = [&] {
    {
      std::lock_guard lock(mu);
      done_reading = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  };

  Batch batch;
  int64_t data_lines = 0;
  Result<void> read_result;
  for (;;) {
    auto rec = csv.next();
    if (!rec) {
      read_result = std::unexpected(rec.error());
      break;
    }
    if (!*rec) break;
    const auto& f = **rec;
    if (f.size() == 1 && f[0].empty()) continue;  // a blank line
    const int64_t batch_no = data_lines / batch_size;
    ++data_lines;
    const bool skip = committed.contains(batch_no);
    const int64_t line = csv.line();
    if (skip) {
      ++report.skipped;
    } else {
      std::string key, why;
      const size_t before = batch.stage.size();
      if (f.size() != columns.width) {
        why = "has " + std::to_string(f.size()) + " fields, the header " +
              std::to_string(columns.width);
      } else {
        why = kind.parse(Record(col, f), line, key, batch.stage);
      }
      if (why.empty()) {
        ++batch.rows;
      } else {
        batch.stage.resize(before);  // a half-written stage line goes
        batch.rejects.push_back({line, key, why});
      }
    }
    if (data_lines % batch_size == 0) {
      if (!skip) {
        batch.no = batch_no;
        if (!push(std::move(batch))) break;
      }
      batch = Batch{};
    }
  }
  if (read_result && (batch.rows > 0 || !batch.rejects.empty())) {
    batch.no = data_lines == 0 ? 0 : (data_lines - 1) / batch_size;
    if (!committed.contains(batch.no)) push(std::move(batch));
  }
  finish_workers();
  report.lines = data_lines - report.skipped;
  report.imported = imported;
  report.rejected = rejected;
  if (!read_result) return std::unexpected(read_result.error());
  if (failed) return std::unexpected(*failed);
  ACCRUE_TRY(c.query("UPDATE import_job SET finished_at = now(), lines = $2::bigint WHERE job = $1",
                     {pg::Param::text(report.job), pg::Param::text(std::to_string(data_lines))}));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

Result<ProgramFacts> program_facts(pg::Connection& c, ProgramCatalog& programs) {
  SystemClock clock;
  ACCRUE_ASSIGN_OR_RETURN(auto program, programs.latest(c, clock.now_ms()));
  const auto& p = program->program;
  return ProgramFacts{p.program_id, p.version,
                      p.tiers.ladder.empty() ? "" : p.tiers.ladder.front().tier_id, p.lots,
                      program->zone};
}

}  // namespace importing
}  // namespace accrue::cloud
