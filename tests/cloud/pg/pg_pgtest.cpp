// The PostgreSQL layer against a real server: the pool's bound, migrations under concurrency and
// their refusals, and the ledger's append-only guard.
#include "cloud/pg/pool.h"

#include <gtest/gtest.h>

#include <thread>

#include "cloud/pg/migrate.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::cloud::pg {
namespace {

using testing::TestDatabase;

TEST(PoolTest, NeverOpensMoreThanItsBoundAndTimesOutClearly) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  Pool pool({db.dsn(), 2, std::chrono::milliseconds(200), std::chrono::seconds(5)});
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(pool.stats().open, 2u);
  auto start = std::chrono::steady_clock::now();
  auto c = pool.acquire();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(c.error().message.find("busy"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(pool.stats().timeouts, 1u);

  // A waiter gets the connection another thread returns.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto drop = std::move(*a);
  });
  auto d = pool.acquire();
  t.join();
  EXPECT_TRUE(d);
  EXPECT_EQ(pool.stats().open, 2u);
}

// Nothing listens: the first caller learns why, the next ones are refused at once, and after the
// cooldown one probe at a time tries again.
TEST(PoolTest, AnUnreachableDatabaseOpensTheBreakerAndIsProbedAfterTheCooldown) {
  PoolOptions o;
  o.dsn = "host=127.0.0.1 port=" + std::to_string(accrue::testing::free_loopback_port()) +
          " dbname=x user=x";
  o.size = 2;
  o.cooldown = std::chrono::milliseconds(200);
  Pool pool(o);
  auto first = pool.acquire();
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("cannot connect"), std::string::npos);
  EXPECT_FALSE(pool.stats().up);
  const auto t0 = std::chrono::steady_clock::now();
  auto fast = pool.acquire();
  ASSERT_FALSE(fast);
  EXPECT_EQ(fast.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(fast.error().message.find("PostgreSQL is unreachable"), std::string::npos)
      << fast.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_EQ(pool.stats().fast_failures, 1u);
  EXPECT_EQ(pool.stats().errors, 1u) << "no connect was tried while it cooled down";
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_FALSE(pool.acquire());
  EXPECT_EQ(pool.stats().errors, 2u) << "one probe after the cooldown";
  EXPECT_FALSE(pool.try_acquire()) << "never hands out a connection while down";
}

TEST(PoolTest, ReusesConnectionsAndRollsBackWhatALeaseLeftOpen) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  Pool pool({db.dsn(), 1, std::chrono::milliseconds(500), std::chrono::seconds(5)});
  std::string pid;
  {
    auto c = pool.acquire();
    ASSERT_TRUE(c);
    pid = std::string((*c)->exec("SELECT pg_backend_pid()")->text(0, 0));
    ASSERT_TRUE((*c)->exec("BEGIN; CREATE TABLE leaked (x int)"));
  }
  auto c = pool.acquire();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)->exec("SELECT pg_backend_pid()")->text(0, 0), pid) << "one connection, reused";
  EXPECT_EQ((*c)->exec("SELECT to_regclass('leaked') IS NULL")->text(0, 0), "t")
      << "the abandoned transaction was rolled back";
}

TEST(PoolTest, DropsAConnectionTheServerKilled) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  Pool pool({db.dsn(), 1, std::chrono::milliseconds(500), std::chrono::seconds(5)});
  std::string pid;
  {
    auto c = pool.acquire();
    ASSERT_TRUE(c);
    pid = std::string((*c)->exec("SELECT pg_backend_pid()")->text(0, 0));
    auto killer = db.connect();
    ASSERT_TRUE(killer);
    ASSERT_TRUE(killer->exec(("SELECT pg_terminate_backend(" + pid + ")").c_str()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = (*c)->exec("SELECT 1");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  }
  auto c = pool.acquire();
  ASSERT_TRUE(c);
  EXPECT_TRUE((*c)->exec("SELECT 1"));
  EXPECT_NE((*c)->exec("SELECT pg_backend_pid()")->text(0, 0), pid);
  EXPECT_EQ(pool.stats().errors, 1u);
}

TEST(MigrateTest, ReplicasStartingAtOnceApplyEachMigrationOnce) {
  TestDatabase db;  // already migrated once: reset to empty first
  ACCRUE_NEED_DATABASE(db);
  auto c = db.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
  std::vector<std::thread> replicas;
  std::atomic<int> applied{0}, failed{0};
  for (int i = 0; i < 6; ++i) {
    replicas.emplace_back([&] {
      auto conn = db.connect();
      if (!conn) return void(++failed);
      auto r = migrate(*conn, shipped_migrations());
      if (!r) return void(++failed);
      applied += r->applied;
    });
  }
  for (auto& t : replicas) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<int>(shipped_migrations().size()));
  auto v = schema_version(*c);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, shipped_migrations().back().version);
}

TEST(MigrateTest, RefusesANewerSchemaAndEditedHistoryChangingNothing) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  auto c = db.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec("INSERT INTO accrue_schema_migrations VALUES (999, 'future', 'x')"));
  auto newer = migrate(*c, shipped_migrations());
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(newer.error().message.find("newer"), std::string::npos);
  ASSERT_TRUE(c->exec("DELETE FROM accrue_schema_migrations WHERE version = 999"));

  std::vector<Migration> edited(shipped_migrations().begin(), shipped_migrations().end());
  std::string sql = std::string(edited[0].sql) + "\n-- edited";
  edited[0].sql = sql;
  auto e = migrate(*c, edited);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kDataLoss);

  std::vector<Migration> broken(shipped_migrations().begin(), shipped_migrations().end());
  broken.push_back({broken.back().version + 1, "broken",
                    "CREATE TABLE half_done (x int); SELECT * FROM no_such_table"});
  auto b = migrate(*c, broken);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("broken"), std::string::npos);
  EXPECT_EQ(db.scalar("SELECT to_regclass('half_done') IS NULL"), "t") << "nothing half-applied";
  EXPECT_EQ(db.scalar("SELECT max(version) FROM accrue_schema_migrations"),
            std::to_string(shipped_migrations().back().version));
}

TEST(SchemaTest, TheLedgerIsAppendOnlyAndPartitionedByMonth) {
  TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  auto c = db.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(ensure_ledger_partitions(*c));
  // 2026-11-28 as a UUIDv7 lands in November's partition.
  ASSERT_TRUE(
      c->exec("INSERT INTO ledger (event_id, customer_id, kind, points, occurred_at) VALUES "
              "('01a21f73-9c00-7000-8000-000000000001', 'c1', 5, 10, now())"));
  EXPECT_EQ(db.scalar("SELECT tableoid::regclass FROM ledger"), "ledger_2026_11");
  auto up = c->exec("UPDATE ledger SET points = 11");
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("append-only"), std::string::npos);
  EXPECT_FALSE(c->exec("DELETE FROM ledger"));
  auto dup = c->exec(
      "INSERT INTO ledger (event_id, customer_id, kind, points, occurred_at) VALUES "
      "('01a21f73-9c00-7000-8000-000000000001', 'c1', 5, 10, now())");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace accrue::cloud::pg
