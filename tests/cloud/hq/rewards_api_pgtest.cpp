// Rewards and coupons through the head-office API (docs/rewards.md): a claim books its cost and
// issues a coupon any store can verify, the reward's rules refuse what they must, a stock of K
// issues exactly K coupons under concurrent claims, and voiding gives the points back.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/base64url.h"
#include "common/coupon.h"
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

constexpr const char* kRewards = R"([
  {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 500,
   "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": 500}]}},
  {"reward_id": "gold-lounge", "name": "Lounge pass", "cost_points": 10, "tiers": ["gold"],
   "gift": {"description": "A lounge pass"}},
  {"reward_id": "tote", "name": "Tote bag", "per_member_limit": 1,
   "gift": {"description": "A tote bag"}},
  {"reward_id": "scarce", "name": "One of five", "cost_points": 10, "stock": 5,
   "gift": {"description": "A limited print"}},
  {"reward_id": "vip-only", "name": "VIP evening", "segments": ["vip"],
   "gift": {"description": "An invitation"}}
])";

class HqRewardsTest : public HqApiTest {
 protected:
  void SetUp() override {
    key_pem_ = *make_coupon_key_pem();
    key_file_path_ = (std::filesystem::temp_directory_path() /
                      ("accrue-coupon-key-" + std::to_string(::getpid()) + ".pem"))
                         .string();
    std::ofstream(key_file_path_) << key_pem_;
    more_settings_ = {"auth.coupon_key_file=" + key_file_path_, "auth.coupon_key_id=9"};
    HqApiTest::SetUp();
  }
  void TearDown() override {
    HqApiTest::TearDown();
    std::filesystem::remove(key_file_path_);
  }
  std::string program_json() override {  // the demo's, with this test's catalogue instead
    auto p = boost::json::parse(HqApiTest::program_json()).as_object();
    p["rewards"] = boost::json::parse(kRewards);
    return boost::json::serialize(p);
  }
  // A member with `points` available.
  std::string member_with(int64_t points) {
    const std::string id = create("{}");
    if (points > 0) {
      auto r = call(V::post, "/v1/customers/" + id + "/adjustments",
                    R"({"points": )" + std::to_string(points) + R"(, "reason": "start"})", admin_);
      EXPECT_EQ(r.status, 201) << r.body;
    }
    return id;
  }
  int64_t available(const std::string& id) {
    return get("/v1/customers/" + id + "/status", analyst_)
        .obj()
        .at("points")
        .at("available")
        .as_int64();
  }
  Res claim(const std::string& id, const std::string& reward) {
    return call(V::post, "/v1/customers/" + id + "/rewards/" + reward + "/claims",
                R"({"reason": "asked at the service desk"})", support_);
  }
  std::string message_id(const Res& r) {
    return r.obj().contains("message_id") ? std::string(r.obj().at("message_id").as_string()) : "";
  }

  std::string key_pem_, key_file_path_;
};

TEST_F(HqRewardsTest, AClaimBooksItsCostAndIssuesACouponAnyStoreCanVerify) {
  const std::string id = member_with(1200);
  auto r = claim(id, "five-off");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.obj().at("status").as_string(), "issued");
  EXPECT_EQ(r.obj().at("cost_points").as_int64(), 500);
  EXPECT_EQ(r.obj().at("key_id").as_int64(), 9);
  EXPECT_EQ(available(id), 700) << "the cost is booked with the claim";

  // The code is what a till scans: signed by the configured key, naming reward and member.
  CouponVerifier stores;
  ASSERT_TRUE(stores.add_key(9, CouponSigner::from_pem(key_pem_, 9)->public_key()));
  auto c = stores.verify(std::string(r.obj().at("code").as_string()), SystemClock().now_ms());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->reward_id, "five-off");
  ASSERT_TRUE(c->member_id);
  EXPECT_EQ(c->member_id->to_string(), id);
  EXPECT_EQ(c->coupon_id.to_string(), r.obj().at("coupon_id").as_string());

  auto mine = get("/v1/customers/" + id + "/coupons", analyst_);
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.obj().at("items").as_array().size(), 1u);
  auto catalogue = get("/v1/rewards", analyst_);
  ASSERT_EQ(catalogue.status, 200);
  for (const auto& item : catalogue.obj().at("items").as_array()) {
    if (item.at("reward_id").as_string() == "five-off") {
      EXPECT_EQ(item.at("issued").as_int64(), 1);
    }
    if (item.at("reward_id").as_string() == "scarce") {
      EXPECT_EQ(item.at("stock_left").as_int64(), 5);
    }
  }
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'rewards.claim'"), "1");
}

