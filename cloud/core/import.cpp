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

#include "cloud/core/store_auth.h"
#include "cloud/hq/json_input.h"
#include "common/civil_time.h"
#include "common/engine/lots.h"
#include "common/identifier.h"
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

constexpr const char* kColumns[] = {"customer_id", "display_name", "email",         "phone",
                                    "country",     "currency",     "home_store_id", "enrolled_at",
                                    "card",        "points"};

// COPY text format: \N for null, backslash escapes for what would break the format.
void copy_field(std::string& out, const std::optional<std::string>& v) {
  if (!v) {
    out += "\\N";
    return;
  }
  for (char ch : *v) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += ch;
    }
  }
}

struct Row {
  int64_t line = 0;
  std::string customer_id;
  std::optional<std::string> display_name, email, phone, country, currency, home_store, enrolled_at,
      card_hash_hex, card_masked;
  int64_t points = 0;
  std::optional<std::string> event_id, available_at, expires_at;  // an opening balance's
};

bool upper(const std::string& s, size_t n) {
  return s.size() == n && std::ranges::all_of(s, [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool printable_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::ranges::all_of(id, [](char c) { return c > ' ' && c <= '~' && c != '/'; });
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
  std::vector<Row> rows;
  std::vector<ImportReject> rejects;
};

std::string stage_data(const std::vector<Row>& rows) {
  std::string data;
  data.reserve(rows.size() * 200);
  for (const auto& r : rows) {
    copy_field(data, std::to_string(r.line));
    for (const auto* v : {&r.customer_id}) {
      data += '\t';
      copy_field(data, *v);
    }
    for (const auto* v : {&r.display_name, &r.email, &r.phone, &r.country, &r.currency,
                          &r.home_store, &r.enrolled_at, &r.card_hash_hex, &r.card_masked}) {
      data += '\t';
      copy_field(data, *v);
    }
    data += '\t';
    copy_field(data, std::to_string(r.points));
    for (const auto* v : {&r.event_id, &r.available_at, &r.expires_at}) {
      data += '\t';
      copy_field(data, *v);
    }
    data += '\n';
  }
  return data;
}

// One batch in one transaction on `c`: staged, refused rows taken out, the rest written, the
// batch recorded as committed. Returns how many rows were imported.
Result<int64_t> write_batch(pg::Connection& c, const std::string& job, const std::string& tier,
                            const std::string& actor, Batch& b) {
  auto body = [&]() -> Result<int64_t> {
    if (!b.rows.empty()) {
      ACCRUE_TRY(c.copy_in("COPY import_stage FROM STDIN", stage_data(b.rows)));
      // Rows the database refuses: taken ids and cards, unknown stores.
      auto taken = c.exec(
          "WITH id_taken AS (DELETE FROM import_stage s USING customer c WHERE c.customer_id = "
          "s.customer_id RETURNING s.line, s.customer_id, 'a customer with this id exists' AS "
          "reason), card_taken AS (DELETE FROM import_stage s USING identifier i WHERE "
          "i.hash = s.card_hash AND s.line NOT IN (SELECT line FROM id_taken) RETURNING "
          "s.line, s.customer_id, 'the card belongs to another member' AS reason), no_store "
          "AS (DELETE FROM import_stage s WHERE s.home_store_id IS NOT NULL AND NOT EXISTS "
          "(SELECT 1 FROM store t WHERE t.store_id = s.home_store_id) AND s.line NOT IN "
          "(SELECT line FROM id_taken UNION ALL SELECT line FROM card_taken) RETURNING s.line, "
          "s.customer_id, 'no store ' || s.home_store_id AS reason) SELECT * FROM id_taken "
          "UNION ALL SELECT * FROM card_taken UNION ALL SELECT * FROM no_store");
      if (!taken) return std::unexpected(taken.error());
      for (int i = 0; i < taken->rows(); ++i) {
        b.rejects.push_back(
            {taken->int64(i, 0), std::string(taken->text(i, 1)), std::string(taken->text(i, 2))});
      }
    }
    ACCRUE_TRY(
        c.query("INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, country, "
                "currency) SELECT customer_id, $1, home_store_id, coalesce(enrolled_at, now()), "
                "coalesce(country, ''), coalesce(currency, '') FROM import_stage",
                {pg::Param::text(tier)}));
    ACCRUE_TRY(
        c.exec("INSERT INTO balance (customer_id, points, lifetime_earned, version) SELECT "
               "customer_id, points, points, 1 FROM import_stage"));
    ACCRUE_TRY(
        c.exec("INSERT INTO customer_pii (customer_id, display_name, email, phone) SELECT "
               "customer_id, coalesce(display_name, ''), email, phone FROM import_stage WHERE "
               "display_name IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL"));
    ACCRUE_TRY(
        c.exec("INSERT INTO identifier (hash, kind, customer_id, masked) SELECT card_hash, "
               "'card', customer_id, card_masked FROM import_stage WHERE card_hash IS NOT NULL"));
    ACCRUE_TRY(c.query(
        "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
        "SELECT event_id, customer_id, 5, points, 'opening balance (import)', $1, now() FROM "
        "import_stage WHERE points > 0",
        {pg::Param::text(actor)}));
    ACCRUE_TRY(
        c.exec("INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, "
               "expires_at, points, remaining) SELECT event_id, customer_id, now(), "
               "available_at, expires_at, points, points FROM import_stage WHERE points > 0"));
    ACCRUE_TRY(c.exec(
        "INSERT INTO change_feed (kind, customer_id) SELECT 1, customer_id FROM import_stage"));
    auto n = c.exec("SELECT count(*) FROM import_stage");
    if (!n) return std::unexpected(n.error());
    const int64_t imported = n->int64(0, 0);
    if (!b.rejects.empty()) {
      std::string rd;
      for (const auto& r : b.rejects) {
        copy_field(rd, job);
        rd += '\t';
        copy_field(rd, std::to_string(r.line));
        rd += '\t';
        copy_field(rd, r.key);
        rd += '\t';
        copy_field(rd, r.reason);
        rd += '\n';
      }
      ACCRUE_TRY(c.copy_in("COPY import_reject (job, line, key, reason) FROM STDIN", rd));
    }
    ACCRUE_TRY(
        c.query("INSERT INTO import_batch (job, batch_no, imported, rejected) VALUES ($1, "
                "$2::bigint, $3::int, $4::int)",
                {pg::Param::text(job), pg::Param::text(std::to_string(b.no)),
                 pg::Param::text(std::to_string(imported)),
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

constexpr const char* kStageTable =
    "CREATE TEMP TABLE IF NOT EXISTS import_stage (line bigint, customer_id text, display_name "
    "text, email text, phone text, country text, currency text, home_store_id text, enrolled_at "
    "timestamptz, card_hash bytea, card_masked text, points bigint, event_id uuid, available_at "
    "timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS";

}  // namespace

Result<ImportReport> import_customers(pg::Connection& c, ProgramCatalog& programs,
                                      const ImportOptions& options,
                                      const std::function<void(int64_t)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return fail(ErrorCode::kInvalidArgument, "cannot read " + options.file);
  CsvReader csv(in);
  auto header = csv.next();
  if (!header) return std::unexpected(header.error());
  if (!*header) return fail(ErrorCode::kInvalidArgument, options.file + ": the file is empty");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < (*header)->size(); ++i) {
    std::string name = (**header)[i];
    if (i == 0 && name.starts_with("\xEF\xBB\xBF")) name = name.substr(3);  // a UTF-8 BOM
    if (std::ranges::find(kColumns, name) == std::end(kColumns)) {
      return fail(ErrorCode::kInvalidArgument,
                  options.file + ": unknown column \"" + name +
                      "\" (known: customer_id, display_name, email, phone, country, currency, "
                      "home_store_id, enrolled_at, card, points)");
    }
    if (!col.emplace(name, i).second) {
      return fail(ErrorCode::kInvalidArgument, options.file + ": column " + name + " twice");
    }
  }
  if (!col.contains("customer_id")) {
    return fail(ErrorCode::kInvalidArgument, options.file + ": the customer_id column is required");
  }
  std::optional<IdentifierHasher> hasher;
  if (col.contains("card")) {
    if (!options.identifier_key) {
      return fail(ErrorCode::kInvalidArgument,
                  "the file has cards: the programme key is needed (auth.identifier_key_file)");
    }
    auto h = IdentifierHasher::create(*options.identifier_key);
    if (!h) return std::unexpected(h.error());
    hasher.emplace(std::move(*h));
  }

  SystemClock clock;
  auto program = programs.latest(c, clock.now_ms());
  if (!program) return std::unexpected(program.error());
  const auto& ladder = (*program)->program.tiers.ladder;
  const std::string tier = ladder.empty() ? "" : ladder.front().tier_id;
  LotPolicy opening = (*program)->program.lots;
  opening.pending_days = 0;  // an opening balance is available at once
  const TimeZone zone = (*program)->zone;

  ImportReport report;
  report.job =
      options.job.empty() ? std::filesystem::path(options.file).filename().string() : options.job;
  const std::string actor = options.actor + ":" + report.job;
  ACCRUE_TRY(
      c.query("INSERT INTO import_job (job, kind, file, batch_size) VALUES ($1, "
              "'customers', $2, $3::int) ON CONFLICT (job) DO NOTHING",
              {pg::Param::text(report.job), pg::Param::text(options.file),
               pg::Param::text(std::to_string(options.batch))}));
  auto job = c.query(
      "SELECT kind, batch_size, finished_at IS NOT NULL FROM import_job WHERE "
      "job = $1",
      {pg::Param::text(report.job)});
  if (!job) return std::unexpected(job.error());
  if (job->text(0, 0) != "customers") {
    return fail(ErrorCode::kFailedPrecondition, "job " + report.job + " is not a customers import");
  }
  if (job->boolean(0, 2)) {
    return fail(ErrorCode::kFailedPrecondition,
                "job " + report.job + " finished already; give another --job to import again");
  }
  // A resumed job keeps the batch size it started with: batch n is the same lines.
  const int64_t batch_size = job->int64(0, 1);
  std::set<int64_t> committed;
  {
    auto b =
        c.query("SELECT batch_no FROM import_batch WHERE job = $1", {pg::Param::text(report.job)});
    if (!b) return std::unexpected(b.error());
    for (int i = 0; i < b->rows(); ++i) committed.insert(b->int64(i, 0));
  }

  // Writers: this connection and options.workers - 1 more, each committing whole batches.
  std::vector<pg::Connection*> conns{&c};
  std::vector<pg::Connection> more;
  for (int i = 1; i < options.workers && options.connect_more; ++i) {
    auto m = options.connect_more();
    if (!m) return std::unexpected(m.error());
    more.push_back(std::move(*m));
  }
  for (auto& m : more) conns.push_back(&m);
  for (auto* w : conns) ACCRUE_TRY(w->exec(kStageTable));

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
      const int64_t lines = static_cast<int64_t>(b.rows.size() + b.rejects.size());
      auto n = write_batch(*w, report.job, tier, actor, b);
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

  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  std::unordered_set<std::string> seen_ids, seen_cards;  // within the file, for duplicates
  Batch batch;
  int64_t data_lines = 0;
  auto field = [&](const std::vector<std::string>& f,
                   const char* name) -> std::optional<std::string> {
    auto it = col.find(name);
    if (it == col.end() || it->second >= f.size()) return std::nullopt;
    std::string v = f[it->second];
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    size_t lead = 0;
    while (lead < v.size() && (v[lead] == ' ' || v[lead] == '\t')) ++lead;
    v.erase(0, lead);
    if (v.empty()) return std::nullopt;
    return v;
  };

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
    std::string why;
    auto id = field(f, "customer_id");
    Row r;
    r.line = line;
    if (f.size() != (*header)->size()) {
      why = "has " + std::to_string(f.size()) + " fields, the header " +
            std::to_string((*header)->size());
    } else if (!id || !printable_id(*id)) {
      why = "customer_id: 1 to 64 printable characters without '/'";
    } else if (!seen_ids.insert(*id).second) {
      why = "customer_id appears earlier in the file";
    } else {
      r.customer_id = *id;
      r.display_name = field(f, "display_name");
      if (r.display_name && (!hq::utf8_length(*r.display_name) || r.display_name->size() > 600)) {
        why = "display_name: not UTF-8 text of at most 200 characters";
      }
      r.country = field(f, "country");
      if (why.empty() && r.country && !upper(*r.country, 2)) {
        why = "country: an ISO 3166-1 code like DE";
      }
      r.currency = field(f, "currency");
      if (why.empty() && r.currency && !upper(*r.currency, 3)) {
        why = "currency: an ISO 4217 code like EUR";
      }
      if (auto e = field(f, "email"); why.empty() && e) {
        if (auto n = normalize_email(*e)) {
          r.email = *n;
        } else {
          why = "email: " + n.error().message;
        }
      }
      if (auto p = field(f, "phone"); why.empty() && p) {
        if (auto n = normalize_phone(*p, r.country.value_or(""))) {
          r.phone = *n;
        } else {
          why = "phone: " + n.error().message;
        }
      }
      r.home_store = field(f, "home_store_id");
      if (why.empty() && r.home_store && !valid_store_id(*r.home_store)) {
        why = "home_store_id: not a store id";
      }
      if (auto t = field(f, "enrolled_at"); why.empty() && t) {
        if (auto ms = hq::parse_rfc3339_ms(*t)) {
          r.enrolled_at = format_utc_iso8601(*ms);
        } else {
          why = "enrolled_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
        }
      }
      if (auto card = field(f, "card"); why.empty() && card) {
        auto n = normalize_card(*card);
        if (!n) {
          why = "card: " + n.error().message;
        } else {
          auto h = hasher->hash({IdentifierKind::kCard, *n});
          if (!seen_cards.insert(std::string(h.begin(), h.end())).second) {
            why = "card appears earlier in the file";
          } else {
            r.card_hash_hex = "\\x" + to_hex(h);
            r.card_masked = "\u2022\u2022\u2022\u2022 " + n->substr(n->size() - 4);
          }
        }
      }
      if (auto p = field(f, "points"); why.empty() && p) {
        auto [ptr, ec] = std::from_chars(p->data(), p->data() + p->size(), r.points);
        if (ec != std::errc() || ptr != p->data() + p->size() || r.points < 0 ||
            r.points > 1'000'000'000) {
          why = "points: a whole number from 0 to 1000000000";
        }
      }
    }
    if (skip) {
      ++report.skipped;
    } else {
      if (!why.empty()) {
        batch.rejects.push_back({line, id.value_or(""), why});
      } else {
        if (r.points > 0) {
          r.event_id = ids.next().to_string();
          Lot lot = open_lot(opening, zone, *r.event_id, now, r.points);
          r.available_at = format_utc_iso8601(lot.available_at_ms);
          if (lot.expires_at_ms != kNeverExpires)
            r.expires_at = format_utc_iso8601(lot.expires_at_ms);
        }
        batch.rows.push_back(std::move(r));
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
  if (read_result && (!batch.rows.empty() || !batch.rejects.empty())) {
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

}  // namespace accrue::cloud
