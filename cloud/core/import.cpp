#include "cloud/core/import.h"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
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
  while (std::getline(in_, line)) {
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

  ImportReport report;
  report.job =
      options.job.empty() ? std::filesystem::path(options.file).filename().string() : options.job;
  ACCRUE_TRY(
      c.query("INSERT INTO import_job (job, kind, file) VALUES ($1, 'customers', $2) "
              "ON CONFLICT (job) DO NOTHING",
              {pg::Param::text(report.job), pg::Param::text(options.file)}));
  auto job = c.query(
      "SELECT kind, lines_done, finished_at IS NOT NULL FROM import_job WHERE "
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
  const int64_t done_before = job->int64(0, 1);
  ACCRUE_TRY(c.exec(
      "CREATE TEMP TABLE IF NOT EXISTS import_stage (line bigint, customer_id text, "
      "display_name text, email text, phone text, country text, currency text, home_store_id "
      "text, enrolled_at timestamptz, card_hash bytea, card_masked text, points bigint, "
      "event_id uuid, available_at timestamptz, expires_at timestamptz) ON COMMIT DELETE ROWS"));

  SystemRandom random;
  UuidV7Generator ids(clock, random);
  auto zone = (*program)->zone;
  std::unordered_set<std::string> seen_ids, seen_cards;  // within the file, for duplicates
  std::vector<Row> batch;
  std::vector<ImportReject> rejects;
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

  auto flush = [&]() -> Result<void> {
    if (batch.empty() && rejects.empty()) return {};
    const TimestampMs now = clock.now_ms();
    std::string data;
    data.reserve(batch.size() * 160);
    for (auto& r : batch) {
      std::optional<std::string> event, available, expires;
      if (r.points > 0) {
        event = ids.next().to_string();
        Lot lot = open_lot(opening, zone, *event, now, r.points);
        available = format_utc_iso8601(lot.available_at_ms);
        if (lot.expires_at_ms != kNeverExpires) expires = format_utc_iso8601(lot.expires_at_ms);
      }
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
      for (const auto& v : {event, available, expires}) {
        data += '\t';
        copy_field(data, v);
      }
      data += '\n';
    }
    auto body = [&]() -> Result<int64_t> {
      if (!batch.empty()) {
        ACCRUE_TRY(c.copy_in("COPY import_stage FROM STDIN", data));
        // Rows the database refuses: taken ids and cards, unknown stores.
        auto taken = c.query(
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
          rejects.push_back(
              {taken->int64(i, 0), std::string(taken->text(i, 1)), std::string(taken->text(i, 2))});
        }
      }
      const std::string tier_p = tier;
      const std::string actor = options.actor + ":" + report.job;
      ACCRUE_TRY(c.query(
          "INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, country, "
          "currency) SELECT customer_id, $1, home_store_id, coalesce(enrolled_at, now()), "
          "coalesce(country, ''), coalesce(currency, '') FROM import_stage",
          {pg::Param::text(tier_p)}));
      ACCRUE_TRY(
          c.exec("INSERT INTO balance (customer_id, points, lifetime_earned, version) SELECT "
                 "customer_id, points, points, 1 FROM import_stage"));
      ACCRUE_TRY(
          c.exec("INSERT INTO customer_pii (customer_id, display_name, email, phone) SELECT "
                 "customer_id, coalesce(display_name, ''), email, phone FROM import_stage WHERE "
                 "display_name IS NOT NULL OR email IS NOT NULL OR phone IS NOT NULL"));
      ACCRUE_TRY(c.exec(
          "INSERT INTO identifier (hash, kind, customer_id, masked) SELECT card_hash, 'card', "
          "customer_id, card_masked FROM import_stage WHERE card_hash IS NOT NULL"));
      ACCRUE_TRY(c.query(
          "INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
          "SELECT event_id, customer_id, 5, points, 'opening balance (import)', $1, now() FROM "
          "import_stage WHERE points > 0",
          {pg::Param::text(actor)}));
      ACCRUE_TRY(c.exec(
          "INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, expires_at, "
          "points, remaining) SELECT event_id, customer_id, now(), available_at, expires_at, "
          "points, points FROM import_stage WHERE points > 0"));
      ACCRUE_TRY(
          c.exec("INSERT INTO change_feed (kind, customer_id) SELECT 1, customer_id FROM "
                 "import_stage"));
      auto n = c.exec("SELECT count(*) FROM import_stage");
      if (!n) return std::unexpected(n.error());
      const int64_t imported = n->int64(0, 0);
      if (!rejects.empty()) {
        std::string rd;
        for (const auto& r : rejects) {
          copy_field(rd, report.job);
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
      ACCRUE_TRY(c.query(
          "UPDATE import_job SET lines_done = $2::bigint, imported = imported + $3::bigint, "
          "rejected = rejected + $4::bigint WHERE job = $1",
          {pg::Param::text(report.job), pg::Param::text(std::to_string(done_before + data_lines)),
           pg::Param::text(std::to_string(imported)),
           pg::Param::text(std::to_string(rejects.size()))}));
      return imported;
    };
    ACCRUE_TRY(c.exec("BEGIN"));
    auto imported = body();
    if (!imported) {
      (void)c.exec("ROLLBACK");
      return std::unexpected(imported.error());
    }
    ACCRUE_TRY(c.exec("COMMIT"));
    report.imported += *imported;
    report.rejected += static_cast<int64_t>(rejects.size());
    batch.clear();
    rejects.clear();
    if (progress) progress(done_before + data_lines);
    return {};
  };

  for (;;) {
    auto rec = csv.next();
    if (!rec) return std::unexpected(rec.error());
    if (!*rec) break;
    const auto& f = **rec;
    if (f.size() == 1 && f[0].empty()) continue;  // a blank line
    ++data_lines;
    if (data_lines <= done_before) {
      ++report.skipped;
      --report.lines;
      // Rows of committed batches: still remembered for duplicate checks within the file.
      if (auto id = field(f, "customer_id")) seen_ids.insert(*id);
      continue;
    }
    const int64_t line = csv.line();
    auto reject = [&](const std::string& key, std::string why) {
      rejects.push_back({line, key, std::move(why)});
    };
    Row r;
    r.line = line;
    auto id = field(f, "customer_id");
    if (f.size() != (*header)->size()) {
      reject(id.value_or(""), "has " + std::to_string(f.size()) + " fields, the header " +
                                  std::to_string((*header)->size()));
    } else if (!id || !printable_id(*id)) {
      reject(id.value_or(""), "customer_id: 1 to 64 printable characters without '/'");
    } else if (!seen_ids.insert(*id).second) {
      reject(*id, "customer_id appears earlier in the file");
    } else {
      r.customer_id = *id;
      std::string why;
      r.display_name = field(f, "display_name");
      if (r.display_name && (!hq::utf8_length(*r.display_name) || r.display_name->size() > 600)) {
        why = "display_name: not UTF-8 text of at most 200 characters";
      }
      r.country = field(f, "country");
      if (why.empty() && r.country && !upper(*r.country, 2))
        why = "country: an ISO 3166-1 code like DE";
      r.currency = field(f, "currency");
      if (why.empty() && r.currency && !upper(*r.currency, 3))
        why = "currency: an ISO 4217 code like EUR";
      if (auto e = field(f, "email"); why.empty() && e) {
        if (auto n = normalize_email(*e))
          r.email = *n;
        else
          why = "email: " + n.error().message;
      }
      if (auto p = field(f, "phone"); why.empty() && p) {
        if (auto n = normalize_phone(*p, r.country.value_or("")))
          r.phone = *n;
        else
          why = "phone: " + n.error().message;
      }
      r.home_store = field(f, "home_store_id");
      if (why.empty() && r.home_store && !valid_store_id(*r.home_store))
        why = "home_store_id: not a store id";
      if (auto t = field(f, "enrolled_at"); why.empty() && t) {
        if (auto ms = hq::parse_rfc3339_ms(*t))
          r.enrolled_at = format_utc_iso8601(*ms);
        else
          why = "enrolled_at: an RFC 3339 date-time, e.g. 2024-03-01T10:00:00Z";
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
      if (!why.empty()) {
        reject(*id, why);
      } else {
        batch.push_back(std::move(r));
      }
    }
    if (batch.size() + rejects.size() >= options.batch) ACCRUE_TRY(flush());
  }
  ACCRUE_TRY(flush());
  report.lines += data_lines;
  ACCRUE_TRY(
      c.query("UPDATE import_job SET finished_at = now(), lines_done = $2::bigint WHERE "
              "job = $1",
              {pg::Param::text(report.job), pg::Param::text(std::to_string(data_lines))}));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace accrue::cloud