TEST_F(HqRewardsTest, TheRewardsRulesRefuseAndRefusalsChangeNothing) {
  const std::string poor = member_with(100);
  auto r = claim(poor, "five-off");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(problem_type(r), "/problems/insufficient-points");
  EXPECT_EQ(available(poor), 100);

  const std::string bronze = member_with(1000);
  r = claim(bronze, "gold-lounge");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(problem_type(r), "/problems/reward-refused");
  EXPECT_EQ(message_id(r), "reward.tier");
  r = claim(bronze, "vip-only");
  EXPECT_EQ(message_id(r), "reward.segment") << r.body;

  ASSERT_EQ(claim(bronze, "tote").status, 201);
  r = claim(bronze, "tote");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(message_id(r), "reward.member_limit") << r.body;

  EXPECT_EQ(claim(bronze, "no-such-reward").status, 404);
  EXPECT_EQ(claim("00000000-0000-7000-8000-000000000000", "tote").status, 404);
  EXPECT_EQ(available(bronze), 1000) << "only the free tote was issued";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon"), "1");
}

// Twenty claims at once for a stock of five: exactly five coupons, five costs booked.
// What she may claim, as the cloud judges it: the same rules and message ids as a claim, with her
// coupons and the stock counted.
TEST_F(HqRewardsTest, HerRewardsSayWhatSheMayClaimAndWhyNot) {
  const std::string id = member_with(600);
  ASSERT_EQ(claim(id, "tote").status, 201);
  auto r = get("/v1/customers/" + id + "/rewards", analyst_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.obj().at("available_points").as_int64(), 600);
  std::map<std::string, json::object> by_id;
  for (const auto& item : r.obj().at("items").as_array()) {
    by_id[std::string(item.at("reward").at("reward_id").as_string())] = item.as_object();
  }
  ASSERT_EQ(by_id.size(), 5u);
  EXPECT_TRUE(by_id["five-off"].at("claimable").as_bool());
  EXPECT_FALSE(by_id["five-off"].contains("refusal"));
  auto why = [&](const std::string& reward) {
    const auto* refusal = by_id[reward].if_contains("refusal");
    return refusal ? std::string(refusal->at("message_id").as_string()) : std::string("(none)");
  };
  EXPECT_EQ(why("gold-lounge"), "reward.tier");
  EXPECT_EQ(why("vip-only"), "reward.segment");
  EXPECT_EQ(why("tote"), "reward.member_limit");
  EXPECT_EQ(by_id["tote"].at("coupons_held").as_int64(), 1);
  EXPECT_EQ(by_id["tote"].at("reward").at("issued").as_int64(), 1);
  EXPECT_TRUE(by_id["scarce"].at("claimable").as_bool());
  // Spent down: the cost decides.
  ASSERT_EQ(claim(id, "five-off").status, 201);
  r = get("/v1/customers/" + id + "/rewards", analyst_);
  for (const auto& item : r.obj().at("items").as_array()) {
    if (item.at("reward").at("reward_id").as_string() == "five-off") {
      EXPECT_EQ(item.at("refusal").at("message_id").as_string(), "points.insufficient");
    }
  }
  EXPECT_EQ(get("/v1/customers/no-such-member/rewards", analyst_).status, 404);
}

