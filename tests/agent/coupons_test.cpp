// Coupons at the till (proto/README.md, Coupons): the real accrue-agent on a replica that holds
// the cloud's coupon key, driven over its socket in both framings. Codes are signed here as the
// cloud signs them.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>

#include <google/protobuf/util/json_util.h>

#include "agent/store/seed.h"
#include "common/coupon.h"
#include "common/synthetic.h"
#include "tests/agent/agent_process.h"

namespace accrue::testing {
namespace {

namespace pb = accrue::pos::v1;
using agent::Framing;

constexpr uint32_t kKeyId = 7;
constexpr TimestampMs kFarFuture = 4'102'444'800'000;  // 2100-01-01

pb::Identifier card(int64_t member) {
  pb::Identifier id;
  id.set_kind(pb::IDENTIFIER_KIND_CARD);
  id.set_value(agent::seed_card_number(member));
  return id;
}

loyalty::v1::Basket basket(int64_t shoes = 8999) {
  loyalty::v1::Basket b;
  b.set_currency("EUR");
  auto* l = b.add_lines();
  l->set_line_no(1);
  l->set_sku("SHOE-RUN-42");
  l->set_quantity_milli(1000);
  l->set_amount_minor(shoes);
  auto* t = b.add_lines();
  t->set_line_no(2);
  t->set_sku("TEE");
  t->set_quantity_milli(2000);
  t->set_amount_minor(2500);
  return b;
}

// The demo programme with a small catalogue, a bound of 30 coupons and 10 claims before uploads
// confirm.
std::string write_program(const std::string& dir) {
  std::ifstream in("packaging/demo/program.json");
  auto p = boost::json::parse(std::string(std::istreambuf_iterator<char>(in), {})).as_object();
  p["rewards"] = boost::json::parse(R"([
    {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 500,
     "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": "500"}]},
     "min_basket": [{"currency": "EUR", "minor_units": "2000"}]},
    {"reward_id": "free-tee", "name": "A tee on us", "free_item": {"skus": ["TEE"]}},
    {"reward_id": "tote", "name": "A tote bag", "gift": {"description": "Canvas tote"}},
    {"reward_id": "double", "name": "Double points", "points_multiplier": {"basis_points": "20000"}},
    {"reward_id": "gold-lounge", "name": "Lounge pass", "cost_points": 10, "tiers": ["gold"],
     "offline_claimable": true, "gift": {"description": "A lounge pass"}},
    {"reward_id": "next-year", "name": "Not yet", "claim_from_ms": "4102444800000",
     "gift": {"description": "Later"}},
    {"reward_id": "last-year", "name": "Gone", "claim_until_ms": "1000",
     "gift": {"description": "Earlier"}},
    {"reward_id": "spot-ten", "name": "10% off", "cost_points": 100, "offline_claimable": true,
     "percent_discount": {"basis_points": "1000"}},
    {"reward_id": "spot-gift", "name": "An umbrella", "offline_claimable": true,
     "gift": {"description": "Umbrella"}}
  ])");
  p["offline_limits"].as_object()["max_store_offline_coupons"] = 30;
  p["offline_limits"].as_object()["max_store_offline_claims"] = 10;
  const std::string path = dir + "/program.json";
  std::ofstream(path) << boost::json::serialize(p);
  return path;
}

