// The hot-read cache against real Redis 7: hits, invalidation on ingest, a slow reader that must
// not re-fill a stale value, and Redis dying or hanging mid-run (reads keep coming from
// PostgreSQL).
#include "cloud/cache/customer_cache.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/cloud/cloud_app_fixture.h"
#include "tests/common/child_process.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
using accrue::testing::service_env;

class CacheTest : public CloudAppTest {
 protected:
  void SetUp() override {
    ACCRUE_NEED_SERVICE("ACCRUE_TEST_REDIS_HOST");
    CloudAppTest::SetUp();
  }
  std::vector<std::string> extra_settings() override {
    return {"redis.host=" + redis_host(), "redis.port=" + std::to_string(redis_port()),
            "redis.ttl_s=60", "redis.key_prefix=" + prefix_};
  }
  virtual std::string redis_host() { return service_env("ACCRUE_TEST_REDIS_HOST"); }
  virtual uint16_t redis_port() {
    return static_cast<uint16_t>(std::stoi(service_env("ACCRUE_TEST_REDIS_PORT")));
  }
  int64_t pending(const std::string& id) {
    auto r = get("/v1/customers/" + id + "/status", hq_token({"hq-analyst"}));
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    auto v = boost::json::parse(r.body());
    return v.at("points").at("pending").as_int64();
  }
  std::string cid(int i) { return "c" + std::to_string(i); }
  // Tests run in parallel against one Redis: each has its own key prefix, so they never meet.
  std::string key(const std::string& k) { return prefix_ + k; }
  std::string prefix_ = "accrue-test-" + std::to_string(::getpid()) + "-" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
};

TEST_F(CacheTest, SecondReadIsAHitAndAnIngestInvalidatesBeforeItReturns) {
  add_customers(3);
  // The database is fresh but Redis is shared: start from a clean generation for our ids.
  cache::Redis direct({redis_host(), redis_port()});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(direct.command(
        {"DEL", key("gen:" + cid(i)), key("status:" + cid(i)), key("profile:" + cid(i))}));
  }
  EXPECT_EQ(pending("c0"), 0);
  EXPECT_EQ(pending("c0"), 0);
  EXPECT_EQ(app_->cache_counters().hits.load(), 1u);
  EXPECT_EQ(app_->cache_counters().fills.load(), 1u);
  int64_t expected = 0;
  for (int round = 0; round < 5; ++round) {
    auto sale = accrual(static_cast<uint64_t>(round + 1), "c0", 2000 + round * 100,
                        "s" + std::to_string(round));
    expected += sale.accrual().points();
    auto r = results(post(batch_of({sale}), token_));
    ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED);
    EXPECT_EQ(pending("c0"), expected) << "no stale balance after the ingest call returned";
    EXPECT_EQ(pending("c0"), expected);
  }
  EXPECT_GE(app_->cache_counters().hits.load(), 6u);
  EXPECT_EQ(app_->cache_counters().invalidations.load(), 5u);
}