TEST_F(HqRewardsTest, AStockOfFiveIssuesExactlyFiveCouponsToTwentyConcurrentClaims) {
  const std::string id = member_with(1000);
  std::atomic<int> issued{0}, out_of_stock{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 20; ++t) {
    threads.emplace_back([&] {
      auto res = claim(id, "scarce");
      if (res.status == 201) {
        ++issued;
      } else if (problem_type(res) == "/problems/reward-out-of-stock") {
        ++out_of_stock;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(issued.load(), 5);
  EXPECT_EQ(out_of_stock.load(), 15);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon WHERE reward_id = 'scarce'"), "5");
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'scarce'"), "5");
  EXPECT_EQ(available(id), 950);
}

TEST_F(HqRewardsTest, VoidingGivesThePointsAndTheStockBackOnce) {
  auto hook = call(V::post, "/v1/webhooks",
                   R"({"url": "https://hooks.example.invalid/accrue",
                       "event_types": ["reward.claimed", "coupon.voided"]})",
                   admin_);
  ASSERT_EQ(hook.status, 201) << hook.body;
  const std::string id = member_with(600);
  auto r = claim(id, "five-off");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string coupon(r.obj().at("coupon_id").as_string());
  EXPECT_EQ(available(id), 100);
  auto v = call(V::post, "/v1/coupons/" + coupon + "/void", R"({"reason": "sold out at the till"})",
                support_);
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(v.obj().at("status").as_string(), "voided");
  EXPECT_EQ(v.obj().at("void_reason").as_string(), "sold out at the till");
  EXPECT_EQ(available(id), 600);
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'five-off'"), "0");
  auto again = call(V::post, "/v1/coupons/" + coupon + "/void", R"({"reason": "twice"})", support_);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(problem_type(again), "/problems/coupon-not-voidable");
  EXPECT_EQ(available(id), 600) << "the points come back once";
  EXPECT_EQ(call(V::post, "/v1/coupons/not-a-coupon/void", R"({"reason": "x"})", support_).status,
            404);
  // Both changes reached the subscription, queued in their own transactions.
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox WHERE event_type = 'reward.claimed' "
                       "AND payload->>'coupon_id' = '" +
                       coupon + "'"),
            "1");
  EXPECT_EQ(db_.scalar("SELECT payload->>'points_back' FROM webhook_outbox WHERE event_type = "
                       "'coupon.voided'"),
            "500");
}

// A campaign batch: N bearer coupons within the stock, each verifiable and naming no member,
// exported as CSV; one more than the stock has left is refused whole.
TEST_F(HqRewardsTest, ACampaignBatchIssuesBearerCouponsWithinTheStockAndExportsThem) {
  auto b = call(V::post, "/v1/rewards/scarce/batches",
                R"({"count": 3, "reason": "spring mailing"})", admin_);
  ASSERT_EQ(b.status, 201) << b.body;
  const std::string batch(b.obj().at("batch_id").as_string());
  auto csv = call(V::get, "/v1/coupon-batches/" + batch + "/codes.csv", "", admin_);
  ASSERT_EQ(csv.status, 200) << csv.body;
  CouponVerifier stores;
  ASSERT_TRUE(stores.add_key(9, CouponSigner::from_pem(key_pem_, 9)->public_key()));
  std::istringstream lines(csv.body);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "coupon_id,code,status,expires_at");
  int rows = 0;
  while (std::getline(lines, line)) {
    ++rows;
    const auto a = line.find(','), z = line.find(',', a + 1);
    auto c = stores.verify(line.substr(a + 1, z - a - 1), SystemClock().now_ms());
    ASSERT_TRUE(c) << line;
    EXPECT_FALSE(c->member_id) << "a bearer coupon names no member";
    EXPECT_EQ(c->reward_id, "scarce");
  }
  EXPECT_EQ(rows, 3);
  auto over =
      call(V::post, "/v1/rewards/scarce/batches", R"({"count": 3, "reason": "again"})", admin_);
  EXPECT_EQ(over.status, 409) << over.body;
  EXPECT_EQ(problem_type(over), "/problems/reward-out-of-stock");
  EXPECT_EQ(db_.scalar("SELECT issued FROM reward_stock WHERE reward_id = 'scarce'"), "3");
  EXPECT_EQ(call(V::post, "/v1/rewards/scarce/batches", R"({"count": 1, "reason": "x"})", support_)
                .status,
            403)
      << "minting bearer coupons is head office's admin's";
  EXPECT_EQ(
      call(V::get, "/v1/coupon-batches/00000000-0000-7000-8000-000000000000/codes.csv", "", admin_)
          .status,
      404);
}

// What a store's feed says of coupons, read from the start (a fresh store's bootstrap): the keys
// and the coupons spent.
struct CouponFeed {
  std::vector<sv1::CouponKey> keys;
  std::map<std::string, bool> spent;
};