class CouponsTest : public ::testing::TestWithParam<Framing> {
 protected:
  static void SetUpTestSuite() {
    dir_ = temp_dir("accrue-coupons-test-");
    agent_ = new AgentProcess(1000, write_program(dir_));
    ASSERT_EQ(agent_->seed_status(), 0);
    auto pem = make_coupon_key_pem();
    ASSERT_TRUE(pem);
    auto signer = CouponSigner::from_pem(*pem, kKeyId);
    ASSERT_TRUE(signer);
    signer_ = new CouponSigner(std::move(*signer));
    // The key as the change feed would have brought it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(agent_->db_path().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO coupon_key (key_id, public_key) VALUES (?, ?)",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, kKeyId);
    sqlite3_bind_blob(st, 2, signer_->public_key().data(), 32, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    ASSERT_TRUE(agent_->start()) << "agent did not start; see " << agent_->log_path();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(agent_->stop(SIGTERM), 0);
    delete agent_;
    delete signer_;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A fresh coupon of `reward` (a member's when `member` > 0, else a bearer coupon).
  static std::string coupon(const std::string& reward, int64_t member = 0,
                            TimestampMs expires = kFarFuture, const CouponSigner* by = nullptr) {
    static uint8_t next = 0;
    std::array<uint8_t, 16> id{};
    id[0] = 0x42;
    id[15] = ++next;
    id[6] = 0x40;  // version 4
    id[8] = 0x80;
    CouponClaims c;
    c.coupon_id = Uuid(id);
    if (member > 0) c.member_id = *Uuid::parse(agent::seed_customer_id(member), "id");
    c.expires_at_ms = expires;
    c.reward_id = reward;
    auto code = (by ? by : signer_)->sign(c);
    EXPECT_TRUE(code) << code.error().message;
    return code.value_or("");
  }

  pb::Response call(pb::Request req) {
    req.set_till_id("till-1");
    req.set_request_id("c-" + std::to_string(++counter_));
    auto client = agent_->connect(GetParam());
    auto resp = client.call(req);
    EXPECT_TRUE(resp) << resp.error().message;
    return resp.value_or(pb::Response{});
  }
  std::string tx(const std::string& base) {
    return base + (GetParam() == Framing::kBinary ? "-bin" : "-json");
  }
  pb::Response check(const std::string& code, std::optional<pb::Identifier> who = {},
                     std::optional<loyalty::v1::Basket> b = {}) {
    pb::Request req;
    auto* c = req.mutable_check_coupon();
    c->set_code(code);
    if (who) *c->mutable_identifier() = *who;
    if (b) *c->mutable_basket() = *b;
    return call(req);
  }
  pb::Response apply(const std::string& code, const std::string& pos_tx,
                     std::optional<pb::Identifier> who = {}, loyalty::v1::Basket b = basket()) {
    pb::Request req;
    auto* a = req.mutable_apply_coupon();
    a->set_code(code);
    a->set_pos_tx_id(pos_tx);
    if (who) *a->mutable_identifier() = *who;
    *a->mutable_basket() = b;
    return call(req);
  }
  pb::Response claim(const std::string& reward, const std::string& pos_tx,
                     const pb::Identifier& who) {
    pb::Request req;
    auto* c = req.mutable_claim_reward();
    c->set_reward_id(reward);
    c->set_pos_tx_id(pos_tx);
    *c->mutable_identifier() = who;
    return call(req);
  }
  pb::ValidateResult validate(int64_t member) {
    pb::Request req;
    *req.mutable_validate()->mutable_identifier() = card(member);
    return call(req).validate();
  }
  // A member who is not blocked and has at least `points` here.
  int64_t member_with(int64_t points) {
    for (int64_t i = 2; i < 400; ++i) {
      if (!synthetic_blocked(i) && validate(i).available_points() >= points) return i;
    }
    return 0;
  }
  pb::Response void_use(const std::string& pos_tx, const std::string& applied) {
    pb::Request req;
    req.mutable_void_coupon()->set_pos_tx_id(pos_tx);
    req.mutable_void_coupon()->set_applied_pos_tx_id(applied);
    return call(req);
  }
  static std::string refusal(const pb::Response& r) {
    return r.has_error() ? r.error().message_id() : "(no error: " + r.ShortDebugString() + ")";
  }

  static std::string dir_;
  static AgentProcess* agent_;
  static CouponSigner* signer_;
  int counter_ = 0;
};

std::string CouponsTest::dir_;
AgentProcess* CouponsTest::agent_ = nullptr;
CouponSigner* CouponsTest::signer_ = nullptr;

TEST_P(CouponsTest, ACheckShowsTheRewardAndItsEffectOnTheBasket) {
  const std::string code = coupon("five-off");
  auto r = check(code, std::nullopt, basket());
  ASSERT_TRUE(r.has_coupon_check()) << r.ShortDebugString();
  EXPECT_EQ(r.coupon_check().reward_id(), "five-off");
  EXPECT_EQ(r.coupon_check().reward_name(), "5 EUR off");
  EXPECT_TRUE(r.coupon_check().bearer());
  EXPECT_EQ(r.coupon_check().discount().minor_units(), 500);
  EXPECT_EQ(r.coupon_check().discount().currency(), "EUR");
  EXPECT_EQ(r.coupon_check().expires_at_ms(), kFarFuture);

  // Keyed by hand: lower case, in groups of four.
  std::string keyed;
  for (size_t i = 0; i < code.size(); ++i) {
    if (i > 0 && i % 4 == 0) keyed += '-';
    keyed += static_cast<char>(std::tolower(static_cast<unsigned char>(code[i])));
  }
  EXPECT_TRUE(check(keyed).has_coupon_check()) << refusal(check(keyed));

  auto tee = check(coupon("free-tee"), std::nullopt, basket());
  ASSERT_TRUE(tee.has_coupon_check());
  EXPECT_EQ(tee.coupon_check().free_line_no(), 2u);
  EXPECT_EQ(tee.coupon_check().discount().minor_units(), 1250);  // one of two tees
  auto tote = check(coupon("tote"), std::nullopt, basket());
  EXPECT_EQ(tote.coupon_check().gift(), "Canvas tote");
  EXPECT_FALSE(tote.coupon_check().has_discount());

  // The reward's own conditions on the basket: at least 20.00 EUR.
  auto tees = basket();
  tees.mutable_lines()->DeleteSubrange(0, 1);
  EXPECT_TRUE(check(code, std::nullopt, tees).has_coupon_check()) << refusal(check(code));
  tees.mutable_lines(0)->set_amount_minor(1500);
  EXPECT_EQ(refusal(check(code, std::nullopt, tees)), "coupon.basket_below_minimum");
}

TEST_P(CouponsTest, BadCodesAreRefusedWithTheirReason) {
  std::string forged = coupon("five-off");
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  const std::string r = refusal(check(forged));
  EXPECT_TRUE(r == "coupon.forged" || r == "coupon.malformed") << r;
  EXPECT_EQ(refusal(check("HELLO")), "coupon.malformed");
  EXPECT_EQ(refusal(check(coupon("five-off", 0, 1'000))), "coupon.expired");
  EXPECT_EQ(refusal(check(coupon("no-such-reward"))), "coupon.reward_unknown");
  auto other_pem = make_coupon_key_pem();
  ASSERT_TRUE(other_pem);
  auto other = CouponSigner::from_pem(*other_pem, kKeyId + 1);
  ASSERT_TRUE(other);
  auto unknown = check(coupon("five-off", 0, kFarFuture, &*other));
  EXPECT_EQ(refusal(unknown), "coupon.unknown_key");
  EXPECT_TRUE(unknown.error().retryable());
  // The right key id with another key's signature is a forgery.
  auto impostor = CouponSigner::from_pem(*other_pem, kKeyId);
  ASSERT_TRUE(impostor);
  EXPECT_EQ(refusal(check(coupon("five-off", 0, kFarFuture, &*impostor))), "coupon.forged");
}

TEST_P(CouponsTest, AMembersCouponNeedsItsHolderAtTheTill) {
  const int64_t holder = GetParam() == Framing::kBinary ? 10 : 11;
  const std::string code = coupon("five-off", holder);
  EXPECT_EQ(refusal(check(code)), "coupon.member_needed");
  EXPECT_EQ(refusal(check(code, card(holder + 100))), "coupon.other_member");
  auto mine = check(code, card(holder));
  ASSERT_TRUE(mine.has_coupon_check()) << refusal(mine);
  EXPECT_FALSE(mine.coupon_check().bearer());
  auto used = apply(code, tx("member-sale"), card(holder));
  ASSERT_TRUE(used.has_apply_coupon()) << refusal(used);
  EXPECT_EQ(used.apply_coupon().coupon().discount().minor_units(), 500);
  // Member 13 is seeded blocked: her coupons wait until she is not.
  EXPECT_EQ(refusal(check(coupon("five-off", 13), card(13))), "coupon.member_blocked");
}

TEST_P(CouponsTest, ACouponIsUsedOnceUntilItsUseIsVoided) {
  const std::string code = coupon("five-off");
  auto first = apply(code, tx("sale-1"));
  ASSERT_TRUE(first.has_apply_coupon()) << refusal(first);
  EXPECT_EQ(first.apply_coupon().coupon().discount().minor_units(), 500);
  EXPECT_TRUE(first.apply_coupon().offline());
  EXPECT_FALSE(first.apply_coupon().replayed());

  auto retry = apply(code, tx("sale-1"));  // the answer was lost: the same use
  ASSERT_TRUE(retry.has_apply_coupon()) << refusal(retry);
  EXPECT_TRUE(retry.apply_coupon().replayed());
  EXPECT_EQ(retry.apply_coupon().event_id(), first.apply_coupon().event_id());

  EXPECT_EQ(refusal(apply(code, tx("sale-2"))), "coupon.used_here");
  EXPECT_EQ(refusal(check(code)), "coupon.used_here");

  // The cloud heard of the use and the feed marked the coupon spent; the store's own void of
  // that use makes it usable here again at once, without waiting for the feed's next page.
  {
    auto id = Uuid::parse(first.apply_coupon().coupon().coupon_id(), "coupon_id");
    ASSERT_TRUE(id);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(agent_->db_path().c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "INSERT INTO coupon_spent (coupon_id, expires_at) VALUES (?, ?)", -1,
                           &st, nullptr),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, id->bytes().data(), 16, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, kFarFuture);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  // (The agent's readers see it after its own next commit, the void: they follow its writes.)

  auto voided = void_use(tx("void-1"), tx("sale-1"));
  ASSERT_TRUE(voided.has_void_coupon()) << refusal(voided);
  EXPECT_EQ(voided.void_coupon().coupon_id(), first.apply_coupon().coupon().coupon_id());
  EXPECT_TRUE(void_use(tx("void-1"), tx("sale-1")).void_coupon().replayed());
  EXPECT_EQ(refusal(void_use(tx("void-2"), tx("sale-1"))), "coupon.use_voided");
  EXPECT_EQ(refusal(void_use(tx("void-3"), tx("no-such-sale"))), "coupon.use_unknown");

  auto usable = check(code);
  EXPECT_TRUE(usable.has_coupon_check()) << refusal(usable);
  auto again = apply(code, tx("sale-3"));
  ASSERT_TRUE(again.has_apply_coupon()) << refusal(again);
  EXPECT_NE(again.apply_coupon().event_id(), first.apply_coupon().event_id());
}

// The catalogue as it stands for the member at the till: what each reward costs and does, and
// why she may not claim one now (by what the store knows: the window, her tier, her points).
TEST_P(CouponsTest, TheRewardListShowsWhatSheMayClaimAndWhyNot) {
  auto rewards = [&](const pb::Identifier& who) {
    pb::Request req;
    *req.mutable_list_rewards()->mutable_identifier() = who;
    return call(req);
  };
  // A member who is not gold and has under 500 points, and one with 500 or more.
  int64_t poor = 0, rich = 0;
  for (int64_t i = 2; i < 200 && (poor == 0 || rich == 0); ++i) {
    if (synthetic_blocked(i)) continue;
    const auto v = validate(i);
    if (v.available_points() < 500 && v.tier_id() != "gold" && poor == 0) poor = i;
    if (v.available_points() >= 500 && rich == 0) rich = i;
  }
  ASSERT_NE(poor, 0);
  ASSERT_NE(rich, 0);

  const auto r = rewards(card(poor));
  ASSERT_TRUE(r.has_rewards()) << refusal(r);
  const auto& list = r.rewards();
  EXPECT_EQ(list.available_points(), validate(poor).available_points());
  EXPECT_TRUE(list.offline());
  std::map<std::string, pb::RewardOffer> by_id;
  std::vector<std::string> order;
  for (const auto& o : list.rewards()) {
    by_id[o.reward_id()] = o;
    order.push_back(o.reward_id());
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"double", "five-off", "free-tee", "gold-lounge", "last-year",
                                      "next-year", "spot-gift", "spot-ten", "tote"}));
  const auto& five = by_id["five-off"];
  EXPECT_EQ(five.kind(), pb::REWARD_KIND_FIXED_DISCOUNT);
  EXPECT_EQ(five.discount().minor_units(), 500);
  EXPECT_EQ(five.discount().currency(), "EUR");
  EXPECT_EQ(five.cost_points(), 500);
  EXPECT_FALSE(five.claimable());
  EXPECT_EQ(five.message_id(), "points.insufficient");
  EXPECT_FALSE(five.message().empty());
  EXPECT_TRUE(by_id["free-tee"].claimable());
  EXPECT_EQ(by_id["free-tee"].kind(), pb::REWARD_KIND_FREE_ITEM);
  EXPECT_EQ(by_id["double"].points_multiplier_bp(), 20000);
  EXPECT_EQ(by_id["tote"].gift(), "Canvas tote");
  EXPECT_EQ(by_id["gold-lounge"].message_id(), "reward.tier");
  EXPECT_TRUE(by_id["gold-lounge"].offline_claimable());
  EXPECT_EQ(by_id["next-year"].message_id(), "reward.not_yet");
  EXPECT_EQ(by_id["last-year"].message_id(), "reward.ended");
  EXPECT_EQ(by_id["last-year"].claim_until_ms(), 1000);

  const auto well_off = rewards(card(rich));
  ASSERT_TRUE(well_off.has_rewards()) << refusal(well_off);
  EXPECT_TRUE(well_off.rewards().rewards(1).claimable());  // five-off

  EXPECT_EQ(refusal(rewards(card(999999))), "reward.member_unknown");
  int64_t blocked = 2;
  while (!synthetic_blocked(blocked)) ++blocked;
  EXPECT_EQ(refusal(rewards(card(blocked))), "reward.member_blocked");
  const auto none = rewards(pb::Identifier{});
  ASSERT_TRUE(none.has_error());
  EXPECT_EQ(none.error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
}

// accruectl's coupon commands, printing for people (the binary run) and as JSON (the other).
// A points-multiplier coupon counts for the sale that names it (AccrueRequest.coupon_pos_tx_ids):
// the sale's base points doubled, once; not for a second sale, nor once its use is voided.
TEST_P(CouponsTest, APointsMultiplierCouponDoublesTheSaleThatNamesItOnce) {
  auto accrue = [&](const std::string& pos_tx, std::vector<std::string> coupons) {
    pb::Request req;
    auto* a = req.mutable_accrue();
    *a->mutable_identifier() = card(41);
    a->set_pos_tx_id(pos_tx);
    *a->mutable_basket() = basket(5000);  // below the 100 EUR of the fixed bonus
    for (auto& c : coupons) a->add_coupon_pos_tx_ids(c);
    return call(req);
  };
  const auto plain = accrue(tx("mult-plain"), {});
  ASSERT_TRUE(plain.has_accrue()) << plain.ShortDebugString();
  const int64_t base = plain.accrue().points_earned();
  ASSERT_GT(base, 0);
  EXPECT_EQ(plain.accrue().points_multiplier_bp(), 0);

  auto check_only = check(coupon("double"), std::nullopt, basket());
  ASSERT_TRUE(check_only.has_coupon_check()) << refusal(check_only);
  EXPECT_EQ(check_only.coupon_check().points_multiplier_bp(), 20000);
  ASSERT_TRUE(apply(coupon("double", 41), tx("mult-use"), card(41)).has_apply_coupon());
  ASSERT_TRUE(apply(coupon("five-off"), tx("mult-five"), card(41)).has_apply_coupon());
  const auto doubled = accrue(tx("mult-sale"), {tx("mult-five"), tx("mult-use")});
  ASSERT_TRUE(doubled.has_accrue()) << doubled.ShortDebugString();
  EXPECT_EQ(doubled.accrue().points_earned(), 2 * base) << "the discount coupon changes nothing";
  EXPECT_EQ(doubled.accrue().points_multiplier_bp(), 20000);
  EXPECT_TRUE(accrue(tx("mult-sale"), {tx("mult-five"), tx("mult-use")}).accrue().replayed());

  EXPECT_EQ(refusal(accrue(tx("mult-again"), {tx("mult-use")})), "sale.coupon_used");
  EXPECT_EQ(refusal(accrue(tx("mult-none"), {tx("no-such-use")})), "coupon.use_unknown");
  ASSERT_TRUE(apply(coupon("double", 41), tx("mult-use-2"), card(41)).has_apply_coupon());
  ASSERT_TRUE(apply(coupon("double", 41), tx("mult-use-3"), card(41)).has_apply_coupon());
  auto two = accrue(tx("mult-two"), {tx("mult-use-2"), tx("mult-use-3")});
  ASSERT_TRUE(two.has_error());
  EXPECT_EQ(two.error().code(), pb::ERROR_CODE_INVALID_ARGUMENT) << two.ShortDebugString();
  ASSERT_TRUE(void_use(tx("mult-void"), tx("mult-use-2")).has_void_coupon());
  EXPECT_EQ(refusal(accrue(tx("mult-voided"), {tx("mult-use-2")})), "coupon.use_voided");
  const auto other = [&] {
    pb::Request req;
    auto* a = req.mutable_accrue();
    *a->mutable_identifier() = card(42);
    a->set_pos_tx_id(tx("mult-other"));
    *a->mutable_basket() = basket(5000);  // below the 100 EUR of the fixed bonus
    a->add_coupon_pos_tx_ids(tx("mult-use-3"));
    return call(req);
  }();
  EXPECT_EQ(refusal(other), "coupon.other_member");
  auto three = accrue(tx("mult-three"), {tx("mult-use-3")});
  EXPECT_EQ(three.accrue().points_earned(), 2 * base) << three.ShortDebugString();
}

TEST_P(CouponsTest, AccruectlChecksAppliesAndVoidsACoupon) {
  const bool json = GetParam() == Framing::kJsonLines;
  std::string basket_json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(basket(), &basket_json).ok());
  const std::string basket_path = dir_ + "/basket.json";
  std::ofstream(basket_path) << basket_json;
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {ACCRUE_CTL_BINARY, "--socket", agent_->socket(), "--till",
                                     "till-ctl"};
    if (json) argv.push_back("--json");
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir_ + "/ctl.out";
    const int rc = wait_child(start_child(ChildSpec(argv).stdout_to(out).stderr_to(out + ".err")),
                              std::chrono::seconds(30))
                       .value_or(124);
    std::ifstream in(out), err(out + ".err");
    return std::pair{rc, std::string(std::istreambuf_iterator<char>(in), {}) +
                             std::string(std::istreambuf_iterator<char>(err), {})};
  };
  const std::string code = coupon("five-off");
  auto [rc, text] = ctl({"coupon", "check", "--code", code, "--basket", basket_path});
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find(json ? "\"reward_id\": \"five-off\"" : "5 EUR off (five-off)"),
            std::string::npos)
      << text;
  const std::string sale = tx("ctl-sale");
  std::tie(rc, text) =
      ctl({"coupon", "apply", "--code", code, "--basket", basket_path, "--tx", sale});
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find(json ? "\"apply_coupon\"" : "used on this sale"), std::string::npos) << text;
  std::tie(rc, text) =
      ctl({"coupon", "apply", "--code", code, "--basket", basket_path, "--tx", sale + "-2"});
  EXPECT_NE(rc, 0) << text;
  EXPECT_NE(text.find("already been used"), std::string::npos) << text;
  std::tie(rc, text) = ctl({"coupon", "void", "--tx", sale + "-void", "--applied-tx", sale});
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find(json ? "\"void_coupon\"" : "can be used again"), std::string::npos) << text;
  // A reward claimed for a member (offline here: a gift, handed over).
  std::tie(rc, text) = ctl({"claim", "--card", agent::seed_card_number(member_with(0)), "--reward",
                            "spot-gift", "--tx", tx("ctl-claim")});
  EXPECT_EQ(rc, 0) << text;
  EXPECT_NE(text.find(json ? "\"claim_reward\"" : "hand over  Umbrella"), std::string::npos)
      << text;
}

// Offline (this agent has no cloud) the store decides only offline-claimable rewards: their cost
// comes off her points here and the coupon is issued when the claim uploads (no code yet); a gift
// is handed over at once, its coupon used by the claim.
TEST_P(CouponsTest, OfflineOnlyOfflineClaimableRewardsAreClaimed) {
  const int64_t m = member_with(600);
  ASSERT_NE(m, 0);
  const int64_t before = validate(m).available_points();
  auto online_only = claim("five-off", tx("claim-five"), card(m));
  ASSERT_TRUE(online_only.has_error());
  EXPECT_EQ(online_only.error().code(), pb::ERROR_CODE_REFUSED);
  EXPECT_EQ(refusal(online_only), "offline.claim_not_allowed");
  EXPECT_EQ(validate(m).available_points(), before) << "a refusal spends nothing";

  auto ten = claim("spot-ten", tx("claim-ten"), card(m));
  ASSERT_TRUE(ten.has_claim_reward()) << ten.ShortDebugString();
  const auto& c = ten.claim_reward();
  EXPECT_TRUE(c.offline());
  EXPECT_TRUE(c.code().empty()) << "a store cannot sign: the cloud issues it on upload";
  EXPECT_TRUE(Uuid::parse(c.coupon_id()).has_value());
  EXPECT_EQ(c.cost_points(), 100);
  EXPECT_EQ(c.reward_name(), "10% off");
  EXPECT_EQ(c.available_points(), before - 100);
  EXPECT_GT(c.expires_at_ms(), 0);
  EXPECT_EQ(validate(m).available_points(), before - 100);
  // The same claim again: replayed, the same coupon, nothing spent twice.
  auto again = claim("spot-ten", tx("claim-ten"), card(m));
  ASSERT_TRUE(again.has_claim_reward());
  EXPECT_TRUE(again.claim_reward().replayed());
  EXPECT_EQ(again.claim_reward().coupon_id(), c.coupon_id());
  EXPECT_EQ(validate(m).available_points(), before - 100);
  auto other = claim("spot-gift", tx("claim-ten"), card(m));
  ASSERT_TRUE(other.has_error());
  EXPECT_EQ(other.error().code(), pb::ERROR_CODE_CONFLICT);

  auto gift = claim("spot-gift", tx("claim-gift"), card(m));
  ASSERT_TRUE(gift.has_claim_reward()) << gift.ShortDebugString();
  EXPECT_EQ(gift.claim_reward().gift(), "Umbrella");
  EXPECT_EQ(gift.claim_reward().cost_points(), 0);
  // Her history: the claim's cost, and the gift's claim and its use.
  pb::Request history;
  *history.mutable_list_transactions()->mutable_identifier() = card(m);
  history.mutable_list_transactions()->set_limit(10);
  const auto list = call(history);
  ASSERT_TRUE(list.has_transactions()) << list.ShortDebugString();
  int claims = 0, uses = 0;
  for (const auto& t : list.transactions().transactions()) {
    if (t.kind() == pb::TRANSACTION_KIND_REWARD_CLAIM) ++claims;
    if (t.kind() == pb::TRANSACTION_KIND_COUPON_USE) ++uses;
    if (t.kind() == pb::TRANSACTION_KIND_REWARD_CLAIM && t.points() != 0) {
      EXPECT_EQ(t.points(), -100);
    }
  }
  EXPECT_EQ(claims, 2);
  EXPECT_EQ(uses, 1);

  // What the store can judge, it refuses with the till's message id.
  int64_t poor = 2;
  while (synthetic_blocked(poor) || validate(poor).available_points() >= 100 ||
         validate(poor).tier_id() == "gold") {
    ++poor;
  }
  EXPECT_EQ(refusal(claim("spot-ten", tx("claim-poor"), card(poor))), "points.insufficient");
  EXPECT_EQ(refusal(claim("gold-lounge", tx("claim-lounge"), card(poor))), "reward.tier");
  EXPECT_EQ(refusal(claim("no-such", tx("claim-none"), card(m))), "reward.unknown");
  EXPECT_EQ(refusal(claim("spot-gift", tx("claim-stranger"), card(999999))),
            "reward.member_unknown");
  int64_t blocked = 2;
  while (!synthetic_blocked(blocked)) ++blocked;
  EXPECT_EQ(refusal(claim("spot-gift", tx("claim-blocked"), card(blocked))),
            "reward.member_blocked");
  auto no_reward = claim("", tx("claim-empty"), card(m));
  ASSERT_TRUE(no_reward.has_error());
  EXPECT_EQ(no_reward.error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
}

// Runs after the others (gtest runs tests in order of definition): the bound counts every use
// the store decided without the cloud, in both framings.
TEST_P(CouponsTest, ZTheStoreStopsAtItsBoundOfUnconfirmedCoupons) {
  std::string last;
  for (int i = 0; i < 40; ++i) {
    auto r = apply(coupon("tote"), tx("bound-" + std::to_string(i)));
    if (r.has_error()) {
      last = refusal(r);
      break;
    }
  }
  EXPECT_EQ(last, "offline.coupon_limit");
  auto r = apply(coupon("tote"), tx("bound-after"));
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), pb::ERROR_CODE_REFUSED);
  EXPECT_EQ(r.error().params().at("max"), "30");
}

// Likewise the budget of claims the store decided without the cloud.
TEST_P(CouponsTest, ZTheStoreStopsAtItsBudgetOfUnconfirmedClaims) {
  const int64_t m = member_with(0);
  std::string last;
  for (int i = 0; i < 20; ++i) {
    auto r = claim("spot-gift", tx("budget-" + std::to_string(i)), card(m));
    if (r.has_error()) {
      last = refusal(r);
      break;
    }
  }
  EXPECT_EQ(last, "offline.claim_limit");
  auto r = claim("spot-gift", tx("budget-after"), card(m));
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), pb::ERROR_CODE_REFUSED);
  EXPECT_EQ(r.error().params().at("max"), "10");
}

INSTANTIATE_TEST_SUITE_P(Framings, CouponsTest,
                         ::testing::Values(Framing::kBinary, Framing::kJsonLines),
                         [](const auto& param_info) {
                           return param_info.param == Framing::kBinary ? "Protobuf" : "JsonLines";
                         });

}  // namespace
}  // namespace accrue::testing
