#include "cloud/core/generate.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "cloud/core/customer_status.h"
#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/engine/lots.h"
#include "common/engine/tiers.h"
#include "common/identifier.h"
#include "common/synthetic.h"
#include "common/uuid.h"

namespace accrue::cloud {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kChunk = 5000;  // customers per COPY round

// A UUIDv7 for an instant in the past (the ledger is partitioned by event_id time).
std::string uuid7_at(TimestampMs ms, std::mt19937_64& rng) {
  std::array<uint8_t, 16> b{};
  for (int i = 0; i < 6; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  uint64_t r1 = rng(), r2 = rng();
  for (int i = 6; i < 16; ++i) {
    b[static_cast<size_t>(i)] =
        static_cast<uint8_t>(i < 11 ? r1 >> (8 * (i - 6)) : r2 >> (8 * (i - 11)));
  }
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0f));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));
  return Uuid(b).to_string();
}

// One chunk of customers as COPY text.
struct Chunk {
  std::string customers, pii, identifiers, balances, lots, ledger, receipts, days;
  int64_t count = 0, receipts_made = 0;
};

// Builds chunks of synthetic members, each from its own random stream (seeded by the chunk's
// first customer), so the data does not depend on which connection loads which chunk.
struct ChunkBuilder {
  const GenerateOptions& o;
  TimestampMs now;
  const Program& program;
  const TimeZone& zone;
  const std::optional<IdentifierHasher>& hasher;
  Currency eur = *Currency::from_code("EUR");

  void build(int64_t base, Chunk& ch) const {
    const int64_t end = std::min(o.first + o.customers, base + kChunk);
    std::mt19937_64 rng(o.seed ^ (static_cast<uint64_t>(base) * 0x9E3779B97F4A7C15ull));
    for (auto* text : {&ch.customers, &ch.pii, &ch.identifiers, &ch.balances, &ch.lots, &ch.ledger,
                       &ch.receipts, &ch.days}) {
      text->clear();  // keeps the capacity for the next chunk
    }
    ch.count = end - base;
    ch.receipts_made = 0;
    for (int64_t i = base; i < end; ++i) add_member(i, rng, ch);
  }

