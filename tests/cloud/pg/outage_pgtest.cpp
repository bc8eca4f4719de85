// The service when its dependencies fail: PostgreSQL frozen (accepts, never answers), down
// (connections cut and refused) or slow, and Redis unreachable. PostgreSQL sits behind the fault
// proxy, so only this test's connections suffer. What must hold: readiness says so, requests
// fail fast with 503 and a reason instead of piling up behind the database, and the service
// recovers by itself when the database returns.
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/sync/fault_proxy.h"

namespace accrue::cloud::testing_support {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kAnswerTimeoutMs = 1000;
constexpr int kCooldownMs = 300;

uint16_t port_of(const std::string& dsn) {
  auto at = dsn.rfind("port=");
  return at == std::string::npos ? 5432 : static_cast<uint16_t>(std::stoi(dsn.substr(at + 5)));
}

class PostgresOutageTest : public CloudAppTest {
 protected:
  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure()) return;
    add_customers(20);
    proxy_ = std::make_unique<accrue::testing::FaultProxy>(port_of(db_.dsn()));
    restart_app(
        {"postgres.dsn=" + db_.dsn() + " host=127.0.0.1 port=" + std::to_string(proxy_->port()),
         "postgres.answer_timeout_ms=" + std::to_string(kAnswerTimeoutMs),
         "postgres.down_cooldown_ms=" + std::to_string(kCooldownMs),
         "postgres.acquire_timeout_ms=500", "postgres.connect_timeout_s=1",
         "postgres.pool_size=4"});
    reader_ = hq_token({"hq-analyst"});
  }
  void TearDown() override {
    app_.reset();
    proxy_.reset();
    CloudAppTest::TearDown();
  }

  struct Answer {
    unsigned status = 0;
    double ms = 0;
    std::string body;
    std::string retry_after;
  };
  Answer timed(const std::string& target, const std::string& token = "") {
    const auto t0 = Steady::now();
    Answer a;
    try {
      HttpClient c(app_->port());
      auto r = token.empty() ? c.request(bhttp::verb::get, target)
                             : c.request(bhttp::verb::get, target, "",
                                         {{"Authorization", "Bearer " + token}});
      a.status = r.result_int();
      a.body = r.body();
      a.retry_after = std::string(r[bhttp::field::retry_after]);
    } catch (const std::exception& e) {
      a.body = e.what();
    }
    a.ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    return a;
  }
  Answer status() { return timed("/v1/customers/c1/status", reader_); }
  Answer ready() { return timed("/readyz"); }

  // `n` reads from 8 threads at once; returns the slowest answer's time and checks each is 503.
  double burst_of_503(int n) {
    std::vector<std::thread> threads;
    std::atomic<int> not_503{0};
    std::mutex mu;
    double slowest = 0;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < n / 8; ++i) {
          auto a = status();
          std::lock_guard lock(mu);
          slowest = std::max(slowest, a.ms);
          if (a.status != 503) ++not_503;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(not_503.load(), 0);
    return slowest;
  }

  // Until reads answer 200 again (bounded); the seconds it took.
  double recovery() {
    const auto t0 = Steady::now();
    while (Steady::now() - t0 < std::chrono::seconds(15)) {
      if (status().status == 200 && ready().status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(status().status, 200u) << "the service did not recover by itself";
    EXPECT_EQ(ready().status, 200u);
    return std::chrono::duration<double>(Steady::now() - t0).count();
  }

  std::unique_ptr<accrue::testing::FaultProxy> proxy_;
  std::string reader_;
};

TEST_F(PostgresOutageTest, AFrozenDatabaseCostsOneAnswerDeadlineThenRequestsFailFast) {
  ASSERT_EQ(status().status, 200u);
  ASSERT_EQ(ready().status, 200u);
  proxy_->set_stalled(true);
  // The first request waits for the answer deadline, no longer.
  auto first = status();
  EXPECT_EQ(first.status, 503u) << first.body;
  EXPECT_LT(first.ms, kAnswerTimeoutMs + 700);
  EXPECT_NE(first.body.find("did not answer within"), std::string::npos) << first.body;
  // Then the breaker is open: answers at once, with the reason and Retry-After.
  auto fast = status();
  EXPECT_EQ(fast.status, 503u);
  EXPECT_LT(fast.ms, 100);
  EXPECT_NE(fast.body.find("PostgreSQL is unreachable"), std::string::npos) << fast.body;
  EXPECT_EQ(fast.retry_after, "1");
  // Readiness fails at once, or after one probe (a new connection: libpq waits at least 2 s).
  auto r = ready();
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_LT(r.ms, 2000 + 700);
  // A burst while it is frozen: nothing piles up (each probe costs at most one deadline).
  const double slowest = burst_of_503(400);
  EXPECT_LT(slowest, 2000 + kAnswerTimeoutMs + 700);
  const auto ps = app_->pool().stats();
  EXPECT_FALSE(ps.up);
  EXPECT_EQ(ps.waiting, 0u);
  EXPECT_GT(ps.fast_failures, 0u);
  std::printf(
      "[outage] frozen: first answer %.0f ms, then %.1f ms; 400 reads at once, slowest "
      "%.0f ms; %llu refused at once\n",
      first.ms, fast.ms, slowest, static_cast<unsigned long long>(ps.fast_failures));
  proxy_->set_stalled(false);
  const double back = recovery();
  std::printf("[outage] frozen: serving again %.2f s after the database answered\n", back);
  EXPECT_TRUE(app_->pool().stats().up);
}

TEST_F(PostgresOutageTest, ADatabaseThatIsDownIsReportedAtOnceAndRejoinedWhenBack) {
  ASSERT_EQ(status().status, 200u);
  proxy_->set_down(true);
  auto first = status();
  EXPECT_EQ(first.status, 503u) << first.body;
  EXPECT_LT(first.ms, 1500);
  const double slowest = burst_of_503(400);
  EXPECT_LT(slowest, 1500);
  auto r = ready();
  EXPECT_EQ(r.status, 503u);
  EXPECT_NE(r.body.find("PostgreSQL"), std::string::npos) << r.body;
  // Uploads get the same answer: the agent keeps the batch and retries.
  {
    HttpClient c(app_->port());
    auto up = c.request(
        bhttp::verb::post, "/v1/sync/events",
        batch_of({accrual(1, "c1", 5000, "down-1")}).SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    EXPECT_EQ(up.result_int(), 503u) << up.body();
  }
  std::string m;
  {
    HttpClient c(app_->port());
    m = c.request(bhttp::verb::get, "/metrics").body();
  }
  EXPECT_NE(m.find("accrue_pg_up 0"), std::string::npos);
  std::printf("[outage] down: first answer %.0f ms, 400 reads at once, slowest %.0f ms\n", first.ms,
              slowest);
  proxy_->set_down(false);
  const double back = recovery();
  std::printf("[outage] down: serving again %.2f s after the database returned\n", back);
  {
    HttpClient c(app_->port());
    m = c.request(bhttp::verb::get, "/metrics").body();
  }
  EXPECT_NE(m.find("accrue_pg_up 1"), std::string::npos);
}

TEST_F(PostgresOutageTest, ASlowDatabaseIsSlowNotDown) {
  proxy_->set_latency(std::chrono::milliseconds(150));
  auto a = status();
  EXPECT_EQ(a.status, 200u) << a.body;
  auto r = ready();
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(app_->pool().stats().up);
  std::printf("[outage] slow (150 ms a round trip): a read took %.0f ms, readiness %.0f ms\n", a.ms,
              r.ms);
}

// Redis is a cache: unreachable, the replica stays ready (reads go to PostgreSQL) and says so.
class RedisUnreachableTest : public CloudAppTest {
 protected:
  std::vector<std::string> extra_settings() override {
    return {"redis.host=127.0.0.1",
            "redis.port=" + std::to_string(accrue::testing::free_loopback_port())};
  }
};

TEST_F(RedisUnreachableTest, TheReplicaStaysReadyAndSaysItIsDegraded) {
  add_customers(2);
  HttpClient c(app_->port());
  auto r = c.request(bhttp::verb::get, "/readyz");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_NE(r.body().find("degraded"), std::string::npos) << r.body();
  EXPECT_NE(r.body().find("Redis"), std::string::npos) << r.body();
  auto s = get("/v1/customers/c1/status", hq_token({"hq-analyst"}));
  EXPECT_EQ(s.result_int(), 200u) << s.body();
}

}  // namespace
}  // namespace accrue::cloud::testing_support
