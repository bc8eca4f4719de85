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
// A bearer coupon of the cloud's (signed with its key, its row in the database), as a campaign
// would make one.
std::string issue_coupon(Cluster& cluster, TestDatabase& db, std::string* id_out,
                         const std::string& reward = "five-off") {
  std::ifstream pem_file(cluster.dir() + "/coupon.pem");
  const std::string pem(std::istreambuf_iterator<char>(pem_file), {});
  auto signer = CouponSigner::from_pem(pem, 1);
  EXPECT_TRUE(signer) << signer.error().message;
  if (!signer) return "";
  SystemRandom random;
  CouponClaims claims;
  claims.coupon_id = Uuid::random_v4(random);
  claims.expires_at_ms = SystemClock().now_ms() + 30LL * 24 * 3600 * 1000;
  claims.reward_id = reward;
  auto code = signer->sign(claims);
  EXPECT_TRUE(code);
  *id_out = claims.coupon_id.to_string();
  db.scalar(
      "INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, key_id, code, "
      "issued_at, issued_by, expires_at) VALUES ('" +
      *id_out + "', 'fashion-rewards', 3, '" + reward + "', 1, '" + code.value_or("") +
      "', now(), 'campaign', now() + interval '30 days') RETURNING 1");
  return code.value_or("");
}

// Checks (`tx` empty) or applies the coupon `code` at store `s` on a 25 EUR basket.
std::optional<pb::Response> coupon_at(Cluster& cluster, int s, const std::string& code,
                                      const std::string& tx = "") {
  static int n = 0;
  pb::Request req;
  req.set_till_id("till-1");
  req.set_request_id("coupon-" + std::to_string(++n));
  if (tx.empty()) {
    req.mutable_check_coupon()->set_code(code);
    return cluster.ask(s, req);
  }
  auto* a = req.mutable_apply_coupon();
  a->set_code(code);
  a->set_pos_tx_id(tx);
  auto* b = a->mutable_basket();
  b->set_currency("EUR");
  auto* l = b->add_lines();
  l->set_line_no(1);
  l->set_sku("TEE");
  l->set_quantity_milli(1000);
  l->set_amount_minor(2500);
  return cluster.ask(s, req);
}

// Both stores hold the cloud's coupon key (from their feed) once they can check `code`.
void wait_for_keys(Cluster& cluster, const std::string& code) {
  for (int s = 0; s < 2; ++s) {
    EXPECT_TRUE(Cluster::wait_until(std::chrono::seconds(20),
                                    [&] {
                                      auto r = coupon_at(cluster, s, code);
                                      return r && r->has_coupon_check();
                                    }))
        << "store " << s << " cannot check the coupon";
  }
}

// Online, the cloud decides: a coupon one store used is refused at the next at once, and a use
// whose answer was lost counts once (no double use).
TEST_F(SyncFaults, OnlineTheCloudDecidesACouponsOneUse) {
  std::string id, lost_id;
  const std::string code = issue_coupon(*cluster_, db_, &id);
  const std::string lost = issue_coupon(*cluster_, db_, &lost_id);
  wait_for_keys(*cluster_, code);
  auto first = coupon_at(*cluster_, 0, code, "online-use");
  ASSERT_TRUE(first && first->has_apply_coupon()) << (first ? first->ShortDebugString() : "");
  EXPECT_FALSE(first->apply_coupon().offline()) << "decided by the cloud";
  EXPECT_EQ(db_.scalar("SELECT status || ' ' || used_store_id FROM coupon WHERE coupon_id = '" +
                       id + "'"),
            "used S0");
  auto second = coupon_at(*cluster_, 1, code, "online-use-too");
  ASSERT_TRUE(second && second->has_error()) << (second ? second->ShortDebugString() : "");
  EXPECT_EQ(second->error().message_id(), "coupon.spent");

  cluster_->proxy().lose_redeem_responses(1);
  auto unanswered = coupon_at(*cluster_, 1, lost, "lost-answer");
  ASSERT_TRUE(unanswered && unanswered->has_apply_coupon())
      << (unanswered ? unanswered->ShortDebugString() : "");
  // The agent either asked again (a duplicate: the cloud's decision stands) or, without an
  // answer, decided under the same event id; either way one use.
  EXPECT_GT(cluster_->proxy().lost(), 0);
  cluster_->check_everything("coupons decided online");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_event WHERE coupon_id IN ('" + id + "', '" +
                       lost_id + "')"),
            "2")
      << "each use once: the uploads were duplicates of the online decisions";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use"), "0");
}