  // Member i: her rows, a year of receipts, her per-day totals, and one lot for her points.
  void add_member(int64_t i, std::mt19937_64& rng, Chunk& ch) const {
    const auto& ladder = program.tiers.ladder;
    const std::string id = synthetic_customer_id(i);
    const std::string tier =
        ladder.empty() ? "" : ladder[synthetic_tier_index(i, ladder.size())].tier_id;
    const std::string store = "S" + std::to_string(i % o.stores);
    const TimestampMs enrolled = now - 400 * kDayMs + (i % 30) * kDayMs;
    ch.pii += id + "\tMember " + std::to_string(i) + "\n";
    if (hasher) {
      auto h = hasher->hash({IdentifierKind::kCard, synthetic_card_number(i)});
      ch.identifiers += "\\\\x" + to_hex(h) + "\tcard\t" + id + "\n";
    }
    int64_t total = 0, earned = 0;
    TimestampMs last = 0;
    std::map<int64_t, std::pair<int64_t, int64_t>> by_day;  // local day -> points, spend
    for (int k = 0; k < o.receipts_per_customer; ++k) {
      const TimestampMs at =
          now - static_cast<int64_t>(rng() % static_cast<uint64_t>(364 * kDayMs)) - kDayMs;
      Basket basket{eur, {}, at};
      BasketLine line;
      line.line_no = 1;
      line.sku = "SKU-" + std::to_string(rng() % 5000);
      line.categories = {"apparel"};
      line.amount_minor = 500 + static_cast<int64_t>(rng() % 29500);
      basket.lines.push_back(line);
      auto e = compute_earn(program, basket, {tier, 0, &zone, {}});
      const int64_t points = e ? e->points : 0;
      const int64_t day = day_of_ms(zone.to_local_ms(at));
      by_day[day].first += points;
      by_day[day].second += line.amount_minor;
      const std::string event = uuid7_at(at, rng);
      const std::string when = format_utc_iso8601(at);
      const std::string tx = "g" + std::to_string(i) + "-" + std::to_string(k);
      ch.ledger += event + "\t" + id + "\t1\t" + std::to_string(points) + "\t" +
                   std::to_string(line.amount_minor) + "\tEUR\t" + store + "\ttill-1\t" + tx +
                   "\t" + program.program_id + "\t" + std::to_string(program.version) + "\t" +
                   std::to_string(day) + "\t" + when + "\n";
      ch.receipts += event + "\t" + id + "\t" + store + "\ttill-1\t" + tx + "\t" + when + "\t" +
                     std::to_string(line.amount_minor) + "\tEUR\t" + std::to_string(points) + "\n";
      total += points;
      earned += points;
      last = std::max(last, at);
      ++ch.receipts_made;
    }
    // The tier she holds is the one her year of receipts earns, if above the synthetic one (the
    // cloud's tier pass would move her at once otherwise); below it, the grace decides later.
    int64_t qualifying = 0;
    for (const auto& [day, sums] : by_day) {
      qualifying += program.tiers.basis == TierBasis::kAmountSpent ? sums.second : sums.first;
    }
    auto held = evaluate_tier(program.tiers, {tier, qualifying, std::nullopt, "", now});
    const std::string tier_now =
        held && held->change == TierChange::kUpgrade ? held->tier_id : tier;
    ch.customers +=
        id + "\t" +
        status_sql(synthetic_blocked(i) ? CustomerStatus::kBlocked : CustomerStatus::kActive) +
        "\t" + tier_now + "\t" + store + "\t" + format_utc_iso8601(enrolled) + "\n";
    for (const auto& [day, sums] : by_day) {
      const std::string p = std::to_string(sums.first);
      ch.days += id + "\t" + std::to_string(day) + "\t" + p + "\t" + p + "\t" +
                 std::to_string(sums.second) + "\n";
    }
    ch.balances += id + "\t" + std::to_string(total) + "\t" + std::to_string(earned) + "\t" +
                   (last > 0 ? format_utc_iso8601(last) : "\\N") + "\n";
    if (total > 0) {
      // One lot carries the history's points: available now, expiring as the programme says.
      Lot lot = open_lot(program.lots, zone, id, now - kDayMs * 30, total);
      ch.lots +=
          uuid7_at(now - kDayMs * 30, rng) + "\t" + id + "\t" +
          format_utc_iso8601(lot.earned_at_ms) + "\t" +
          format_utc_iso8601(std::min(lot.available_at_ms, now)) + "\t" +
          (lot.expires_at_ms == kNeverExpires ? "\\N" : format_utc_iso8601(lot.expires_at_ms)) +
          "\t" + std::to_string(total) + "\t" + std::to_string(total) + "\n";
    }
  }
};

// One chunk in one transaction.
Result<void> load_chunk(pg::Connection& conn, const Chunk& ch) {
  return pg::in_transaction(conn, [&]() -> Result<void> {
    ACCRUE_TRY(
        conn.copy_in("COPY customer (customer_id, status, tier_id, home_store_id, "
                     "enrolled_at) FROM STDIN",
                     ch.customers));
    ACCRUE_TRY(conn.copy_in("COPY customer_pii (customer_id, display_name) FROM STDIN", ch.pii));
    if (!ch.identifiers.empty()) {
      ACCRUE_TRY(
          conn.copy_in("COPY identifier (hash, kind, customer_id) FROM STDIN", ch.identifiers));
    }
    ACCRUE_TRY(
        conn.copy_in("COPY balance (customer_id, points, lifetime_earned, last_purchase_at) "
                     "FROM STDIN",
                     ch.balances));
    if (!ch.lots.empty()) {
      ACCRUE_TRY(
          conn.copy_in("COPY points_lot (lot_id, customer_id, earned_at, available_at, "
                       "expires_at, points, remaining) FROM STDIN",
                       ch.lots));
    }
    if (!ch.ledger.empty()) {
      ACCRUE_TRY(
          conn.copy_in("COPY ledger (event_id, customer_id, kind, points, amount_minor, "
                       "currency, store_id, till_id, pos_tx_id, program_id, "
                       "program_version, local_day, occurred_at) FROM STDIN",
                       ch.ledger));
      ACCRUE_TRY(
          conn.copy_in("COPY receipt (event_id, customer_id, store_id, till_id, pos_tx_id, "
                       "occurred_at, amount_minor, currency, points_earned) FROM STDIN",
                       ch.receipts));
      ACCRUE_TRY(
          conn.copy_in("COPY customer_day (customer_id, local_day, earned, "
                       "qualifying_points, spend_minor) FROM STDIN",
                       ch.days));
    }
    return {};
  });
}

}  // namespace