TEST_F(CacheTest, TheFirstTransactionsPageIsCachedUntilAnEventForThatCustomer) {
  add_customers(1);
  cache::Redis direct({redis_host(), redis_port()});
  ASSERT_TRUE(direct.command({"DEL", key("gen:c0"), key("tx2:c0")}));
  const std::string token = hq_token({"hq-analyst"});
  auto items = [&](const std::string& query) {
    auto r = get("/v1/customers/c0/transactions" + query, token);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    return boost::json::parse(r.body()).as_object();
  };
  auto sale = accrual(1, "c0", 4000, "s1");
  auto second = accrual(2, "c0", 5000, "s2");
  second.set_occurred_at_ms(sale.occurred_at_ms() + 1000);
  ASSERT_EQ(results(post(batch_of({sale, second}), token_)).results(1).status(),
            sv1::EVENT_STATUS_APPLIED);
  auto first = items("?limit=2");
  EXPECT_EQ(items("?limit=2"), first);
  EXPECT_EQ(app_->cache_counters().hits.load(), 1u) << "the second read of page one is a hit";
  EXPECT_TRUE(first["next_cursor"].is_null()) << "two entries fit one page";

  // A return changes the sale's row (points_reversed): the cached page must not survive it.
  auto ret = envelope(3);
  ret.set_occurred_at_ms(second.occurred_at_ms() + 1000);
  ret.mutable_return_()->set_customer_id("c0");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-1");
  ret.mutable_return_()->set_original_event_id(second.event_id());
  ret.mutable_return_()->set_points_reversed(5);
  ASSERT_EQ(results(post(batch_of({ret}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto after = items("?limit=2");
  const auto& list = after["items"].as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("event_id").as_string(), ret.event_id()) << "newest first, not cached";
  EXPECT_EQ(list[1].at("points_reversed").as_int64(), 5);
  ASSERT_FALSE(after["next_cursor"].is_null());

  // Pages after the first are read through, never cached.
  const uint64_t hits = app_->cache_counters().hits.load();
  const std::string next = "?limit=2&cursor=" + std::string(after["next_cursor"].as_string());
  EXPECT_EQ(items(next)["items"].as_array().size(), 1u);
  EXPECT_EQ(items(next)["items"].as_array().size(), 1u);
  EXPECT_EQ(app_->cache_counters().hits.load(), hits);
}

TEST_F(CacheTest, AFillRenewsTheGenerationSoItOutlivesItsEntries) {
  add_customers(1);
  cache::Redis direct({redis_host(), redis_port()});
  ASSERT_TRUE(direct.command({"DEL", key("gen:c0"), key("status:c0")}));
  auto sale = accrual(1, "c0", 3000, "s1");
  ASSERT_EQ(results(post(batch_of({sale}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);  // generation 1
  ASSERT_TRUE(direct.command({"EXPIRE", key("gen:c0"), "5"}));
  EXPECT_EQ(pending("c0"), sale.accrual().points());  // a miss that fills, stamped "1"
  auto ttl = direct.command({"TTL", key("gen:c0")});
  ASSERT_TRUE(ttl);
  EXPECT_GT((*ttl)->integer, 60) << "the generation would expire before the entry stamped with it";
}

TEST_F(CacheTest, ASlowReaderCannotPutBackAValueOlderThanAnInvalidation) {
  cache::Redis redis({redis_host(), redis_port()});
  cache::CustomerCache cache(redis, std::chrono::seconds(60), prefix_);
  const std::string id = "slow-" + std::to_string(::getpid());
  auto seen = cache.get("status", id);  // reader: miss, goes to PostgreSQL...
  ASSERT_TRUE(seen.reachable);
  ASSERT_FALSE(seen.hit);
  ASSERT_TRUE(cache.invalidate({id}));               // ...an ingest commits meanwhile...
  cache.fill("status", id, seen, "{\"old\":true}");  // ...and the reader comes back late
  EXPECT_EQ(cache.counters().refused_fills.load(), 1u);
  EXPECT_FALSE(cache.get("status", id).hit) << "the stale value was not stored";
  auto fresh = cache.get("status", id);
  cache.fill("status", id, fresh, "{\"new\":true}");
  EXPECT_EQ(cache.get("status", id).hit, "{\"new\":true}");
}

// Our own redis-server, so it can be killed without disturbing other tests.
class RedisDiesTest : public CacheTest {
 protected:
  void SetUp() override {
    ACCRUE_NEED_SERVICE("ACCRUE_TEST_REDIS_HOST");
    port_ = accrue::testing::free_loopback_port();
    pid_ = accrue::testing::start_child(accrue::testing::ChildSpec(
        {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "warning"}));
    ASSERT_GT(pid_, 0) << "redis-server did not start";
    for (int i = 0; i < 100; ++i) {
      cache::Redis probe({"127.0.0.1", port_});
      if (probe.command({"PING"})) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CloudAppTest::SetUp();
  }
  void TearDown() override {
    CloudAppTest::TearDown();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string redis_host() override { return "127.0.0.1"; }
  uint16_t redis_port() override { return port_; }
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(RedisDiesTest, ReadsAndIngestKeepWorkingFromPostgresWhenRedisIsKilledMidRun) {
  add_customers(1);
  EXPECT_EQ(pending("c0"), 0);
  EXPECT_EQ(pending("c0"), 0);
  ASSERT_EQ(app_->cache_counters().hits.load(), 1u);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  auto sale = accrual(1, "c0", 5000, "after-redis-died");
  auto r = results(post(batch_of({sale}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << "ingest does not need Redis";
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(pending("c0"), sale.accrual().points());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  }
  EXPECT_GE(app_->cache_counters().invalidation_failures.load(), 1u);
}

// A Redis that accepts connections and never answers: each call costs at most the timeout, and
// the breaker makes most calls skip Redis altogether.
class RedisHangsTest : public CacheTest {
 protected:
  void SetUp() override {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 64);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    CacheTest::SetUp();
  }
  void TearDown() override {
    CacheTest::TearDown();
    ::close(listener_);
  }
  std::string redis_host() override { return "127.0.0.1"; }
  uint16_t redis_port() override { return port_; }
  int listener_ = -1;
  uint16_t port_ = 0;
};

TEST_F(RedisHangsTest, ASilentRedisCostsAtMostItsTimeoutThenIsSkipped) {
  add_customers(1);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) EXPECT_EQ(pending("c0"), 0);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(3)) << "30 reads, Redis silent";
  EXPECT_EQ(app_->cache_counters().hits.load(), 0u);
}

}  // namespace
}  // namespace accrue::cloud
