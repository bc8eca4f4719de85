// Power loss, not process death: the PowerLossVfs (powerloss_vfs.h) stops the disk at write k
// and puts every file back to what was synced, for every k across a workload shaped like the
// agent's (each transaction appends a ledger row and its outbox row and moves a balance, in WAL
// mode with frequent checkpoints). After each: PRAGMA integrity_check is ok, every transaction
// whose COMMIT returned OK is there, and the outbox matches the ledger and the balance. With
// the write in flight garbled on every other crash point. The negative control runs the same sweep
// with synchronous=OFF and must see acknowledged commits lost: the sweep can fail.
//
// This proves the storage settings the agent runs with (journal_mode=WAL, synchronous=FULL,
// replica.cpp). Running the agent's own service over this VFS is the next step (issue 9).
#include "tests/agent/store/powerloss_vfs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace accrue::testing {
namespace {

struct Outcome {
  int acknowledged = 0;  // commits that returned OK
  bool integrity_ok = false;
  int rows = 0;             // ledger rows after the power loss
  bool consistent = false;  // outbox == ledger and balance == sum(ledger)
  bool lost = false;        // an acknowledged commit is missing
};

int exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

std::string scalar(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(st, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  return out;
}

class PowerLossTest : public ::testing::Test {
 protected:
  static constexpr int kTransactions = 20;

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("accrue-powerloss-" + std::to_string(::getpid()) + "-" + std::to_string(++runs_));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // One run: the workload on a fresh database, the disk stopping at write `crash_at` (0: never),
  // power lost, the database reopened without the VFS and checked.
  Outcome run(int64_t crash_at, const char* synchronous, bool garble, int64_t* writes = nullptr) {
    const std::string path = (dir_ / ("db-" + std::to_string(crash_at) + ".sqlite")).string();
    PowerLossVfs vfs("powerloss-" + std::to_string(::getpid()));
    Outcome out;
    sqlite3* db = nullptr;
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs.name()),
        SQLITE_OK);
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, std::string("PRAGMA synchronous=") + synchronous);
    exec(db, "PRAGMA wal_autocheckpoint=8");
    exec(db,
         "CREATE TABLE ledger (id INTEGER PRIMARY KEY, points INTEGER NOT NULL, note TEXT);"
         "CREATE TABLE outbox (id INTEGER PRIMARY KEY REFERENCES ledger(id), body BLOB);"
         "CREATE TABLE balance (k INTEGER PRIMARY KEY, points INTEGER NOT NULL);"
         "INSERT INTO balance VALUES (1, 0);");
    vfs.crash_at_write(crash_at);
    for (int i = 1; i <= kTransactions; ++i) {
      const std::string p = std::to_string(i * 7 % 50 + 1);
      const std::string body(300 + i * 37 % 900, static_cast<char>('a' + i % 26));
      const int rc =
          exec(db, "BEGIN IMMEDIATE; INSERT INTO ledger VALUES (" + std::to_string(i) + ", " + p +
                       ", '" + body + "'); INSERT INTO outbox VALUES (" + std::to_string(i) +
                       ", zeroblob(" + std::to_string(body.size()) +
                       ")); UPDATE balance SET points = " + "points + " + p + "; COMMIT");
      if (rc != SQLITE_OK) {
        exec(db, "ROLLBACK");
        break;  // the disk is gone: the till was told no
      }
      out.acknowledged = i;
    }
    if (writes) *writes = vfs.writes();
    sqlite3_close_v2(db);
    vfs.power_loss(garble);

    sqlite3* after = nullptr;
    if (sqlite3_open_v2(path.c_str(), &after, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(after);
      out.lost = out.acknowledged > 0;
      return out;
    }
    out.integrity_ok = scalar(after, "PRAGMA integrity_check") == "ok";
    const bool has_tables = scalar(after,
                                   "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'ledger'") == "1";
    if (has_tables) {
      out.rows = std::stoi(scalar(after, "SELECT count(*) FROM ledger"));
      out.consistent =
          scalar(after,
                 "SELECT (SELECT count(*) FROM outbox) = (SELECT count(*) FROM ledger) AND "
                 "(SELECT points FROM balance) = (SELECT coalesce(sum(points), 0) FROM ledger) "
                 "AND NOT EXISTS (SELECT 1 FROM outbox o LEFT JOIN ledger l USING (id) WHERE "
                 "l.id IS NULL)") == "1";
      // Every acknowledged transaction i is row i (they commit in order).
      out.lost =
          std::stoi(scalar(after, "SELECT count(*) FROM ledger")) < out.acknowledged ||
          (out.acknowledged > 0 && scalar(after, ("SELECT count(*) FROM ledger WHERE id <= " +
                                                  std::to_string(out.acknowledged))
                                                     .c_str()) != std::to_string(out.acknowledged));
    } else {
      out.consistent = true;  // the schema itself was never durable: nothing acknowledged
      out.lost = out.acknowledged > 0;
    }
    sqlite3_close_v2(after);
    return out;
  }

  std::filesystem::path dir_;
  static inline int runs_ = 0;
};

TEST_F(PowerLossTest, WithSynchronousFullEveryAcknowledgedCommitSurvivesEveryCrashPoint) {
  int64_t total = 0;
  auto clean = run(0, "FULL", false, &total);
  ASSERT_EQ(clean.acknowledged, kTransactions);
  ASSERT_TRUE(clean.integrity_ok && clean.consistent && !clean.lost);
  ASSERT_GT(total, kTransactions);
  int sweeps = 0, torn = 0;
  for (int64_t k = 1; k <= total; ++k) {
    const bool garble = k % 2 == 0;
    auto o = run(k, "FULL", garble);
    ++sweeps;
    torn += garble ? 1 : 0;
    EXPECT_TRUE(o.integrity_ok) << "crash at write " << k;
    EXPECT_TRUE(o.consistent) << "crash at write " << k << ": outbox, ledger and balance disagree";
    EXPECT_FALSE(o.lost) << "crash at write " << k << ": " << o.acknowledged << " acknowledged, "
                         << o.rows << " survived";
  }
  std::printf(
      "power-loss sweep: %d crash points over %lld writes (%d with a torn write), "
      "synchronous=FULL: nothing acknowledged was lost\n",
      sweeps, static_cast<long long>(total), torn);
}

TEST_F(PowerLossTest, TheNegativeControlWithSynchronousOffDetectsLosses) {
  int64_t total = 0;
  ASSERT_EQ(run(0, "OFF", false, &total).acknowledged, kTransactions);
  int losses = 0;
  for (int64_t k = 1; k <= total; ++k) losses += run(k, "OFF", false).lost ? 1 : 0;
  std::printf(
      "negative control, synchronous=OFF: %d of %lld crash points lost acknowledged "
      "commits\n",
      losses, static_cast<long long>(total));
  EXPECT_GT(losses, 0) << "the sweep cannot tell a durable setting from one that is not";
}

}  // namespace
}  // namespace accrue::testing