// A bearer coupon used in both stores while both are cut off from the cloud: each store honours
// it (it cannot know), and on upload the cloud applies both uses, marks the coupon used, records
// the second as a double use, and tells both stores, which refuse it from then on.
TEST_F(SyncFaults, ACouponUsedInTwoOfflineStoresIsHonouredTwiceAndReportedOnce) {
  std::string id;
  const std::string code = issue_coupon(*cluster_, db_, &id);
  wait_for_keys(*cluster_, code);
  cluster_->proxy().set_down(true);
  for (int s = 0; s < 2; ++s) {
    auto r = coupon_at(*cluster_, s, code, "coupon-sale-" + std::to_string(s));
    ASSERT_TRUE(r && r->has_apply_coupon()) << (r ? r->ShortDebugString() : "no answer");
    EXPECT_EQ(r->apply_coupon().coupon().discount().minor_units(), 500);
    EXPECT_TRUE(r->apply_coupon().offline());
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
                                      auto r = coupon_at(*cluster_, s, code);
                                      return r && r->has_error() &&
                                             r->error().message_id() == "coupon.spent";
                                    }))
        << "store " << s << " was not told the coupon is spent";
  }
}

// A points-multiplier coupon, applied offline and named by the sale that follows: the till
// doubles the sale's points, and the cloud, given the use and the sale on upload, books the same
// figure (no mismatch).
TEST_F(SyncFaults, APointsMultiplierCouponDoublesTheSaleAtTheTillAndInTheCloudAlike) {
  std::string id;
  const std::string code = issue_coupon(*cluster_, db_, &id, "double-points");
  wait_for_keys(*cluster_, code);
  auto sale = [&](const std::string& tx, const std::string& coupon_tx) {
    pb::Request req;
    req.set_till_id("till-1");
    req.set_request_id(tx);
    auto* a = req.mutable_accrue();
    a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    a->mutable_identifier()->set_value(Cluster::card(7));
    a->set_pos_tx_id(tx);
    if (!coupon_tx.empty()) a->add_coupon_pos_tx_ids(coupon_tx);
    auto* b = a->mutable_basket();
    b->set_currency("EUR");
    b->set_occurred_at_ms(SystemClock().now_ms());
    auto* l = b->add_lines();
    l->set_line_no(1);
    l->set_sku("TEE");
    l->set_quantity_milli(1000);
    l->set_amount_minor(2500);
    return cluster_->ask(0, req);
  };
  cluster_->proxy().set_down(true);
  auto plain = sale("mult-plain", "");
  ASSERT_TRUE(plain && plain->has_accrue()) << (plain ? plain->ShortDebugString() : "no answer");
  auto use = coupon_at(*cluster_, 0, code, "mult-coupon");
  ASSERT_TRUE(use && use->has_apply_coupon()) << (use ? use->ShortDebugString() : "no answer");
  EXPECT_EQ(use->apply_coupon().coupon().points_multiplier_bp(), 20000);
  auto doubled = sale("mult-sale", "mult-coupon");
  ASSERT_TRUE(doubled && doubled->has_accrue())
      << (doubled ? doubled->ShortDebugString() : "no answer");
  EXPECT_EQ(doubled->accrue().points_earned(), 2 * plain->accrue().points_earned());
  cluster_->proxy().set_down(false);
  cluster_->check_everything("a points multiplier used offline");
  EXPECT_EQ(db_.scalar("SELECT points || ' ' || coalesce(agent_points::text, 'agreed') FROM "
                       "ledger WHERE event_id = '" +
                       doubled->accrue().event_id() + "'"),
            std::to_string(doubled->accrue().points_earned()) + " agreed");
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
