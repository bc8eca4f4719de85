// Cloud ingestion throughput beside its ceiling, in one run on one PostgreSQL:
//   ours:    agents posting EventBatches of 500 accruals to POST /v1/sync/events (the real server
//            in this process, HTTP on 127.0.0.1), each event recomputed, deduplicated, and
//            written with its ledger row, lot, receipt, balance and change-feed entry;
//   ceilings: COPY of the same number of ledger rows into a plain copy of the ledger, and into a
//            copy with the ledger's indexes.
// Usage: cloud_ingest_bench [--batches N] [--agents A] [--customers C]
// Needs ACCRUE_TEST_PG_DSN (packaging/dev/services). Not a test: it never fails on speed.
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "cloud/core/app.h"
#include "common/engine/earn.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"
#include "tests/cloud/cloud_fixture.h"

namespace {

using namespace accrue;
using namespace accrue::cloud;
namespace sv1 = accrue::sync::v1;
namespace bhttp = boost::beast::http;
using Steady = std::chrono::steady_clock;

constexpr int kBatch = 500;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

int main(int argc, char** argv) {
  int batches = 40, agents = 2, customers = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--batches")
      batches = v;
    else if (k == "--agents")
      agents = v;
    else if (k == "--customers")
      customers = v;
    else {
      std::fprintf(stderr,
                   "usage: cloud_ingest_bench [--batches N] [--agents A] [--customers C]\n");
      return 64;
    }
  }
  if (accrue::testing::service_env("ACCRUE_TEST_PG_DSN").empty()) {
    std::fprintf(stderr, "ACCRUE_TEST_PG_DSN is not set (packaging/dev/services start)\n");
    return accrue::testing::services_required() ? 1 : 77;  // 77: skipped
  }
  accrue::testing::TestDatabase db;
  if (!db.ok()) return 1;
  auto conn = db.connect();
  if (!conn) return 1;
  auto program = ProgramCatalog::publish(*conn, read_file("packaging/demo/program.json"));
  if (!program) {
    std::fprintf(stderr, "%s\n", program.error().message.c_str());
    return 1;
  }
  const std::string n = std::to_string(customers - 1);
  (void)conn->exec(("INSERT INTO customer (customer_id, tier_id) SELECT 'c' || i, 'bronze' FROM "
                    "generate_series(0, " +
                    n +
                    ") i; INSERT INTO balance (customer_id) SELECT "
                    "'c' || i FROM generate_series(0, " +
                    n + ") i; ANALYZE")
                       .c_str());
  const std::string key_file = "/tmp/accrue-bench-store-" + std::to_string(::getpid()) + ".key";
  std::ofstream(key_file) << std::string(64, 'c') << "\n";
  auto config = load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=" + db.dsn(), "server.port=0", "server.listen_address=127.0.0.1",
       "server.access_log=false", "auth.store_token_key_file=" + key_file, "postgres.pool_size=8"});
  auto app = CloudApp::create(*config);
  if (!app || !(*app)->start()) return 1;
  StoreTokens tokens(std::vector<uint8_t>(32, 0xcc));

  // Build every batch first, so the timed part is only the upload.
  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  ZoneinfoSource zones;
  auto zone = zones.load(program->time_zone);
  std::vector<std::vector<std::string>> bodies(static_cast<size_t>(agents));
  int64_t made = 0;
  for (int a = 0; a < agents; ++a) {
    const std::string store = "S" + std::to_string(a);
    uint64_t seq = 0;
    for (int b = 0; b < batches / agents; ++b) {
      sv1::EventBatch batch;
      batch.set_store_id(store);
      batch.set_agent_id(store + "-agent");
      for (int e = 0; e < kBatch; ++e) {
        auto* ev = batch.add_events();
        ev->set_event_id(ids.next().to_string());
        ev->set_store_id(store);
        ev->set_agent_id(store + "-agent");
        ev->set_seq(++seq);
        ev->set_occurred_at_ms(clock.now_ms());
        ev->set_program_id(program->program_id);
        ev->set_program_version(program->version);
        ev->set_schema_version(1);
        auto* acc = ev->mutable_accrual();
        acc->set_customer_id("c" + std::to_string((made * 7919) % customers));
        acc->set_till_id("till-1");
        acc->set_pos_tx_id("tx-" + std::to_string(made));
        auto* basket = acc->mutable_basket();
        basket->set_currency("EUR");
        basket->set_occurred_at_ms(ev->occurred_at_ms());
        auto* l = basket->add_lines();
        l->set_line_no(1);
        l->set_sku("TEE");
        l->add_categories("tops");
        l->set_quantity_milli(1000);
        l->set_amount_minor(1000 + made % 9000);
        auto dom = wire::basket_from_proto(*basket);
        acc->set_points(compute_earn(*program, *dom, {"bronze", 0, &*zone})->points);
        ++made;
      }
      bodies[static_cast<size_t>(a)].push_back(batch.SerializeAsString());
    }
  }

  std::atomic<int64_t> applied{0}, failures{0};
  auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a) {
    threads.emplace_back([&, a] {
      accrue::testing::HttpClient client((*app)->port());
      const std::string token = tokens.issue("S" + std::to_string(a), clock.now_ms() / 1000 + 3600);
      for (const auto& body : bodies[static_cast<size_t>(a)]) {
        auto res = client.request(
            bhttp::verb::post, "/v1/sync/events", body,
            {{"Authorization", "Bearer " + token}, {"Content-Type", "application/x-protobuf"}});
        sv1::EventBatchResult r;
        if (res.result_int() != 200 || !r.ParseFromString(res.body())) {
          ++failures;
          continue;
        }
        for (const auto& e : r.results()) applied += e.status() == sv1::EVENT_STATUS_APPLIED;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double ours_s = std::chrono::duration<double>(Steady::now() - t0).count();
  const double ours = static_cast<double>(applied.load()) / ours_s;

  // Ceilings: COPY the same number of ledger rows, into a plain copy of the ledger and into
  // one with the ledger's indexes (its primary key and customer/owner/claims indexes).
  auto copy_rows = [&](const char* table) -> double {
    PGconn* raw = conn->raw();
    std::string sql = std::string("COPY ") + table +
                      " (event_id, customer_id, kind, points, store_id, agent_id, seq, till_id, "
                      "pos_tx_id, program_id, program_version, occurred_at) FROM STDIN";
    std::string row;
    auto t1 = Steady::now();
    PQclear(PQexec(raw, sql.c_str()));
    for (int64_t i = 0; i < made; ++i) {
      row.clear();
      row += ids.next().to_string() + "\tc" + std::to_string(i % customers) + "\t1\t" +
             std::to_string(10 + i % 90) + "\tS0\tS0-agent\t" + std::to_string(i) +
             "\ttill-1\ttx-" + std::to_string(i) + "\t" + program->program_id + "\t" +
             std::to_string(program->version) + "\t2026-11-28 10:00:00+00\n";
      PQputCopyData(raw, row.data(), static_cast<int>(row.size()));
    }
    PQputCopyEnd(raw, nullptr);
    PGresult* res = PQgetResult(raw);
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) std::fprintf(stderr, "COPY %s: %s\n", table, PQresultErrorMessage(res));
    PQclear(res);
    while ((res = PQgetResult(raw)) != nullptr) PQclear(res);
    const double s = std::chrono::duration<double>(Steady::now() - t1).count();
    return ok ? static_cast<double>(made) / s : 0;
  };
  (void)conn->exec(
      "CREATE TABLE ledger_plain (LIKE ledger INCLUDING DEFAULTS);"
      "CREATE TABLE ledger_indexed (LIKE ledger INCLUDING DEFAULTS INCLUDING INDEXES)");
  const double plain = copy_rows("ledger_plain");
  const double indexed = copy_rows("ledger_indexed");

  std::printf("cloud ingest: %d agents, batches of %d accruals, %d customers, 2 cores\n", agents,
              kBatch, customers);
  std::printf("  accrue-cloud      %10.0f events/s   (%lld applied, %lld failed batches, %.2f s)\n",
              ours, static_cast<long long>(applied.load()), static_cast<long long>(failures.load()),
              ours_s);
  std::printf("  ceiling: COPY of as many ledger rows, plain table   %10.0f rows/s\n", plain);
  std::printf("  ceiling: COPY of as many ledger rows, with the ledger's indexes %10.0f rows/s\n",
              indexed);
  std::printf("  ours / plain COPY: %.1f%%, ours / indexed COPY: %.1f%%   (target >= 30%%)\n",
              plain > 0 ? 100.0 * ours / plain : 0, indexed > 0 ? 100.0 * ours / indexed : 0);
  std::remove(key_file.c_str());
  return failures.load() == 0 && applied.load() == made ? 0 : 1;
}
