// The sync issue's fault scenarios, with real processes (tests/sync/cluster.h): two stores'
// tills accrue and redeem through their agents while the link, the agents, the cloud or
// PostgreSQL fail. After each: every event a till saw acknowledged is in the cloud's ledger
// exactly once and for the points the till was told, accrue-cloud audit passes (balance ==
// sum(ledger)), the outboxes drain, no event is quarantined, and both stores' views of every
// member they touched converge to the cloud's (the time it took is printed).
//
// These are the short versions (seconds each) of the default test run; the soak
// (packaging/dev/soak) runs randomised faults for as long as it is asked to.
#include "common/coupon.h"
#include "common/sys/system.h"
#include "tests/sync/cluster.h"

namespace accrue::testing {
namespace {

class SyncFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ACCRUE_NEED_DATABASE(db_);
    cluster_ = std::make_unique<Cluster>(db_);
    cluster_->start();
  }
  void TearDown() override { cluster_.reset(); }
  // Tills running in the background until they have done `ops` operations each.
  void traffic(int ops) { cluster_->start_tills(ops, std::chrono::seconds(60), seed_++); }
  // Waits until the tills have `n` acknowledged operations between them (bounded).
  void after_acknowledged(int n) {
    Cluster::wait_until(std::chrono::seconds(20), [&] { return cluster_->acknowledged >= n; });
  }

  TestDatabase db_;
  std::unique_ptr<Cluster> cluster_;
  uint32_t seed_ = 7;
};

TEST_F(SyncFaults, TheCloudIsUnreachableForAWhileThenComesBack) {
  traffic(150);
  after_acknowledged(40);
  cluster_->proxy().set_down(true);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  cluster_->proxy().set_down(false);
  cluster_->join_tills();
  cluster_->check_everything("cloud unreachable, then back");
}

TEST_F(SyncFaults, ConnectionsAreResetInTheMiddleOfABatchUpload) {
  cluster_->proxy().reset_uploads(6);
  cluster_->run_tills(150, std::chrono::seconds(60), 11);
  cluster_->check_everything("resets mid-upload");
  EXPECT_GT(cluster_->proxy().resets(), 0);
}

TEST_F(SyncFaults, TheCloudCommitsABatchButTheAnswerIsLost) {
  cluster_->proxy().lose_upload_responses(6);
  cluster_->run_tills(150, std::chrono::seconds(60), 13);
  cluster_->check_everything("answers lost after commit");
  EXPECT_GT(cluster_->proxy().lost(), 0);
}

TEST_F(SyncFaults, TwoSecondsOfLatencyAndASlowTrickle) {
  cluster_->proxy().set_latency(std::chrono::milliseconds(2000));
  cluster_->proxy().trickle(true);
  cluster_->run_tills(80, std::chrono::seconds(60), 17);
  cluster_->proxy().set_latency(std::chrono::milliseconds(0));
  cluster_->proxy().trickle(false);
  cluster_->check_everything("2 s latency and a trickle");
}