Result<GenerateReport> generate(pg::Connection& c, ProgramCatalog& programs,
                                const GenerateOptions& o,
                                const std::function<void(int64_t, int64_t)>& progress) {
  if (o.customers < 1 || o.customers > 50'000'000 || o.receipts_per_customer < 0 ||
      o.receipts_per_customer > 1000 || o.stores < 1 || o.stores > 100'000 || o.first < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "customers 1..50000000, receipts per customer 0..1000, stores 1..100000");
  }
  const auto started = std::chrono::steady_clock::now();
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  auto published = programs.latest(c, now);
  if (!published) {
    return fail(ErrorCode::kFailedPrecondition,
                "no programme is published: run `accrue-cloud program publish FILE` first");
  }
  const Program& program = (*published)->program;
  const TimeZone& zone = (*published)->zone;
  const std::string first_id = synthetic_customer_id(o.first);
  ACCRUE_ASSIGN_OR_RETURN(auto exists, c.query("SELECT 1 FROM customer WHERE customer_id = $1",
                                               {pg::Param::text(first_id)}));
  if (exists.rows() > 0) {
    return fail(ErrorCode::kFailedPrecondition, "customer " + first_id +
                                                    " exists already: generate into an empty range "
                                                    "(--first) or a fresh database");
  }
  std::optional<IdentifierHasher> hasher;
  if (o.program_key) {
    ACCRUE_ASSIGN_OR_RETURN(auto h, IdentifierHasher::create(*o.program_key));
    hasher = std::move(h);
  }
  // Partitions for the year of history.
  ACCRUE_TRY(c.exec(
      "SELECT accrue_ensure_ledger_partition((date_trunc('month', now() AT TIME ZONE 'UTC') - "
      "make_interval(months => m))::date) FROM generate_series(0, 13) AS m"));
  const std::string last_store = std::to_string(o.stores - 1);
  ACCRUE_TRY(
      c.query("INSERT INTO store (store_id) SELECT 'S' || g FROM generate_series(0, "
              "$1::int) AS g ON CONFLICT DO NOTHING",
              {pg::Param::text(last_store)}));
  std::ofstream csv;
  if (!o.csv_path.empty()) {
    csv.open(o.csv_path);
    if (!csv) return fail(ErrorCode::kUnavailable, "cannot write " + o.csv_path);
    csv << "customer_id\n";
  }

  if (csv.is_open()) {
    for (int64_t i = o.first; i < o.first + o.customers; ++i)
      csv << synthetic_customer_id(i) << "\n";
    csv.close();
    if (!csv) return fail(ErrorCode::kUnavailable, "cannot write " + o.csv_path);
  }
  const ChunkBuilder builder{o, now, program, zone, hasher};
  // Loaders: this connection and (workers - 1) more, each building and loading whole chunks
  // taken in turn; PostgreSQL's side of COPY (rows and index entries) is the bottleneck, so
  // more connections use more cores.
  std::vector<pg::Connection> extra;
  for (int w = 1; w < o.workers && o.connect_more; ++w) {
    ACCRUE_ASSIGN_OR_RETURN(auto more, o.connect_more());
    extra.push_back(std::move(more));
  }
  GenerateReport report;
  std::atomic<int64_t> next_base{o.first};
  std::mutex mu;  // report, progress, first_error
  std::optional<Error> first_error;
  auto run = [&](pg::Connection& conn) {
    Chunk ch;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (first_error) return;
      }
      const int64_t base = next_base.fetch_add(kChunk);
      if (base >= o.first + o.customers) return;
      builder.build(base, ch);
      auto r = load_chunk(conn, ch);
      std::lock_guard lock(mu);
      if (!r) {
        if (!first_error) first_error = r.error();
        return;
      }
      report.customers += ch.count;
      report.receipts += ch.receipts_made;
      if (progress) progress(report.customers, o.customers);
    }
  };
  {
    std::vector<std::jthread> threads;
    for (auto& e : extra) threads.emplace_back([&run, &e] { run(e); });
    run(c);
  }
  if (first_error) return std::unexpected(*first_error);
  ACCRUE_TRY(c.exec("ANALYZE"));
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace accrue::cloud
