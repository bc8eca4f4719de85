// Rewards claimed at a till (docs/rewards.md, "Claims at the till"): online the cloud decides
// while the till waits (POST /v1/sync/claim: the reward's rules with the stock locked, her
// points, the coupon signed), once per event; a claim a store decided offline is honoured when it
// is uploaded, past the stock or her points (an overdraft) if it must be.
#include <atomic>
#include <thread>

#include "common/coupon.h"
#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;

constexpr const char* kRewards = R"([
  {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 100,
   "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": 500}]}},
  {"reward_id": "scarce", "name": "One of two", "cost_points": 10, "stock": 2,
   "offline_claimable": true, "gift": {"description": "A limited print"}},
  {"reward_id": "tote", "name": "Tote bag", "per_member_limit": 1,
   "gift": {"description": "A tote bag"}},
  {"reward_id": "gold-lounge", "name": "Lounge pass", "cost_points": 10, "tiers": ["gold"],
   "gift": {"description": "A lounge pass"}}
])";

class RewardClaimsTest : public CloudAppTest {
 protected:
  std::vector<std::string> extra_settings() override {
    key_pem_ = *make_coupon_key_pem();
    std::ofstream((dir_ / "coupon.pem").string()) << key_pem_;
    return {"auth.coupon_key_file=" + (dir_ / "coupon.pem").string(), "auth.coupon_key_id=7"};
  }
  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    // A subscriber to reward.claimed, so the webhook rows can be seen.
    ASSERT_TRUE(db_.connect()->exec(
        "INSERT INTO webhook_subscription (subscription_id, url, event_types, secret, "
        "created_by) VALUES (gen_random_uuid(), 'https://hooks.test/r', '{reward.claimed}', 's', "
        "'test')"));
  }
  std::string program_json() override {
    auto p = boost::json::parse(CloudAppTest::program_json()).as_object();
    p["rewards"] = boost::json::parse(kRewards);
    return boost::json::serialize(p);
  }
  // A bronze member (a UUID id, as coupons name her) with `points` available.
  std::string member(int64_t points) {
    const std::string id = ids_.next().to_string();
    EXPECT_TRUE(db_.connect()->exec(("INSERT INTO customer (customer_id, tier_id) VALUES ('" + id +
                                     "', 'bronze'); INSERT INTO balance (customer_id) VALUES ('" +
                                     id + "')")
                                        .c_str()));
    if (points > 0) {
      auto adj = envelope(++seq_);
      adj.mutable_adjustment()->set_customer_id(id);
      adj.mutable_adjustment()->set_points(points);
      adj.mutable_adjustment()->set_reason("start");
      EXPECT_EQ(results(post(batch_of({adj}), token_)).results(0).status(),
                sv1::EVENT_STATUS_APPLIED);
    }
    return id;
  }
  sv1::EventEnvelope claim_event(const std::string& customer, const std::string& reward,
                                 int64_t cost, bool offline = false, uint64_t seq = 0) {
    auto e = envelope(seq);
    auto* c = e.mutable_reward_claim();
    c->set_customer_id(customer);
    c->set_reward_id(reward);
    c->set_coupon_id(ids_.next().to_string());
    c->set_till_id("till-1");
    c->set_pos_tx_id("claim-" + e.event_id());
    c->set_cost_points(cost);
    c->set_offline(offline);
    return e;
  }
  sv1::OnlineClaimResponse claim(const sv1::EventEnvelope& e, unsigned want = 200) {
    sv1::OnlineClaimRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/claim", req.SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    EXPECT_EQ(res.result_int(), want) << res.body();
    sv1::OnlineClaimResponse out;
    if (res.result_int() == 200) {
      EXPECT_TRUE(out.ParseFromString(res.body()));
    }
    return out;
  }
  CouponVerifier verifier() {
    CouponVerifier v;
    auto signer = CouponSigner::from_pem(key_pem_, 7);
    EXPECT_TRUE(signer);
    EXPECT_TRUE(v.add_key(7, signer->public_key()));
    return v;
  }
  std::string coupons(const std::string& where) {
    return db_.scalar(("SELECT count(*) FROM coupon WHERE " + where).c_str());
  }

  std::string key_pem_;
  uint64_t seq_ = 0;
};

