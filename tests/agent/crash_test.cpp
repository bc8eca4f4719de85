// Kill -9 under load: tills accrue concurrently while the daemon is killed at random moments and
// restarted. Every acknowledged accrual must be there exactly once, nothing half-written, and
// the file must pass integrity_check (invariant "durable before acknowledged" as far as a process
// kill can prove it; power loss needs the page cache gone too, which the hardening work simulates
// separately).
//
// ACCRUE_CRASH_CYCLES sets the number of kill/restart cycles (default 20; the long run that
// docs/testing.md describes uses 1000).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "agent/store/seed.h"
#include "tests/agent/agent_process.h"

namespace accrue::testing {
namespace {

namespace pb = accrue::pos::v1;

int64_t query_int(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return v;
}

std::string query_text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return "prepare failed";
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

TEST(CrashTest, AcknowledgedAccrualsSurviveKillNine) {
  int cycles = 20;
  if (const char* env = std::getenv("ACCRUE_CRASH_CYCLES")) cycles = std::max(1, std::atoi(env));
  AgentProcess agent(500);
  ASSERT_EQ(agent.seed_status(), 0);

  std::mutex mu;
  std::set<std::string> acknowledged;  // "till|pos_tx_id"
  std::set<std::string> checked;
  std::mt19937 rng(12345);
  int64_t attempts = 0;

  for (int cycle = 0; cycle < cycles; ++cycle) {
    ASSERT_TRUE(agent.start()) << "cycle " << cycle << ": restart failed; see " << agent.log_path();
    std::atomic<bool> stop{false};
    std::vector<std::thread> tills;
    for (int t = 0; t < 4; ++t) {
      tills.emplace_back([&, t] {
        const std::string till = "till-" + std::to_string(t);
        auto client = ctl::AgentClient::connect_unix(agent.socket());
        if (!client) return;
        client->set_timeout(std::chrono::milliseconds(2000));
        for (int n = 0; !stop.load(); ++n) {
          pb::Request req;
          req.set_request_id(std::to_string(n));
          req.set_till_id(till);
          auto* a = req.mutable_accrue();
          a->set_pos_tx_id("c" + std::to_string(cycle) + "-" + std::to_string(n));
          a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
          a->mutable_identifier()->set_value(
              agent::seed_card_number((cycle * 7 + n * 3 + t) % 400));
          auto* b = a->mutable_basket();
          b->set_currency("EUR");
          auto* l = b->add_lines();
          l->set_line_no(1);
          l->set_sku("SKU-" + std::to_string(n % 7));
          l->set_quantity_milli(1000);
          l->set_amount_minor(1000 + n);
          auto r = client->call(req);
          if (!r) return;  // killed: this one's fate is unknown, which is allowed
          if (r->has_accrue()) {
            std::lock_guard lock(mu);
            acknowledged.insert(till + "|" + a->pos_tx_id());
          }
          ++attempts;
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 250)(rng)));
    agent.stop(SIGKILL);
    stop = true;
    for (auto& th : tills) th.join();

    // With the daemon dead, inspect the file as the next start will find it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(agent.db_path().c_str(), &db), SQLITE_OK);
    EXPECT_EQ(query_text(db, "PRAGMA integrity_check"), "ok") << "cycle " << cycle;
    // Every receipt points at its ledger row; every ledger row has its outbox row; every sale
    // has its lines; sequences have no gaps.
    EXPECT_EQ(query_int(db,
                        "SELECT COUNT(*) FROM receipt r WHERE r.seq IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM ledger l WHERE l.seq = r.seq)"),
              0);
    EXPECT_EQ(query_int(db,
                        "SELECT COUNT(*) FROM ledger l WHERE NOT EXISTS "
                        "(SELECT 1 FROM outbox o WHERE o.seq = l.seq)"),
              0);
    // With the check above, equal counts mean every ledger row has exactly one receipt.
    EXPECT_EQ(query_int(db,
                        "SELECT (SELECT COUNT(*) FROM ledger) - (SELECT COUNT(DISTINCT seq) "
                        "FROM receipt WHERE seq IS NOT NULL)"),
              0);
    EXPECT_EQ(query_int(db,
                        "SELECT COUNT(*) FROM ledger l WHERE kind = 1 AND NOT EXISTS "
                        "(SELECT 1 FROM sale_line s WHERE s.seq = l.seq)"),
              0);
    EXPECT_EQ(query_int(db, "SELECT COALESCE(MAX(seq), 0) - COUNT(*) FROM ledger"), 0);
    EXPECT_EQ(query_int(db,
                        "SELECT COUNT(*) FROM (SELECT till_id, pos_tx_id FROM ledger "
                        "GROUP BY till_id, pos_tx_id HAVING COUNT(*) > 1)"),
              0);
    {
      // New acknowledgements every cycle; all of them again after the last kill.
      std::lock_guard lock(mu);
      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db,
                                   "SELECT COUNT(*) FROM receipt r JOIN ledger l ON l.seq = r.seq "
                                   "WHERE r.till_id = ? AND r.pos_tx_id = ?",
                                   -1, &st, nullptr),
                SQLITE_OK);
      for (const auto& key : acknowledged) {
        if (cycle + 1 < cycles && checked.contains(key)) continue;
        auto bar = key.find('|');
        std::string till = key.substr(0, bar), pos = key.substr(bar + 1);
        sqlite3_bind_text(st, 1, till.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, pos.c_str(), -1, SQLITE_TRANSIENT);
        int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_reset(st);
        ASSERT_EQ(n, 1) << "acknowledged " << key << " lost at cycle " << cycle;
        checked.insert(key);
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
  }
  std::cout << "crash test: " << cycles << " kill -9 cycles, " << attempts << " accruals sent, "
            << acknowledged.size() << " acknowledged, all present exactly once\n";
  EXPECT_GT(acknowledged.size(), static_cast<size_t>(cycles));
}

}  // namespace
}  // namespace accrue::testing