TEST_F(SyncFaults, AnAgentIsKilledDuringUploadAndRestarted) {
  traffic(200);
  after_acknowledged(60);
  // Killed while its tills are busy and its outbox is moving.
  EXPECT_EQ(cluster_->agent(0).stop(SIGKILL), 128 + SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(cluster_->start_agent(0));
  cluster_->join_tills();
  cluster_->check_everything("agent SIGKILLed and restarted");
}

TEST_F(SyncFaults, TheCloudIsKilledDuringIngestAndRestarted) {
  traffic(200);
  after_acknowledged(60);
  EXPECT_EQ(cluster_->cloud().stop(SIGKILL), 128 + SIGKILL);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(cluster_->cloud().start(cluster_->cloud_port()));
  cluster_->join_tills();
  cluster_->check_everything("cloud SIGKILLed and restarted");
}

TEST_F(SyncFaults, PostgresIsRestarted) {
  const std::string services = service_env("ACCRUE_TEST_SERVICES_DIR");
  if (services.empty()) GTEST_SKIP() << "ACCRUE_TEST_SERVICES_DIR: the services script's folder";
  traffic(200);
  after_acknowledged(60);
  EXPECT_EQ(
      run_command({"/usr/bin/env", "bash", "packaging/dev/services", "restart-postgres", services},
                  cluster_->dir() + "/restart.log"),
      0);
  cluster_->join_tills();
  cluster_->check_everything("PostgreSQL restarted");
}

// The soak: randomised faults for ACCRUE_SOAK_SECONDS (packaging/dev/soak; skipped otherwise),
// tills busy throughout, then the same checks as every scenario.
// A bearer coupon used in both stores while both are cut off from the cloud: each store honours
// it (it cannot know), and on upload the cloud applies both uses, marks the coupon used, records
// the second as a double use, and tells both stores, which refuse it from then on.
TEST_F(SyncFaults, ACouponUsedInTwoOfflineStoresIsHonouredTwiceAndReportedOnce) {
  std::ifstream pem_file(cluster_->dir() + "/coupon.pem");
  const std::string pem(std::istreambuf_iterator<char>(pem_file), {});
  auto signer = CouponSigner::from_pem(pem, 1);
  ASSERT_TRUE(signer) << signer.error().message;
  SystemRandom random;
  CouponClaims claims;
  claims.coupon_id = Uuid::random_v4(random);
  claims.expires_at_ms = SystemClock().now_ms() + 30LL * 24 * 3600 * 1000;
  claims.reward_id = "five-off";
  auto code = signer->sign(claims);
  ASSERT_TRUE(code);
  const std::string id = claims.coupon_id.to_string();
  db_.scalar(
      "INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, key_id, "
      "code, issued_at, issued_by, expires_at) VALUES ('" +
      id + "', 'fashion-rewards', 3, 'five-off', 1, '" + *code +
      "', now(), 'campaign', now() + interval '30 days') RETURNING 1");

  auto coupon_at = [&](int s, const std::string& op, const std::string& tx = "") {
    pb::Request req;
    req.set_till_id("till-1");
    req.set_request_id(op + "-" + std::to_string(s) + tx);
    loyalty::v1::Basket b;
    b.set_currency("EUR");
    auto* l = b.add_lines();
    l->set_line_no(1);
    l->set_sku("TEE");
    l->set_quantity_milli(1000);
    l->set_amount_minor(2500);
    if (op == "check") {
      req.mutable_check_coupon()->set_code(*code);
    } else {
      req.mutable_apply_coupon()->set_code(*code);
      req.mutable_apply_coupon()->set_pos_tx_id(tx);
      *req.mutable_apply_coupon()->mutable_basket() = b;
    }
    return cluster_->ask(s, req);
  };
  // Both stores have the cloud's key from their feed.
  for (int s = 0; s < 2; ++s) {
    EXPECT_TRUE(Cluster::wait_until(std::chrono::seconds(20),
                                    [&] {
                                      auto r = coupon_at(s, "check");
                                      return r && r->has_coupon_check();
                                    }))
        << "store " << s << " cannot check the coupon";
  }
  cluster_->proxy().set_down(true);
  for (int s = 0; s < 2; ++s) {
    auto r = coupon_at(s, "apply", "coupon-sale-" + std::to_string(s));
    ASSERT_TRUE(r && r->has_apply_coupon()) << (r ? r->ShortDebugString() : "no answer");
    EXPECT_EQ(r->apply_coupon().coupon().discount().minor_units(), 500);
  }
  cluster_->proxy().set_down(false);
  cluster_->check_everything("a coupon used twice offline");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_event WHERE coupon_id = '" + id + "'"), "2");
  EXPECT_EQ(db_.scalar("SELECT status FROM coupon WHERE coupon_id = '" + id + "'"), "used");
  EXPECT_EQ(db_.scalar("SELECT count(*) || ' ' || min(reason) || ' ' || min(discount_minor) FROM "
                       "coupon_double_use WHERE coupon_id = '" +
                       id + "'"),
            "1 used 500");
  EXPECT_EQ(db_.scalar("SELECT count(DISTINCT store_id) FROM coupon_event WHERE coupon_id = '" +
                       id + "'"),
            "2");
  for (int s = 0; s < 2; ++s) {
    EXPECT_TRUE(Cluster::wait_until(std::chrono::seconds(20),
                                    [&] {
                                      auto r = coupon_at(s, "check");
                                      return r && r->has_error() &&
                                             r->error().message_id() == "coupon.spent";
                                    }))
        << "store " << s << " was not told the coupon is spent";
  }
}

TEST_F(SyncFaults, SoakWithRandomisedFaults) {
  const std::string seconds_text = service_env("ACCRUE_SOAK_SECONDS");
  if (seconds_text.empty()) GTEST_SKIP() << "the soak runs from packaging/dev/soak";
  const auto seconds = std::chrono::seconds(std::clamp(std::stoll(seconds_text), 10LL, 86400LL));
  const std::string services = service_env("ACCRUE_TEST_SERVICES_DIR");
  std::mt19937 rng(
      static_cast<uint32_t>(std::chrono::system_clock::now().time_since_epoch().count()));
  // A busy store: each till 25 operations a second (a sale every 40 ms), for the whole run.
  cluster_->start_tills(1'000'000, seconds, seed_++, 25);
  const auto until = Steady::now() + seconds;
  std::map<std::string, int> faults;
  auto pause = [&](int lo_ms, int hi_ms) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(lo_ms + static_cast<int>(rng() % (hi_ms - lo_ms + 1))));
  };
  while (Steady::now() + std::chrono::seconds(8) < until) {
    pause(1000, 4000);
    switch (rng() % 7) {
      case 0:
        cluster_->proxy().set_down(true);
        pause(500, 5000);
        cluster_->proxy().set_down(false);
        ++faults["link down"];
        break;
      case 1:
        cluster_->proxy().reset_uploads(1 + static_cast<int>(rng() % 3));
        ++faults["resets mid-upload"];
        break;
      case 2:
        cluster_->proxy().lose_upload_responses(1 + static_cast<int>(rng() % 3));
        cluster_->proxy().lose_redeem_responses(static_cast<int>(rng() % 2));
        ++faults["answers lost"];
        break;
      case 3:
        cluster_->proxy().set_latency(std::chrono::milliseconds(500 + rng() % 2000));
        cluster_->proxy().trickle(true);
        pause(2000, 6000);
        cluster_->proxy().set_latency(std::chrono::milliseconds(0));
        cluster_->proxy().trickle(false);
        ++faults["latency and trickle"];
        break;
      case 4: {
        const int s = static_cast<int>(rng() % 2);
        cluster_->agent(s).stop(SIGKILL);
        pause(100, 1500);
        ASSERT_TRUE(cluster_->start_agent(s));
        ++faults["agent SIGKILL"];
        break;
      }
      case 5:
        cluster_->cloud().stop(SIGKILL);
        pause(100, 2000);
        ASSERT_TRUE(cluster_->cloud().start(cluster_->cloud_port()));
        ++faults["cloud SIGKILL"];
        break;
      case 6:
        if (services.empty()) break;
        EXPECT_EQ(run_command({"/usr/bin/env", "bash", "packaging/dev/services", "restart-postgres",
                               services},
                              cluster_->dir() + "/restart.log"),
                  0);
        ++faults["PostgreSQL restart"];
        break;
    }
  }
  cluster_->join_tills();
  for (const auto& [name, n] : faults) std::printf("[soak] %-22s x %d\n", name.c_str(), n);
  // Whatever queued during the last faults drains (bounded), then the usual checks.
  cluster_->check_everything("soak " + seconds_text + " s", std::chrono::seconds(600));
}

}  // namespace
}  // namespace accrue::testing