TEST_F(RewardClaimsTest, AnOnlineClaimIssuesItsCouponOnceAndBooksItsCost) {
  const std::string ada = member(300);
  const auto e = claim_event(ada, "five-off", 100);
  auto r = claim(e);
  ASSERT_EQ(r.result().status(), sv1::EVENT_STATUS_APPLIED) << r.result().message();
  EXPECT_EQ(r.available_points(), 200);
  ASSERT_FALSE(r.code().empty());
  auto claims = verifier().verify(r.code(), clock_.now_ms());
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->coupon_id.to_string(), e.reward_claim().coupon_id());
  EXPECT_EQ(claims->member_id->to_string(), ada);
  EXPECT_EQ(claims->reward_id, "five-off");
  EXPECT_EQ(claims->expires_at_ms, r.expires_at_ms());
  EXPECT_EQ(coupons("claim_event_id = '" + e.event_id() +
                    "' AND issued_by = 'store:S1/till-1' "
                    "AND cost_points = 100 AND status = 'issued'"),
            "1");
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'five-off'"), "1");
  EXPECT_EQ(
      db_.scalar(("SELECT points FROM ledger WHERE event_id = '" + e.event_id() + "'").c_str()),
      "-100");
  EXPECT_EQ(db_.scalar("SELECT payload->>'store_id' || '/' || (payload->>'offline') FROM "
                       "webhook_outbox WHERE event_type = 'reward.claimed'"),
            "S1/false");

  // The till retries (its answer was lost): the same coupon, nothing booked twice.
  auto again = claim(e);
  EXPECT_EQ(again.result().status(), sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(again.code(), r.code());
  EXPECT_EQ(again.available_points(), 200);
  // The store uploads the event later, as it uploads every event: a duplicate.
  auto uploaded = e;
  uploaded.set_seq(++seq_);
  EXPECT_EQ(results(post(batch_of({uploaded}), token_)).results(0).status(),
            sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(coupons("customer_id = '" + ada + "'"), "1");
  EXPECT_EQ(db_.scalar(("SELECT points FROM balance WHERE customer_id = '" + ada + "'").c_str()),
            "200");
}

TEST_F(RewardClaimsTest, ARefusalCarriesTheTillsMessageIdAndChangesNothing) {
  const std::string bea = member(50);
  auto tier = claim(claim_event(bea, "gold-lounge", 10));
  EXPECT_EQ(tier.result().status(), sv1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(tier.result().reject_code(), "reward_refused");
  EXPECT_EQ(tier.message_id(), "reward.tier");
  auto poor = claim(claim_event(bea, "five-off", 100));
  EXPECT_EQ(poor.result().status(), sv1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(poor.result().reject_code(), "insufficient_points");
  EXPECT_EQ(poor.message_id(), "points.insufficient");
  EXPECT_EQ(poor.available_points(), 50);
  // Her limit: one tote.
  EXPECT_EQ(claim(claim_event(bea, "tote", 0)).result().status(), sv1::EVENT_STATUS_APPLIED);
  auto second = claim(claim_event(bea, "tote", 0));
  EXPECT_EQ(second.message_id(), "reward.member_limit");
  // What the store's programme does not say: rejected with the reason, not a refusal id.
  auto unknown = claim(claim_event(bea, "no-such-reward", 0));
  EXPECT_EQ(unknown.result().reject_code(), "bad_claim");
  auto cheap = claim(claim_event(bea, "five-off", 1));
  EXPECT_EQ(cheap.result().reject_code(), "bad_claim");
  auto unpublished = claim_event(bea, "five-off", 100);
  unpublished.set_program_version(999);
  EXPECT_EQ(claim(unpublished).result().reject_code(), "program_version");
  EXPECT_EQ(coupons("customer_id = '" + bea + "'"), "1");
  EXPECT_EQ(db_.scalar(("SELECT points FROM balance WHERE customer_id = '" + bea + "'").c_str()),
            "50");
  // Not a claim, or not protobuf: the caller's mistake.
  auto redemption = envelope(0);
  redemption.mutable_redemption()->set_customer_id(bea);
  redemption.mutable_redemption()->set_points(1);
  claim(redemption, 400);
}

TEST_F(RewardClaimsTest, ConcurrentClaimsIssueExactlyTheStock) {
  std::vector<std::string> members;
  for (int i = 0; i < 6; ++i) members.push_back(member(100));
  std::atomic<int> applied{0}, out_of_stock{0};
  std::vector<std::thread> tills;
  for (const auto& m : members) {
    const auto e = claim_event(m, "scarce", 10);
    tills.emplace_back([&, e] {
      auto r = claim(e);
      if (r.result().status() == sv1::EVENT_STATUS_APPLIED) ++applied;
      if (r.message_id() == "reward.out_of_stock") ++out_of_stock;
    });
  }
  for (auto& t : tills) t.join();
  EXPECT_EQ(applied.load(), 2);
  EXPECT_EQ(out_of_stock.load(), 4);
  EXPECT_EQ(coupons("reward_id = 'scarce'"), "2");
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'scarce'"), "2");
  EXPECT_EQ(db_.scalar("SELECT sum(points) FROM balance"), "580");
}

TEST_F(RewardClaimsTest, AClaimDecidedOfflineIsHonouredOnUploadPastTheStockAndHerPoints) {
  // The stock is gone already, and her points were spent elsewhere meanwhile.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(claim(claim_event(member(10), "scarce", 10)).result().status(),
              sv1::EVENT_STATUS_APPLIED);
  }
  const std::string cleo = member(4);
  auto offline = claim_event(cleo, "scarce", 10, true, ++seq_);
  ASSERT_EQ(results(post(batch_of({offline}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(coupons("customer_id = '" + cleo + "' AND code <> '' AND claim_event_id = '" +
                    offline.event_id() + "'"),
            "1");
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'scarce'"), "3");
  EXPECT_EQ(db_.scalar(("SELECT points FROM overdraft WHERE customer_id = '" + cleo + "'").c_str()),
            "6");
  EXPECT_EQ(db_.scalar(("SELECT points FROM balance WHERE customer_id = '" + cleo + "'").c_str()),
            "-6");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox WHERE event_type = 'reward.claimed' "
                       "AND payload->>'beyond_stock' = 'true' AND payload->>'offline' = 'true'"),
            "1");
  // What a store may not decide offline, and a coupon id another coupon holds: rejected, and
  // nothing of them booked.
  auto not_offline = claim_event(cleo, "five-off", 100, true, ++seq_);
  auto taken = claim_event(cleo, "scarce", 10, true, ++seq_);
  taken.mutable_reward_claim()->set_coupon_id(offline.reward_claim().coupon_id());
  const auto rejected = results(post(batch_of({not_offline, taken}), token_));
  ASSERT_EQ(rejected.results_size(), 2);
  for (const auto& r : rejected.results()) {
    EXPECT_EQ(r.status(), sv1::EVENT_STATUS_REJECTED);
    EXPECT_EQ(r.reject_code(), "bad_claim") << r.message();
  }
  EXPECT_EQ(coupons("customer_id = '" + cleo + "'"), "1");
  EXPECT_EQ(db_.scalar(("SELECT points FROM balance WHERE customer_id = '" + cleo + "'").c_str()),
            "-6");
}

// A gift costs nothing, so no ledger row holds its claim: its upload is still a duplicate (the
// coupon names the claim's event). A gift claimed at a till is handed over there: the claim and a
// use of its coupon arrive in one batch, and the use finds the coupon the claim issued.
TEST_F(RewardClaimsTest, AGiftClaimedAtATillIsUploadedOnceAndUsedByItsNextEvent) {
  const std::string dora = member(0);
  auto online = claim_event(dora, "tote", 0);
  ASSERT_EQ(claim(online).result().status(), sv1::EVENT_STATUS_APPLIED);
  online.set_seq(++seq_);
  auto use = envelope(++seq_);
  auto* u = use.mutable_coupon_use();
  u->set_coupon_id(online.reward_claim().coupon_id());
  u->set_reward_id("tote");
  u->set_customer_id(dora);
  u->set_till_id("till-1");
  u->set_pos_tx_id(online.reward_claim().pos_tx_id() + ":gift");
  const auto r = results(post(batch_of({online, use}), token_));
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_DUPLICATE) << r.DebugString();
  EXPECT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED) << r.DebugString();
  EXPECT_EQ(coupons("customer_id = '" + dora + "' AND status = 'used'"), "1");

  // Decided offline: the claim issues the coupon, the use in the same batch spends it.
  const std::string eli = member(20);
  auto offline = claim_event(eli, "scarce", 10, true, ++seq_);
  auto hand_over = use;
  hand_over.set_event_id(ids_.next().to_string());
  hand_over.set_seq(++seq_);
  hand_over.mutable_coupon_use()->set_coupon_id(offline.reward_claim().coupon_id());
  hand_over.mutable_coupon_use()->set_reward_id("scarce");
  hand_over.mutable_coupon_use()->set_customer_id(eli);
  const auto both = results(post(batch_of({offline, hand_over}), token_));
  for (const auto& one : both.results()) {
    EXPECT_EQ(one.status(), sv1::EVENT_STATUS_APPLIED) << both.DebugString();
  }
  EXPECT_EQ(coupons("customer_id = '" + eli + "' AND status = 'used'"), "1");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use"), "0");
}

// A store that never heard the answer to an online claim, and whose till did not ask again,
// uploads it marked abandoned: what the cloud booked stays booked (a duplicate), what it did not
// book is not booked now.
TEST_F(RewardClaimsTest, AnAbandonedClaimKeepsWhatTheCloudBookedAndBooksNothingElse) {
  const std::string fay = member(300);
  auto booked = claim_event(fay, "five-off", 100);
  ASSERT_EQ(claim(booked).result().status(), sv1::EVENT_STATUS_APPLIED);
  auto never = claim_event(fay, "five-off", 100);
  for (auto* e : {&booked, &never}) {
    e->set_seq(++seq_);
    e->mutable_reward_claim()->set_abandoned(true);
  }
  const auto r = results(post(batch_of({booked, never}), token_));
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_DUPLICATE) << r.DebugString();
  EXPECT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED) << r.DebugString();
  EXPECT_EQ(coupons("customer_id = '" + fay + "'"), "1");
  EXPECT_EQ(db_.scalar(("SELECT points FROM balance WHERE customer_id = '" + fay + "'").c_str()),
            "200");
  // Only an upload abandons: the online route refuses it.
  auto asked = claim_event(fay, "five-off", 100);
  asked.mutable_reward_claim()->set_abandoned(true);
  claim(asked, 400);
}

}  // namespace
}  // namespace accrue::cloud
