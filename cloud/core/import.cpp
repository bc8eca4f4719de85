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
    auto more = next_line(line);
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
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

namespace {

bool upper(const std::string& s, size_t n) {
  return s.size() == n && std::ranges::all_of(s, [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool printable_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::ranges::all_of(id, [](char c) { return c > ' ' && c <= '~' && c != '/'; });
}

bool parse_int(const std::string& s, int64_t lo, int64_t hi, int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= lo && out <= hi;
}

}  // namespace

Result<std::vector<ImportReject>> import_rejects(pg::Connection& c, const std::string& job) {
  auto r = c.query("SELECT line, key, reason FROM import_reject WHERE job = $1 ORDER BY line",
                   {pg::Param::text(job)});
  if (!r) return std::unexpected(r.error());
  std::vector<ImportReject> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->int64(i, 0), std::string(r->text(i, 1)), std::string(r->text(i, 2))});
  }
  return out;
}

namespace {

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

// Refused rows as the writers' DELETE ... RETURNING line, key, reason statements report them.
Result<void> take_refused(pg::Connection& c, const char* sql, Batch& b) {
  auto r = c.exec(sql);
  if (!r) return std::unexpected(r.error());
  for (int i = 0; i < r->rows(); ++i) {
    b.rejects.push_back({r->int64(i, 0), std::string(r->text(i, 1)), std::string(r->text(i, 2))});
  }
  return {};
}

Result<void> list_customers(pg::Connection& c, const char* sql, Batch& b) {
  auto r = c.exec(sql);
  if (!r) return std::unexpected(r.error());
  for (int i = 0; i < r->rows(); ++i) b.customers.emplace_back(r->text(i, 0));
  return {};
}

// The job a run resumes: --job, or the file's name.
std::string job_name(const ImportOptions& options) {
  return options.job.empty() ? std::filesystem::path(options.file).filename().string()
                             : options.job;
}

// The header of an import file: each known column's position, and how many there are.
struct Columns {
  std::map<std::string, size_t> by_name;
  size_t width = 0;
};

Result<Columns> read_header(CsvReader& csv, const ImportKind& kind, const std::string& file) {
  auto header = csv.next();
  if (!header) return std::unexpected(header.error());
  if (!*header) return fail(ErrorCode::kInvalidArgument, file + ": the file is empty");
  Columns out;
  out.width = (*header)->size();
  for (size_t i = 0; i < out.width; ++i) {
    std::string name = (**header)[i];
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
  auto job = c.query(
      "SELECT kind, batch_size, finished_at IS NOT NULL FROM import_job WHERE "
      "job = $1",
      {pg::Param::text(out.name)});
  if (!job) return std::unexpected(job.error());
  if (job->text(0, 0) != kind.name) {
    return fail(ErrorCode::kFailedPrecondition,
                "job " + out.name + " is not a " + kind.name + " import");
  }
  if (job->boolean(0, 2)) {
    return fail(ErrorCode::kFailedPrecondition,
                "job " + out.name + " finished already; give another --job to import again");
  }
  out.batch_size = job->int64(0, 1);
  auto b = c.query("SELECT batch_no FROM import_batch WHERE job = $1", {pg::Param::text(out.name)});
  if (!b) return std::unexpected(b.error());
  for (int i = 0; i < b->rows(); ++i) out.committed.insert(b->int64(i, 0));
  return out;
}

Result<ImportReport> run_import(pg::Connection& c, const ImportKind& kind,
                                const ImportOptions& options,
                                const std::function<void(int64_t)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return fail(ErrorCode::kInvalidArgument, "cannot read " + options.file);
  CsvReader csv(in);
  auto columns = read_header(csv, kind, options.file);
  if (!columns) return std::unexpected(columns.error());
  const std::map<std::string, size_t>& col = columns->by_name;
  ImportReport report;
  auto job = open_job(c, kind, options);
  if (!job) return std::unexpected(job.error());
  report.job = job->name;
  const int64_t batch_size = job->batch_size;
  const std::set<int64_t>& committed = job->committed;

  // Writers: this connection and options.workers - 1 more, each committing whole batches.
  std::vector<pg::Connection*> conns{&c};
  std::vector<pg::Connection> more;
  for (int i = 1; i < options.workers && options.connect_more; ++i) {
    auto m = options.connect_more();
    if (!m) return std::unexpected(m.error());
    more.push_back(std::move(*m));
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
      if (f.size() != columns->width) {
        why = "has " + std::to_string(f.size()) + " fields, the header " +
              std::to_string(columns->width);
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

// The programme in force now: the new members' tier, lots' policy and the local days.
struct ProgramFacts {
  std::string program_id;
  uint32_t version = 0;
  std::string tier;
  LotPolicy lots;
  TimeZone zone;
};

Result<ProgramFacts> program_facts(pg::Connection& c, ProgramCatalog& programs) {
  SystemClock clock;
  auto program = programs.latest(c, clock.now_ms());
  if (!program) return std::unexpected(program.error());
  const auto& p = (*program)->program;
  return ProgramFacts{p.program_id, p.version,
                      p.tiers.ladder.empty() ? "" : p.tiers.ladder.front().tier_id, p.lots,
                      (*program)->zone};
}

}  // namespace

// A batch of staged members written: the rows the database refuses taken out and reported,
// then the members with their balances, personal data, cards and opening-balance lots.
Result<int64_t> write_customers(pg::Connection& w, Batch& b, const std::string& tier,
                                const std::string& actor) {
  if (b.rows > 0) {
    // Rows the database refuses: taken ids and cards, unknown stores.
    ACCRUE_TRY(take_refused(
        w,
        "WITH id_taken AS (DELETE FROM import_stage_customers s USING customer c WHERE "
        "c.customer_id = s.customer_id RETURNING s.line, s.customer_id, 'a customer with this "
        "id exists' AS reason), card_taken AS (DELETE FROM import_stage_customers s USING "
        "identifier i WHERE i.hash = s.card_hash AND s.line NOT IN (SELECT line FROM id_taken) "
        "RETURNING s.line, s.customer_id, 'the card belongs to another member' AS reason), "
        "no_store AS (DELETE FROM import_stage_customers s WHERE s.home_store_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM store t WHERE t.store_id = s.home_store_id) AND s.line "
        "NOT IN (SELECT line FROM id_taken UNION ALL SELECT line FROM card_taken) RETURNING "
        "s.line, s.customer_id, 'no store ' || s.home_store_id AS reason) SELECT * FROM "
        "id_taken UNION ALL SELECT * FROM card_taken UNION ALL SELECT * FROM no_store",
        b));
  }
  ACCRUE_TRY(
      w.query("INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, country, "
              "currency) SELECT customer_id, $1, home_store_id, coalesce(enrolled_at, now()), "
              "coalesce(country, ''), coalesce(currency, '') FROM import_stage_customers",
              {pg::Param::text(tier)}));
  ACCRUE_TRY(
      w.exec("INSERT INTO balance (customer_id, points, lifetime_earned, version) SELECT "
             "customer_id, points, points, 1 FROM import_stage_customers"));
  ACCRUE_TRY(
      w.exec("INSERT INTO customer_pii (customer_id, display_name, email, phone) SELECT "
             "customer_id, coalesce(display_name, ''), email, phone FROM "
             "import_stage_customers WHERE display_name IS NOT NULL OR email IS NOT NULL OR "
             "phone IS NOT NULL"));
  ACCRUE_TRY(
      w.exec("INSERT INTO identifier (hash, kind, customer_id, masked) SELECT card_hash, "
             "'card', customer_id, card_masked FROM import_stage_customers WHERE card_hash IS "
             "NOT NULL"));
  ACCRUE_TRY(w.query(
      "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
      "SELECT event_id, customer_id, $2::smallint, points, 'opening balance (import)', $1, "
      "now() FROM import_stage_customers WHERE points > 0",
      {pg::Param::text(actor), pg::Param::text(std::to_string(to_int(LedgerKind::kAdjustment)))}));
  ACCRUE_TRY(
      w.exec("INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, "
             "expires_at, points, remaining) SELECT event_id, customer_id, now(), "
             "available_at, expires_at, points, points FROM import_stage_customers WHERE "
             "points > 0"));
  ACCRUE_TRY(
      w.query("INSERT INTO change_feed (kind, customer_id) SELECT $1::smallint, customer_id "
              "FROM import_stage_customers",
              {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
  auto n = w.exec("SELECT count(*) FROM import_stage_customers");
  if (!n) return std::unexpected(n.error());
  return n->int64(0, 0);
}

Result<ImportReport> import_customers(pg::Connection& c, ProgramCatalog& programs,
                                      const ImportOptions& options,
                                      const std::function<void(int64_t)>& progress) {
  std::optional<IdentifierHasher> hasher;
  if (options.identifier_key) {
    auto h = IdentifierHasher::create(*options.identifier_key);
    if (!h) return std::unexpected(h.error());
    hasher.emplace(std::move(*h));
  }
  auto facts = program_facts(c, programs);
  if (!facts) return std::unexpected(facts.error());
  LotPolicy opening = facts->lots;
  opening.pending_days = 0;  // an opening balance is available at once
  const std::string job = job_name(options);
  const std::string actor = options.actor + ":" + job;

  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  std::unordered_set<std::string> seen_ids, seen_cards;  // within the file, for duplicates

  ImportKind kind;
  kind.name = "customers";
  kind.columns = {"customer_id", "display_name",  "email",       "phone", "country",
                  "currency",    "home_store_id", "enrolled_at", "card",  "points"};
  kind.required = {"customer_id"};
  kind.stage_table =
      "CREATE TEMP TABLE IF NOT EXISTS import_stage_customers (line bigint, customer_id text, "
      "display_name text, email text, phone text, country text, currency text, home_store_id "
      "text, enrolled_at timestamptz, card_hash bytea, card_masked text, points bigint, event_id "
      "uuid, available_at timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS";
  kind.stage_copy = "COPY import_stage_customers FROM STDIN";
  kind.check_columns = [&](const std::map<std::string, size_t>& col) -> Result<void> {
    if (col.contains("card") && !hasher) {
      return fail(ErrorCode::kInvalidArgument,
                  "the file has cards: the programme key is needed (auth.identifier_key_file)");
    }
    return {};
  };
  kind.parse = [&](const Record& f, int64_t line, std::string& key,
                   std::string& stage) -> std::string {
    auto id = f["customer_id"];
    key = id.value_or("");
    if (!id || !printable_id(*id)) return "customer_id: 1 to 64 printable characters without '/'";
    if (!seen_ids.insert(*id).second) return "customer_id appears earlier in the file";
    auto display_name = f["display_name"];
    if (display_name && (!hq::utf8_length(*display_name) || display_name->size() > 600)) {
      return "display_name: not UTF-8 text of at most 200 characters";
    }
    auto country = f["country"];
    if (country && !upper(*country, 2)) return "country: an ISO 3166-1 code like DE";
    auto currency = f["currency"];
    if (currency && !upper(*currency, 3)) return "currency: an ISO 4217 code like EUR";
    std::optional<std::string> email, phone, enrolled_at, card_hash, card_masked;
    if (auto e = f["email"]) {
      auto n = normalize_email(*e);
      if (!n) return "email: " + n.error().message;
      email = *n;
    }
    if (auto p = f["phone"]) {
      auto n = normalize_phone(*p, country.value_or(""));
      if (!n) return "phone: " + n.error().message;
      phone = *n;
    }
    auto home_store = f["home_store_id"];
    if (home_store && !valid_store_id(*home_store)) return "home_store_id: not a store id";
    if (auto t = f["enrolled_at"]) {
      auto ms = hq::parse_rfc3339_ms(*t);
      if (!ms) return "enrolled_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
      enrolled_at = format_utc_iso8601(*ms);
    }
    if (auto card = f["card"]) {
      auto n = normalize_card(*card);
      if (!n) return "card: " + n.error().message;
      auto h = hasher->hash({IdentifierKind::kCard, *n});
      if (!seen_cards.insert(std::string(h.begin(), h.end())).second) {
        return "card appears earlier in the file";
      }
      card_hash = "\\x" + to_hex(h);
      card_masked = "\u2022\u2022\u2022\u2022 " + n->substr(n->size() - 4);
    }
    int64_t points = 0;
    if (auto p = f["points"]; p && !parse_int(*p, 0, 1'000'000'000, points)) {
      return "points: a whole number from 0 to 1000000000";
    }
    std::optional<std::string> event_id, available_at, expires_at;  // an opening balance's
    if (points > 0) {
      event_id = ids.next().to_string();
      Lot lot = open_lot(opening, facts->zone, *event_id, now, points);
      available_at = format_utc_iso8601(lot.available_at_ms);
      if (lot.expires_at_ms != kNeverExpires) expires_at = format_utc_iso8601(lot.expires_at_ms);
    }
    pg::CopyRow(stage) << line << *id << display_name << email << phone << country << currency
                       << home_store << enrolled_at << card_hash << card_masked << points
                       << event_id << available_at << expires_at;
    return "";
  };
  kind.write = [&](pg::Connection& w, Batch& b) {
    return write_customers(w, b, facts->tier, actor);
  };
  return run_import(c, kind, options, progress);
}

Result<ImportReport> import_receipts(pg::Connection& c, ProgramCatalog& programs,
                                     const ImportOptions& options,
                                     const std::function<void(int64_t)>& progress) {
  auto facts = program_facts(c, programs);
  if (!facts) return std::unexpected(facts.error());
  const std::string job = job_name(options);
  const std::string actor = options.actor + ":" + job;

  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  std::unordered_set<std::string> seen;  // store, till, receipt within the file

  ImportKind kind;
  kind.name = "receipts";
  kind.columns = {"receipt_id",  "store_id",     "till_id",  "customer_id",
                  "occurred_at", "amount_minor", "currency", "points"};
  kind.required = {"receipt_id",  "store_id",     "customer_id",
                   "occurred_at", "amount_minor", "currency"};
  kind.stage_table =
      "CREATE TEMP TABLE IF NOT EXISTS import_stage_receipts (line bigint, key text, event_id "
      "uuid, customer_id text, store_id text, till_id text, pos_tx_id text, occurred_at "
      "timestamptz, amount_minor bigint, currency text, points bigint, local_day integer, "
      "available_at timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS";
  kind.stage_copy = "COPY import_stage_receipts FROM STDIN";
  kind.parse = [&](const Record& f, int64_t line, std::string& key,
                   std::string& stage) -> std::string {
    auto receipt = f["receipt_id"];
    auto store = f["store_id"];
    const std::string till = f["till_id"].value_or("import");
    key = store.value_or("") + "/" + till + "/" + receipt.value_or("");
    if (!receipt || !printable_id(*receipt)) {
      return "receipt_id: 1 to 64 printable characters without '/'";
    }
    if (!store || !valid_store_id(*store)) return "store_id: not a store id";
    if (!printable_id(till)) return "till_id: 1 to 64 printable characters without '/'";
    if (!seen.insert(key).second) return "the same receipt appears earlier in the file";
    auto customer = f["customer_id"];
    if (!customer || !printable_id(*customer)) {
      return "customer_id: 1 to 64 printable characters without '/'";
    }
    auto t = f["occurred_at"];
    auto at = t ? hq::parse_rfc3339_ms(*t) : std::nullopt;
    if (!at) return "occurred_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
    if (*at > now + kMsPerDay) return "occurred_at: more than a day in the future";
    int64_t amount = 0;
    if (!parse_int(f["amount_minor"].value_or(""), 0, kMaxAmountMinor, amount)) {
      return "amount_minor: a whole number of minor units from 0 to 10^15";
    }
    auto currency = f["currency"];
    if (!currency || !upper(*currency, 3) || !Currency::from_code(*currency)) {
      return "currency: an ISO 4217 code like EUR";
    }
    int64_t points = 0;
    if (auto p = f["points"]; p && !parse_int(*p, 0, 1'000'000'000, points)) {
      return "points: a whole number from 0 to 1000000000";
    }
    const std::string event_id = ids.next().to_string();
    std::optional<std::string> available_at, expires_at;
    if (points > 0) {
      // Earned when the sale was: pending and expiring from then, as the programme says.
      Lot lot = open_lot(facts->lots, facts->zone, event_id, *at, points);
      available_at = format_utc_iso8601(lot.available_at_ms);
      if (lot.expires_at_ms != kNeverExpires) expires_at = format_utc_iso8601(lot.expires_at_ms);
    }
    const int64_t day = day_of_ms(facts->zone.to_local_ms(*at));
    pg::CopyRow(stage) << line << key << event_id << *customer << *store << till << *receipt
                       << format_utc_iso8601(*at) << amount << *currency << points << day
                       << available_at << expires_at;
    return "";
  };
  kind.write = [&](pg::Connection& w, Batch& b) -> Result<int64_t> {
    if (b.rows == 0) return 0;
    static const std::string refused_sql =
        "WITH no_customer AS (DELETE FROM import_stage_receipts s WHERE NOT EXISTS (SELECT 1 "
        "FROM customer c WHERE c.customer_id = s.customer_id AND c.status <> " +
        status_sql(CustomerStatus::kMerged) +
        ") RETURNING "
        "s.line, s.key, 'no customer ' || s.customer_id || ' (import the customers first; a "
        "merged member''s receipts go under the member kept)' AS reason), no_store AS (DELETE "
        "FROM import_stage_receipts s WHERE NOT EXISTS (SELECT 1 FROM store t WHERE t.store_id "
        "= s.store_id) AND s.line NOT IN (SELECT line FROM no_customer) RETURNING s.line, s.key, "
        "'no store ' || s.store_id AS reason), taken AS (DELETE FROM import_stage_receipts s "
        "USING receipt r WHERE r.store_id = s.store_id AND r.till_id = s.till_id AND "
        "r.pos_tx_id = s.pos_tx_id AND s.line NOT IN (SELECT line FROM no_customer UNION ALL "
        "SELECT line FROM no_store) RETURNING s.line, s.key, 'this receipt is in the books "
        "already' AS reason) SELECT * FROM no_customer UNION ALL SELECT * FROM no_store UNION "
        "ALL SELECT * FROM taken";
    ACCRUE_TRY(take_refused(w, refused_sql.c_str(), b));
    ACCRUE_TRY(
        w.exec("INSERT INTO receipt (event_id, customer_id, store_id, till_id, pos_tx_id, "
               "occurred_at, amount_minor, currency, points_earned) SELECT event_id, "
               "customer_id, store_id, till_id, pos_tx_id, occurred_at, amount_minor, currency, "
               "points FROM import_stage_receipts"));
    ACCRUE_TRY(w.query(
        "INSERT INTO ledger (event_id, customer_id, kind, points, amount_minor, currency, "
        "store_id, till_id, pos_tx_id, program_id, program_version, local_day, reason, actor, "
        "occurred_at) SELECT event_id, customer_id, $4::smallint, points, amount_minor, currency, "
        "store_id, till_id, pos_tx_id, $1, $2::int, local_day, 'imported receipt', $3, "
        "occurred_at FROM import_stage_receipts",
        {pg::Param::text(facts->program_id), pg::Param::text(std::to_string(facts->version)),
         pg::Param::text(actor), pg::Param::text(std::to_string(to_int(LedgerKind::kAccrual)))}));
    ACCRUE_TRY(
        w.exec("INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, "
               "expires_at, points, remaining) SELECT event_id, customer_id, occurred_at, "
               "available_at, expires_at, points, points FROM import_stage_receipts WHERE "
               "points > 0"));
    ACCRUE_TRY(w.exec(
        "UPDATE balance b SET points = b.points + s.points, lifetime_earned = "
        "b.lifetime_earned + s.points, last_purchase_at = greatest(b.last_purchase_at, s.last), "
        "version = b.version + 1, updated_at = now() FROM (SELECT customer_id, sum(points) AS "
        "points, max(occurred_at) AS last FROM import_stage_receipts GROUP BY 1) s WHERE "
        "b.customer_id = s.customer_id"));
    ACCRUE_TRY(w.exec(
        "INSERT INTO customer_day (customer_id, local_day, earned, qualifying_points, "
        "spend_minor) SELECT customer_id, local_day, sum(points), sum(points), sum(amount_minor) "
        "FROM import_stage_receipts GROUP BY 1, 2 ON CONFLICT (customer_id, local_day) DO "
        "UPDATE SET earned = customer_day.earned + excluded.earned, qualifying_points = "
        "customer_day.qualifying_points + excluded.qualifying_points, spend_minor = "
        "customer_day.spend_minor + excluded.spend_minor"));
    ACCRUE_TRY(
        w.query("INSERT INTO change_feed (kind, customer_id) SELECT DISTINCT $1::smallint, "
                "customer_id FROM import_stage_receipts",
                {pg::Param::text(std::to_string(to_int(FeedKind::kCustomer)))}));
    ACCRUE_TRY(list_customers(w, "SELECT DISTINCT customer_id FROM import_stage_receipts", b));
    auto n = w.exec("SELECT count(*) FROM import_stage_receipts");
    if (!n) return std::unexpected(n.error());
    return n->int64(0, 0);
  };
  return run_import(c, kind, options, progress);
}

}  // namespace accrue::cloud