CouponFeed coupon_feed(uint16_t port, const std::string& token, std::string cursor = "") {
  CouponFeed out;
  for (int page = 0; page < 50; ++page) {
    HttpClient client(port);
    auto res = client.request(bhttp::verb::get, "/v1/sync/changes?max=2&cursor=" + cursor, "",
                              {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    sv1::ChangesPage p;
    EXPECT_TRUE(p.ParseFromString(res.body()));
    if (page == 0) out.keys.assign(p.coupon_keys().begin(), p.coupon_keys().end());
    for (const auto& ch : p.changes()) {
      if (ch.has_coupon()) out.spent[ch.coupon().coupon_id()] = ch.coupon().spent();
    }
    cursor = p.next_cursor();
    if (!p.has_more()) break;
  }
  return out;
}

// A key rotation: the replicas start with a new key under a new id. A store that bootstraps
// afterwards is given every key the chain has used, so the coupons signed before the rotation
// still verify there; a key id never names a second key.
TEST_F(HqRewardsTest, AStoreBootstrappedAfterAKeyRotationVerifiesTheCouponsSignedBefore) {
  const std::string id = member_with(1000);
  auto before = claim(id, "five-off");
  ASSERT_EQ(before.status, 201) << before.body;
  const std::string rotated = key_file_path_ + ".rotated";
  std::ofstream(rotated) << *make_coupon_key_pem();
  restart_app({"auth.coupon_key_file=" + rotated, "auth.coupon_key_id=10"});
  if (HasFatalFailure()) return;
  auto after = claim(id, "five-off");
  ASSERT_EQ(after.status, 201) << after.body;

  auto fresh = coupon_feed(app_->port(), other_token_);  // store S2, from its first page
  ASSERT_EQ(fresh.keys.size(), 2u);
  CouponVerifier verifier;
  for (const auto& k : fresh.keys) {
    CouponPublicKey pub{};
    ASSERT_EQ(k.public_key().size(), pub.size());
    std::memcpy(pub.data(), k.public_key().data(), pub.size());
    ASSERT_TRUE(verifier.add_key(k.key_id(), pub));
  }
  const TimestampMs now = SystemClock().now_ms();
  auto old_one = verifier.verify(std::string(before.obj().at("code").as_string()), now);
  ASSERT_TRUE(old_one) << old_one.error().message;
  EXPECT_EQ(old_one->key_id, 9u);
  auto new_one = verifier.verify(std::string(after.obj().at("code").as_string()), now);
  ASSERT_TRUE(new_one) << new_one.error().message;
  EXPECT_EQ(new_one->key_id, 10u);

  // Another key under an id in use: the replica refuses to start, and the keys stay as they were.
  const std::string impostor = key_file_path_ + ".impostor";
  std::ofstream(impostor) << *make_coupon_key_pem();
  app_.reset();
  std::vector<std::string> settings = settings_;
  settings.insert(settings.end(), {"auth.coupon_key_file=" + impostor, "auth.coupon_key_id=9"});
  auto config = load_cloud_config(std::nullopt, {}, settings);
  ASSERT_TRUE(config) << config.error().message;
  auto app = CloudApp::create(*config);
  ASSERT_TRUE(app) << app.error().message;
  auto started = (*app)->start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("auth.coupon_key_id 9 names another coupon key"),
            std::string::npos)
      << started.error().message;
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_key"), "2");
  std::filesystem::remove(rotated);
  std::filesystem::remove(impostor);
}

TEST_F(HqRewardsTest, StoresUseCouponsAndTheCloudReconcilesEveryUseIncludingDoubleUse) {
  const std::string id = member_with(2000);
  auto first = claim(id, "five-off");
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string coupon(first.obj().at("coupon_id").as_string());
  auto second = claim(id, "five-off");
  ASSERT_EQ(second.status, 201) << second.body;
  const std::string other(second.obj().at("coupon_id").as_string());

  // Every page carries the key stores verify with.
  auto fresh = coupon_feed(app_->port(), token_);
  ASSERT_EQ(fresh.keys.size(), 1u);
  EXPECT_EQ(fresh.keys[0].key_id(), 9u);
  const auto pub = CouponSigner::from_pem(key_pem_, 9)->public_key();
  EXPECT_EQ(fresh.keys[0].public_key(), std::string(pub.begin(), pub.end()));
  EXPECT_TRUE(fresh.spent.empty());

  auto use = [&](const std::string& coupon_id, const std::string& pos_tx, uint64_t seq) {
    auto e = envelope(seq);
    auto* u = e.mutable_coupon_use();
    u->set_coupon_id(coupon_id);
    u->set_reward_id("five-off");
    u->set_customer_id(id);
    u->set_till_id("till-1");
    u->set_pos_tx_id(pos_tx);
    u->mutable_discount()->set_minor_units(500);
    u->mutable_discount()->set_currency("EUR");
    u->set_offline(true);
    return e;
  };
  // Store S1 uses the coupon: applied, the coupon used, every store told.
  auto used = use(coupon, "sale-1", 1);
  auto r = results(post(batch_of({used}), token_));
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT status || ' ' || used_store_id FROM coupon WHERE coupon_id = '" +
                       coupon + "'"),
            "used S1");
  r = results(post(batch_of({used}), token_));
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_DUPLICATE) << "a retry changes nothing";
  auto seen = coupon_feed(app_->port(), other_token_);
  EXPECT_EQ(seen.spent[coupon], true) << "a fresh store's bootstrap lists it";

  // The same coupon used again by S1 under another event (two offline tills, say): honoured,
  // and recorded as a double use, never rejected.
  auto again = use(coupon, "sale-2", 2);
  r = results(post(batch_of({again}), token_));
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT reason || ' ' || store_id || ' ' || discount_minor || ' ' || "
                       "(first_event_id = '" +
                       used.event_id() + "') FROM coupon_double_use"),
            "used S1 500 true");
  // A use of a coupon the cloud never issued: recorded as such.
  auto forged = use("00000000-0000-4000-8000-0000000000ff", "sale-3", 3);
  r = results(post(batch_of({forged}), token_));
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use WHERE reason = 'unknown'"), "1");

  // The sale of the first use was cancelled: the coupon is the member's again, and every store
  // hears it (the feed from where a store stood).
  HttpClient client(app_->port());
  auto res = client.request(bhttp::verb::get, "/v1/sync/changes?max=1000", "",
                            {{"Authorization", "Bearer " + other_token_}});
  sv1::ChangesPage page;
  ASSERT_TRUE(page.ParseFromString(res.body()));
  std::string cursor = page.next_cursor();
  for (int i = 0; i < 10 && page.has_more(); ++i) {
    HttpClient more(app_->port());
    res = more.request(bhttp::verb::get, "/v1/sync/changes?max=1000&cursor=" + cursor, "",
                       {{"Authorization", "Bearer " + other_token_}});
    ASSERT_TRUE(page.ParseFromString(res.body()));
    cursor = page.next_cursor();
    if (base64url_decode(cursor).value_or("").starts_with("f:")) break;  // bootstrap over
  }
  // Another store cannot void S1's uses: applied (never block a queue), and nothing changes.
  auto foreign = envelope(1);
  foreign.set_store_id("S2");
  foreign.set_agent_id("S2-agent");
  auto* theirs = foreign.mutable_coupon_use_void();
  theirs->set_coupon_id(coupon);
  theirs->set_use_event_id(used.event_id());
  theirs->set_till_id("till-9");
  theirs->set_pos_tx_id("not-mine");
  sv1::EventBatch s2;
  s2.set_store_id("S2");
  s2.set_agent_id("S2-agent");
  *s2.add_events() = foreign;
  r = results(post(s2, other_token_));
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(db_.scalar("SELECT status FROM coupon WHERE coupon_id = '" + coupon + "'"), "used");

  auto v = envelope(4);
  auto* cancel = v.mutable_coupon_use_void();
  cancel->set_coupon_id(coupon);
  cancel->set_use_event_id(used.event_id());
  cancel->set_till_id("till-1");
  cancel->set_pos_tx_id("sale-1-void");
  auto w = envelope(5);
  auto* cancel_double = w.mutable_coupon_use_void();
  cancel_double->set_coupon_id(coupon);
  cancel_double->set_use_event_id(again.event_id());
  cancel_double->set_till_id("till-1");
  cancel_double->set_pos_tx_id("sale-2-void");
  r = results(post(batch_of({v, w}), token_));
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED) << r.results(1).message();
  EXPECT_EQ(db_.scalar("SELECT status FROM coupon WHERE coupon_id = '" + coupon + "'"), "issued");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use WHERE voided_at IS NOT NULL"), "1");
  // The feed delivers a change once every transaction older than it has ended (other tests'
  // too, on a shared server): wait for it, a few seconds at most.
  auto feed_says = [&](const std::string& which, bool spent) {
    for (int i = 0; i < 200; ++i) {
      auto f = coupon_feed(app_->port(), other_token_, cursor);
      if (auto it = f.spent.find(which); it != f.spent.end() && it->second == spent) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_TRUE(feed_says(coupon, false)) << "usable again";
  EXPECT_EQ(coupon_feed(app_->port(), other_token_).spent.count(coupon), 0u);

  // Head office voids the other coupon: the stores refuse it from their next sync.
  auto voided = call(V::post, "/v1/coupons/" + other + "/void", R"({"reason": "lost"})", support_);
  ASSERT_EQ(voided.status, 200) << voided.body;
  EXPECT_TRUE(feed_says(other, true)) << "voided by head office";
}

}  // namespace
}  // namespace accrue::cloud
