// Online: the cloud decides redemptions so two stores cannot spend the same points, lost or
// undecided answers fall back or are voided without losing a point, unknown members are looked
// up and join the replica, and an erasure reaches the store.
#include "agent/sync/online_client.h"

#include <boost/json.hpp>

#include "common/coupon.h"
#include "common/synthetic.h"
#include "tests/sync/fault_proxy.h"

#include "tests/sync/sync_fixture.h"

namespace accrue::sync_testing {
namespace {

class OnlineTest : public UploadTest {
 protected:
  // Events as another agent of the store would send them (its own seq), straight to the cloud.
  sync::v1::EventEnvelope other_agent_event() {
    auto e = envelope(++other_seq_);
    e.set_agent_id("S1-other");
    return e;
  }
  void give_cloud_points(int64_t member, int64_t points) {
    auto e = other_agent_event();
    auto* a = e.mutable_adjustment();
    a->set_customer_id(agent::seed_customer_id(member));
    a->set_points(points);
    a->set_reason("test credit");
    a->set_actor("test");
    sync::v1::EventBatch b;
    b.set_store_id(kStore);
    b.set_agent_id("S1-other");
    *b.add_events() = e;
    auto r = results(post(b, token_));
    ASSERT_EQ(r.results(0).status(), sync::v1::EVENT_STATUS_APPLIED) << r.DebugString();
  }
  // Another till of the chain spends points online, straight through the cloud.
  sync::v1::OnlineRedeemResponse spend_elsewhere(int64_t member, int64_t points) {
    auto e = other_agent_event();
    e.set_seq(0);
    auto* r = e.mutable_redemption();
    r->set_customer_id(agent::seed_customer_id(member));
    r->set_till_id("till-9");
    r->set_pos_tx_id("elsewhere-" + std::to_string(other_seq_));
    r->set_points(points);
    sync::v1::OnlineRedeemRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    sync::v1::OnlineRedeemResponse out;
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_TRUE(out.ParseFromString(res.body()));
    return out;
  }
  // Member `m` with `points` in the cloud and in the store's view: credited in the cloud, then
  // seen in the store (a sale) so that its snapshot comes down.
  void member_with_points(int64_t m, int64_t points) {
    give_cloud_points(m, points);
    auto sale = accrue(m, "seen-" + std::to_string(m));
    ASSERT_TRUE(sale.has_accrue());
    pending_ = sale.accrue().points_earned();  // pending in the cloud's balance row
    ASSERT_TRUE(drained());
    ASSERT_EQ(validate_until(
                  m, [&](const pb::ValidateResult& r) { return r.available_points() == points; })
                  .available_points(),
              points);
  }
  // The member's points in the cloud, without the pending points of the sale in
  // member_with_points().
  int64_t cloud_balance(int64_t member) {
    return std::stoll(db_.scalar("SELECT points FROM balance WHERE customer_id = '" +
                                 agent::seed_customer_id(member) + "'")) -
           pending_;
  }
  void expect_ledger_sums_balances() {
    EXPECT_EQ(db_.scalar("SELECT count(*) FROM balance b WHERE b.points <> (SELECT "
                         "coalesce(sum(g.points), 0) FROM ledger g WHERE g.customer_id = "
                         "b.customer_id)"),
              "0")
        << "every balance equals the sum of its ledger";
  }
  // Removes member `m` from the store's replica (before the agent starts): the store has never
  // seen it, the cloud knows it.
  void forget_locally(int64_t m) {
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->remove_customer(agent::seed_customer_id(m)));
  }
  // An online redemption of this agent the cloud applied (POST /v1/sync/redeem) and the
  // intent the agent had written before asking, as if the answer had never been recorded.
  sync::v1::EventEnvelope cloud_applied_online_redemption(int64_t member, int64_t points,
                                                          const std::string& pos_tx_id) {
    auto e = other_agent_event();
    e.set_agent_id("S1-agent");
    e.set_seq(0);
    auto* red = e.mutable_redemption();
    red->set_customer_id(agent::seed_customer_id(member));
    red->set_till_id("till-1");
    red->set_pos_tx_id(pos_tx_id);
    red->set_points(points);
    red->mutable_value()->set_currency("EUR");
    red->mutable_value()->set_minor_units(points);
    sync::v1::OnlineRedeemRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    EXPECT_EQ(res.result_int(), 200u);
    return e;
  }
  void leave_intent(const sync::v1::EventEnvelope& e, TimestampMs created_at) {
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    auto id = Uuid::parse(e.event_id(), "id");
    ASSERT_TRUE(id);
    ASSERT_TRUE(w->insert_online_redemption(
        {e.redemption().till_id(), e.redemption().pos_tx_id(),
         std::string(reinterpret_cast<const char*>(id->bytes().data()), 16), "fingerprint",
         e.redemption().customer_id(), e.SerializeAsString(), created_at}));
  }
  // A sale of member `m` in store S2, another store of the chain, straight to the cloud; its
  // points as the cloud booked them.
  // With `paid_with`, a redemption of hers in S2 pays for part of it.
  int64_t sale_in_s2(int64_t m, const std::string& tx, int units, int64_t paid_with = 0) {
    sync::v1::EventBatch batch;
    batch.set_store_id("S2");
    batch.set_agent_id("S2-agent");
    if (paid_with > 0) {
      auto pay = envelope(++s2_seq_);
      pay.set_store_id("S2");
      pay.set_agent_id("S2-agent");
      auto* red = pay.mutable_redemption();
      red->set_customer_id(agent::seed_customer_id(m));
      red->set_till_id("till-9");
      red->set_pos_tx_id(tx + "-pay");
      red->set_points(paid_with);
      red->set_offline(true);
      *batch.add_events() = pay;
    }
    auto e = envelope(++s2_seq_);
    e.set_store_id("S2");
    e.set_agent_id("S2-agent");
    auto* a = e.mutable_accrual();
    if (paid_with > 0) a->add_redemption_event_ids(batch.events(0).event_id());
    a->set_customer_id(agent::seed_customer_id(m));
    a->set_till_id("till-9");
    a->set_pos_tx_id(tx);
    auto* b = a->mutable_basket();
    b->set_currency("EUR");
    b->set_occurred_at_ms(SystemClock().now_ms());
    auto* l = b->add_lines();
    l->set_line_no(1);
    l->set_sku("SKU-1");
    l->add_categories("apparel");
    l->set_quantity_milli(1000 * units);
    l->set_amount_minor(2000 * units);
    *batch.add_events() = e;
    auto r = results(post(batch, other_token_));
    for (const auto& one : r.results()) {
      EXPECT_EQ(one.status(), sync::v1::EVENT_STATUS_APPLIED) << r.DebugString();
    }
    return std::stoll(
        db_.scalar("SELECT points_earned FROM receipt WHERE event_id = '" + e.event_id() + "'"));
  }
  // This store's till takes back `units` of S2's sale `sale_tx`.
  pb::Response return_from_s2(const std::string& tx, const std::string& sale_tx, int units) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* r = req.mutable_return_();
    r->set_pos_tx_id(tx);
    r->set_original_store_id("S2");
    r->set_original_till_id("till-9");
    r->set_original_pos_tx_id(sale_tx);
    auto* l = r->add_lines();
    l->set_line_no(1);
    l->set_quantity_milli(1000 * units);
    return call(req);
  }
  uint64_t other_seq_ = 0, s2_seq_ = 0;
  int64_t pending_ = 0;
};

TEST_F(OnlineTest, ASaleOfAnotherStoreIsReturnedHereDecidedByTheCloudOnce) {
  start_agent(cloud_url());
  member_with_points(9, 1000);
  const int64_t earned = sale_in_s2(9, "s2-sale", 2);  // two units, bought in the other store
  ASSERT_GT(earned, 0);
  const int64_t before = cloud_balance(9);

  auto r = return_from_s2("back-1", "s2-sale", 1);
  ASSERT_TRUE(r.has_return_()) << r.DebugString();
  EXPECT_EQ(r.return_().points_reversed(), earned / 2);
  EXPECT_FALSE(r.return_().pending());
  EXPECT_FALSE(r.return_().offline());
  EXPECT_EQ(cloud_balance(9), before - earned / 2) << "applied while the till waited";
  auto again = return_from_s2("back-1", "s2-sale", 1);
  ASSERT_TRUE(again.has_return_()) << again.DebugString();
  EXPECT_TRUE(again.return_().replayed());
  EXPECT_EQ(again.return_().points_reversed(), earned / 2);

  // Two more units: one is left in the whole chain.
  auto over = return_from_s2("back-2", "s2-sale", 2);
  ASSERT_TRUE(over.has_error()) << over.DebugString();
  EXPECT_EQ(over.error().code(), pb::ERROR_CODE_OUT_OF_RANGE);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("kind = 3 AND customer_id = '" + agent::seed_customer_id(9) + "'"), 1)
      << "the return's upload is a duplicate of the online decision";
  EXPECT_EQ(cloud_balance(9), before - earned / 2);
  expect_ledger_sums_balances();
}

// An order of the chain's web shop (POST /v1/orders, the virtual store WEB) brought back to a
// till: named by its receipt id, decided by the cloud while the till waits, never beyond what
// the order earned, once.
TEST_F(OnlineTest, AWebShopOrderIsReturnedAtATillDecidedByTheCloud) {
  start_agent(cloud_url());
  ASSERT_TRUE(online()) << "the return must be decided online";
  const std::string member = agent::seed_customer_id(10);
  HttpClient client(app_->port());
  auto placed = client.request(
      bhttp::verb::post, "/v1/orders",
      R"({"order_id": "WEB-77", "customer_id": ")" + member +
          R"(", "currency": "EUR", "lines": [{"line_no": 1, "sku": "TEE", "categories":
          ["apparel"], "quantity_milli": 2000, "amount_minor": 4000}]})",
      {{"Authorization", "Bearer " + hq_token_for("web-shop-eu", {"web-shop"})},
       {"Content-Type", "application/json"}});
  ASSERT_EQ(placed.result_int(), 201u) << placed.body();
  const auto order = boost::json::parse(placed.body()).as_object();
  const std::string receipt(order.at("event_id").as_string());
  const int64_t earned = order.at("points_earned").to_number<int64_t>();
  ASSERT_GT(earned, 0);  // 40 EUR, times her tier's multiplier
  ASSERT_EQ(earned % 2, 0);

  auto back = [&](const std::string& tx, int units) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* r = req.mutable_return_();
    r->set_pos_tx_id(tx);
    r->set_receipt_id(receipt);
    auto* l = r->add_lines();
    l->set_line_no(1);
    l->set_quantity_milli(1000 * units);
    return call(req);
  };
  auto one = back("web-back-1", 1);
  ASSERT_TRUE(one.has_return_()) << one.DebugString();
  EXPECT_EQ(one.return_().points_reversed(), earned / 2);
  EXPECT_FALSE(one.return_().pending());
  EXPECT_FALSE(one.return_().offline());
  auto too_many = back("web-back-2", 2);
  ASSERT_TRUE(too_many.has_error()) << too_many.DebugString();
  EXPECT_EQ(too_many.error().code(), pb::ERROR_CODE_OUT_OF_RANGE) << "one unit is left";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("kind = 3 AND customer_id = '" + member + "'"), 1)
      << "the upload is a duplicate of the online decision";
  EXPECT_EQ(db_.scalar("SELECT points_reversed FROM receipt WHERE event_id = '" + receipt + "'"),
            std::to_string(earned / 2));
  expect_ledger_sums_balances();
}

// The same race for a return decided online: its answer arrives late, after a snapshot of the
// member that already holds the reversal has come down. The reversal counts once.
TEST_F(OnlineTest, AReturnTheStoreSawInTheCloudsSnapshotBeforeItsAnswerCountsOnce) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(12, 1000);
  const int64_t earned = sale_in_s2(12, "s2-late", 2);
  ASSERT_GT(earned, 0);
  ASSERT_TRUE(drained());
  const auto before = validate_until(
      12, [&](const pb::ValidateResult& v) { return v.pending_points() >= pending_ + earned; });
  // Held for 1 s (the agent waits 2 s): downloads pass every 100 ms meanwhile.
  proxy.delay_online_responses(1, std::chrono::milliseconds(1000));
  auto r = return_from_s2("back-late", "s2-late", 1);
  ASSERT_TRUE(r.has_return_()) << r.DebugString();
  EXPECT_FALSE(r.return_().offline());
  ASSERT_TRUE(drained());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // later pages change nothing
  auto v = validate(12);
  EXPECT_EQ(v.available_points(), before.available_points());
  EXPECT_EQ(v.pending_points(), before.pending_points() - earned / 2)
      << "the reversal counted twice in the store";
  expect_ledger_sums_balances();
}

// The demo programme refunds redeemed points on returns: the cloud decides the refund with the
// reversal, and the till shows both at once.
TEST_F(OnlineTest, PointsRedeemedOnAnotherStoresSaleComeBackAtTheTillThatTookItBack) {
  start_agent(cloud_url());
  member_with_points(11, 1000);
  const int64_t earned = sale_in_s2(11, "s2-paid", 2, 200);  // 200 points paid for part of it
  ASSERT_GT(earned, 0);
  auto r = return_from_s2("back-paid", "s2-paid", 1);
  ASSERT_TRUE(r.has_return_()) << r.DebugString();
  EXPECT_EQ(r.return_().points_reversed(), earned / 2);
  EXPECT_EQ(r.return_().points_refunded(), 100) << "half the value back: half the 200 points";
  EXPECT_EQ(r.return_().available_points(), 900) << "1000 - 200 + 100 (the sale's are pending)";
  EXPECT_EQ(cloud_balance(11), 1000 - 200 + earned - earned / 2 + 100);
  ASSERT_TRUE(drained());
  EXPECT_EQ(
      validate_until(11, [](const pb::ValidateResult& v) { return v.available_points() == 900; })
          .available_points(),
      900)
      << "the store's view, before and after the cloud's snapshot of her";
  EXPECT_EQ(cloud_rows("kind = 8 AND customer_id = '" + agent::seed_customer_id(11) + "'"), 1);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, OfflineAReturnOfAnotherStoresSaleIsPendingAndTheCloudDecidesItLater) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(10, 1000);
  const int64_t before = cloud_balance(10);
  proxy.set_down(true);
  // The other store is offline too: its sale reaches the cloud after this return does.
  auto r = return_from_s2("back-late", "s2-late", 1);
  ASSERT_TRUE(r.has_return_()) << r.DebugString();
  EXPECT_TRUE(r.return_().pending());
  EXPECT_TRUE(r.return_().offline());
  EXPECT_EQ(r.return_().points_reversed(), 0);
  proxy.set_down(false);
  ASSERT_TRUE(drained());
  EXPECT_EQ(db_.scalar("SELECT status FROM sale_return WHERE pos_tx_id = 'back-late'"), "held")
      << "held for review, never dropped";

  const int64_t earned = sale_in_s2(10, "s2-late", 1);
  EXPECT_EQ(db_.scalar("SELECT status FROM sale_return WHERE pos_tx_id = 'back-late'"), "applied")
      << "applied as soon as its sale arrived";
  EXPECT_EQ(cloud_balance(10), before) << "the sale's points came and went";
  EXPECT_GT(earned, 0);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, TheCloudDecidesSoTwoStoresCannotSpendTheSamePoints) {
  start_agent(cloud_url());
  member_with_points(5, 1000);
  // Another store spends 700 of them online; this store's replica still says 1000.
  auto elsewhere = spend_elsewhere(5, 700);
  ASSERT_EQ(elsewhere.result().status(), sync::v1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(elsewhere.available_points(), 300);
  ASSERT_EQ(validate(5).available_points(), 1000) << "not downloaded yet";
  auto refused = redeem(5, 500, "r-1");
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), pb::ERROR_CODE_INSUFFICIENT_POINTS);
  EXPECT_NE(refused.error().message().find("300 available"), std::string::npos)
      << refused.error().message();
  // Within what the cloud has: applied there at once, and the upload is a duplicate.
  auto ok = redeem(5, 300, "r-2");
  ASSERT_TRUE(ok.has_redeem()) << ok.DebugString();
  EXPECT_FALSE(ok.redeem().offline());
  EXPECT_EQ(cloud_balance(5), 0);
  EXPECT_EQ(cloud_rows("event_id = '" + ok.redeem().event_id() + "'"), 1);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + ok.redeem().event_id() + "'"), 1) << "uploaded once more "
                                                                             "as a duplicate";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM agent_online_event WHERE agent_id = 'S1-agent'"), "0")
      << "the upload settled the online event";
  // The same till transaction again: the same answer, not a second redemption.
  auto again = redeem(5, 300, "r-2");
  ASSERT_TRUE(again.has_redeem());
  EXPECT_TRUE(again.redeem().replayed());
  EXPECT_EQ(cloud_balance(5), 0);
  // Once the feed has caught up the store sees the cloud's figure, the online redemption not
  // counted twice (it is in the snapshot and was this store's own event).
  EXPECT_EQ(validate_until(5, [](const pb::ValidateResult& r) { return r.available_points() == 0; })
                .available_points(),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // later pages change nothing
  EXPECT_EQ(validate(5).available_points(), 0) << "the online redemption counted twice";
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, ALostAnswerFallsBackToTheOfflineRulesWithTheSameEventId) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(6, 1000);
  // Two: libcurl sends a request once more on a fresh connection when a reused one dies
  // without an answer (harmless here: the same event id).
  proxy.lose_redeem_responses(2);
  auto r = redeem(6, 400, "lost-1");
  proxy.stop_losing();
  ASSERT_TRUE(r.has_redeem()) << r.DebugString();
  EXPECT_TRUE(r.redeem().offline()) << "decided by the offline rules";
  EXPECT_GE(proxy.lost(), 1);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + r.redeem().event_id() + "'"), 1)
      << "applied online, uploaded later as a duplicate: once";
  EXPECT_EQ(cloud_balance(6), 600);
  expect_ledger_sums_balances();
}

// The race behind a lost answer: the cloud applies the redemption, its answer is late, and
// before the till's wait ends the store downloads the member's new snapshot, which already holds
// it. The redemption must count once in the store's view, not once in the snapshot and again
// on top (the upload is a duplicate: no later snapshot would set it right).
TEST_F(OnlineTest, ARedemptionTheStoreSawInTheCloudsSnapshotBeforeItsAnswerCountsOnce) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(8, 1000);
  // Held past the agent's 2 s wait for the answer; downloads pass every 100 ms meanwhile.
  proxy.delay_online_responses(1, std::chrono::milliseconds(3000));
  auto r = redeem(8, 400, "late-1");
  ASSERT_TRUE(r.has_redeem()) << r.DebugString();
  EXPECT_EQ(r.redeem().available_points(), 600);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(8), 600);
  EXPECT_EQ(cloud_rows("event_id = '" + r.redeem().event_id() + "'"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // later pages change nothing
  EXPECT_EQ(validate(8).available_points(), 600) << "the redemption counted twice in the store";
  expect_ledger_sums_balances();
}

// Offline double spend of points: another store spends most of the member's points online
// while this store, cut off, still sees them all and honours a redemption beyond what is left.
// On upload the cloud applies it (the till was told yes), records the uncovered part as an
// overdraft with its money value, the member's available points show the debt, in the cloud
// and then in the store, and her next sale repays it first (docs/offline-exposure.md).
TEST_F(OnlineTest, PointsSpentTwiceWhileOfflineAreAnOverdraftHerNextSaleRepays) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(9, 1000);
  proxy.set_down(true);
  ASSERT_EQ(spend_elsewhere(9, 700).result().status(), sync::v1::EVENT_STATUS_APPLIED);
  auto r = redeem(9, 800, "overdraft-1");
  ASSERT_TRUE(r.has_redeem()) << r.DebugString();
  EXPECT_TRUE(r.redeem().offline());
  EXPECT_EQ(r.redeem().available_points(), 200) << "the store's view: 1000 - 800";
  const std::string& id = r.redeem().event_id();
  proxy.set_down(false);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + id + "'"), 1) << "honoured: the till said yes";
  EXPECT_EQ(cloud_balance(9), -500);
  EXPECT_EQ(db_.scalar("SELECT store_id || ' ' || points || ' ' || repaid || ' ' || "
                       "value_minor || ' ' || currency FROM overdraft WHERE event_id = '" +
                       id + "'"),
            std::string(kStore) + " 500 0 " +
                std::to_string(r.redeem().discount().minor_units() * 500 / 800) + " " +
                r.redeem().discount().currency());
  EXPECT_EQ(
      validate_until(9, [](const pb::ValidateResult& v) { return v.available_points() == -500; })
          .available_points(),
      -500)
      << "the store sees the debt once the feed has it";

  // Her next sale here: its points pay the debt first; what is left is hers.
  auto sale = accrue(9, "repays-1");
  ASSERT_TRUE(sale.has_accrue()) << sale.DebugString();
  const int64_t earned = sale.accrue().points_earned();
  ASSERT_GT(earned, 0);
  ASSERT_TRUE(drained());
  const int64_t repaid = std::min<int64_t>(earned, 500);
  EXPECT_EQ(db_.scalar("SELECT repaid FROM overdraft WHERE event_id = '" + id + "'"),
            std::to_string(repaid));
  EXPECT_EQ(db_.scalar("SELECT remaining FROM points_lot WHERE lot_id = '" +
                       sale.accrue().event_id() + "'"),
            std::to_string(earned - repaid))
      << "the lot keeps what the debt did not take";
  EXPECT_EQ(cloud_balance(9), earned - 500);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AnUnknownOutcomeBeyondTheOfflineLimitsIsVoidedAndNoPointIsLost) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(7, 5000);
  proxy.lose_redeem_responses(2);  // and libcurl's own retry on a fresh connection
  // 2500 points: above the programme's 2000 per redemption offline.
  auto r = redeem(7, 2500, "void-1");
  proxy.stop_losing();
  ASSERT_TRUE(r.has_error()) << r.DebugString();
  EXPECT_EQ(r.error().code(), pb::ERROR_CODE_UNAVAILABLE);
  EXPECT_NE(r.error().message().find("No points were redeemed"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(validate(7).available_points(), 5000) << "the till's view never moved";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(7), 5000) << "the cloud applied it, then the void gave it back";
  EXPECT_EQ(cloud_rows("kind = 2 AND customer_id = '" + agent::seed_customer_id(7) + "'"), 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 5 AND points = 2500 AND reason "
                       "LIKE 'void of online redemption%'"),
            "1");
  // A retry of the same till transaction is a new attempt, decided online this time.
  auto retry = redeem(7, 2500, "void-1");
  ASSERT_TRUE(retry.has_redeem()) << retry.DebugString();
  EXPECT_FALSE(retry.redeem().offline());
  EXPECT_EQ(cloud_balance(7), 2500);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AnOnlineRedemptionLeftUndecidedByAStopIsVoidedAtTheNextStart) {
  start_agent(cloud_url());
  member_with_points(8, 1000);
  agent_->stop();
  agent_.reset();
  // What a stop between "asked the cloud" and "recorded the answer" leaves: the intent. The
  // cloud did apply it.
  auto e = cloud_applied_online_redemption(8, 300, "cut-1");
  ASSERT_EQ(cloud_balance(8), 700);
  leave_intent(e, 1);
  start_agent(cloud_url());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(8), 1000) << "voided: the points are back";
  EXPECT_EQ(cloud_rows("event_id = '" + e.event_id() + "'"), 1);
  expect_ledger_sums_balances();
}

// The same for a coupon: the cloud marked it used, the till never heard. The next start uploads
// the use and a void of it, so the coupon is the member's again.
TEST_F(OnlineTest, ACouponUseLeftUndecidedByAStopGivesTheCouponBack) {
  start_agent(cloud_url());
  agent_->stop();
  agent_.reset();
  const std::string coupon = "00000000-0000-4000-8000-00000000c001";
  db_.scalar(
      "INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, key_id, code, "
      "issued_at, issued_by, expires_at) VALUES ('" +
      coupon + "', '" + program_.program_id + "', " + std::to_string(program_.version) +
      ", 'five-off', 1, 'x', now(), 'test', now() + interval '1 day') RETURNING 1");
  auto e = other_agent_event();
  e.set_agent_id("S1-agent");
  e.set_seq(0);
  auto* use = e.mutable_coupon_use();
  use->set_coupon_id(coupon);
  use->set_reward_id("five-off");
  use->set_till_id("till-1");
  use->set_pos_tx_id("coupon-cut-1");
  use->set_expires_at_ms(clock_.now_ms() + 86'400'000);
  sync::v1::OnlineRedeemRequest req;
  *req.mutable_event() = e;
  HttpClient client(app_->port());
  auto res = client.request(
      bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
      {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  sync::v1::OnlineRedeemResponse answer;
  ASSERT_TRUE(answer.ParseFromString(res.body()));
  ASSERT_EQ(answer.result().status(), sync::v1::EVENT_STATUS_APPLIED) << answer.result().message();
  ASSERT_EQ(db_.scalar("SELECT status FROM coupon WHERE coupon_id = '" + coupon + "'"), "used");
  // Asked again by another store: refused, nothing written.
  auto again = req;
  again.mutable_event()->set_event_id(other_agent_event().event_id());
  again.mutable_event()->mutable_coupon_use()->set_pos_tx_id("coupon-cut-2");
  HttpClient second(app_->port());
  res = second.request(
      bhttp::verb::post, "/v1/sync/redeem", again.SerializeAsString(),
      {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
  ASSERT_TRUE(answer.ParseFromString(res.body()));
  EXPECT_EQ(answer.result().status(), sync::v1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(answer.result().reject_code(), "coupon_spent");

  {  // What the stop left: the intent (the replica closes at the end of the block).
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    auto id = Uuid::parse(e.event_id(), "id");
    ASSERT_TRUE(id);
    ASSERT_TRUE(w->insert_online_redemption(
        {"till-1", "coupon-cut-1",
         std::string(reinterpret_cast<const char*>(id->bytes().data()), 16), "fingerprint", "",
         e.SerializeAsString(), 1}));
  }
  start_agent(cloud_url());
  ASSERT_TRUE(drained());
  EXPECT_EQ(db_.scalar("SELECT status FROM coupon WHERE coupon_id = '" + coupon + "'"), "issued")
      << "the use was voided: the coupon is usable again";
  EXPECT_EQ(db_.scalar("SELECT string_agg(kind, ',' ORDER BY kind) FROM coupon_event WHERE "
                       "coupon_id = '" +
                       coupon + "'"),
            "use,void");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use"), "0");
}

// A till that never comes back for a redemption whose answer was lost: the running agent voids
// it once no round trip can still be going on (60 s), without waiting for a restart.
TEST_F(OnlineTest, AnUndecidedRedemptionNoTillComesBackForIsVoidedWhileTheAgentRuns) {
  auto c = agent_config(cloud_url());
  c.online_sweep_interval_ms = 100;
  auto a = agent::Agent::start(c);
  ASSERT_TRUE(a) << a.error().message;
  agent_ = std::move(*a);
  member_with_points(8, 1000);
  auto e = cloud_applied_online_redemption(8, 300, "lost-1");
  ASSERT_EQ(cloud_balance(8), 700);
  leave_intent(e, SystemClock().now_ms() - 10'000);  // a round trip may still be going on
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(cloud_balance(8), 700) << "voided while it could still be decided";
  {  // now long undecided
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->db().exec("UPDATE online_redemption SET created_at = " +
                             std::to_string(SystemClock().now_ms() - 61'000)));
  }
  const auto until = Steady::now() + std::chrono::seconds(15);
  while (cloud_balance(8) != 1000 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cloud_balance(8), 1000) << "voided: the points are back";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + e.event_id() + "'"), 1);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AMemberTheStoreHasNeverSeenIsLookedUpAndJoinsTheReplica) {
  forget_locally(9);
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(online());  // its first round trip
  auto v = validate(9);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(v.customer_id(), agent::seed_customer_id(9));
  EXPECT_EQ(v.available_points(), 0) << "the cloud's figure (generated with no history)";
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 1);
  // Kept: the next read asks nobody, and the store is in the member's scope now.
  EXPECT_EQ(validate(9).status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM store_customer WHERE store_id = 'S1' AND "
                       "customer_id = '" +
                       agent::seed_customer_id(9) + "'"),
            "1");
  // A card nobody knows: asked once, then remembered as unknown for a while.
  EXPECT_EQ(validate(kAgentMembers + 5).status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_EQ(validate(kAgentMembers + 5).status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 2);
}

TEST_F(OnlineTest, ASaleForAMemberTheStoreHasNeverSeenIsCreditedToTheMember) {
  forget_locally(10);
  start_agent(cloud_url());
  ASSERT_TRUE(online());
  auto sale = accrue(10, "new-1");
  ASSERT_TRUE(sale.has_accrue()) << sale.DebugString();
  EXPECT_FALSE(sale.accrue().provisional()) << "looked up first";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + sale.accrue().event_id() + "' AND customer_id = '" +
                       agent::seed_customer_id(10) + "'"),
            1);
}

// GDPR end to end: head office erases a member the store has seen; the store's replica drops the
// member and their identifiers through the change feed, and the card is unknown at the till.
TEST_F(OnlineTest, AnErasureInTheCloudReachesTheStoreReplica) {
  start_agent(cloud_url());
  ASSERT_TRUE(online());
  // A sale puts member 12 in the store's scope in the cloud, as the store has seen them.
  ASSERT_TRUE(accrue(12, "gdpr-1").has_accrue());
  ASSERT_TRUE(drained());
  ASSERT_EQ(validate(12).status(), pb::MEMBER_STATUS_ACTIVE);
  const std::string id = agent::seed_customer_id(12);
  HttpClient hq(app_->port());
  auto r = hq.request(bhttp::verb::post, "/v1/customers/" + id + "/erase",
                      R"({"reason": "the member asked"})",
                      {{"Authorization", "Bearer " + hq_token({"hq-support"})},
                       {"Content-Type", "application/json"}});
  ASSERT_EQ(r.result_int(), 200) << r.body();
  auto in_replica = [&](const std::string& table) {
    auto reader = agent::Replica::open_reader(agent_dir_ + "/data/replica.db");
    if (!reader || !reader->begin_read()) return int64_t{-1};
    auto st = reader->db().prepare("SELECT count(*) FROM " + table + " WHERE customer_id = ?");
    if (!st) return int64_t{-1};
    st->bind(1, id);
    auto n = st->first([](const agent::sqlite::Stmt& s) { return s.int64(0); });
    reader->end_read();
    return n && *n ? **n : int64_t{-1};
  };
  ASSERT_EQ(in_replica("identifier"), 1) << "the card is known before";
  const auto until = Steady::now() + std::chrono::seconds(15);
  while (in_replica("customer") != 0 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(in_replica("customer"), 0) << "the replica dropped the member";
  EXPECT_EQ(in_replica("identifier"), 0) << "and their identifiers";
  EXPECT_EQ(validate(12).status(), pb::MEMBER_STATUS_UNKNOWN)
      << "the card is unknown at the till (and the cloud's lookup no longer finds it)";
}

TEST_F(OnlineTest, ASlowLookupGivesUpInTimeAndTheTillGoesOn) {
  lookup_timeout_ms_ = 300;
  forget_locally(11);
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  for (int i = 0; i < 200 && !status().online(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  proxy.delay_lookup_responses(1, std::chrono::milliseconds(1500));
  const auto t0 = Steady::now();
  auto v = validate(11);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_LT(took.count(), 1000) << "the lookup gives up after 300 ms";
  EXPECT_TRUE(v.offline()) << "a failed round trip: offline until the next success";
}

// Rewards claimed at the till (docs/rewards.md, "Claims at the till"): the cloud decides while
// the till waits and signs the coupon; a lost answer is asked about again, never booked twice.
class ClaimsOnlineTest : public OnlineTest {
 protected:
  std::vector<std::string> extra_settings() override {
    key_pem_ = *make_coupon_key_pem();
    std::ofstream((dir_ / "coupon.pem").string()) << key_pem_;
    return {"auth.coupon_key_file=" + (dir_ / "coupon.pem").string(), "auth.coupon_key_id=7"};
  }
  std::string program_json() override {
    auto p = boost::json::parse(CloudAppTest::program_json()).as_object();
    p["rewards"] = boost::json::parse(R"([
      {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 100,
       "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": 500}]}},
      {"reward_id": "tote", "name": "Tote bag", "per_member_limit": 1,
       "gift": {"description": "A tote bag"}}
    ])");
    return boost::json::serialize(p);
  }
  pb::Response claim(int64_t member, const std::string& reward, const std::string& tx) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* c = req.mutable_claim_reward();
    c->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    c->mutable_identifier()->set_value(agent::seed_card_number(member));
    c->set_reward_id(reward);
    c->set_pos_tx_id(tx);
    return call(req);
  }
  // The coupon a code names, verified with the cloud's key.
  std::optional<CouponClaims> verify(const std::string& code) {
    CouponVerifier v;
    auto signer = CouponSigner::from_pem(key_pem_, 7);
    if (!signer || !v.add_key(7, signer->public_key())) return std::nullopt;
    auto claims = v.verify(code, SystemClock().now_ms());
    if (!claims) return std::nullopt;
    return *claims;
  }
  std::string coupons(int64_t m, const std::string& where = "true") {
    return db_.scalar("SELECT count(*) FROM coupon WHERE customer_id = '" +
                      agent::seed_customer_id(m) + "' AND " + where);
  }
  std::string key_pem_;
};

TEST_F(ClaimsOnlineTest, TheCloudDecidesAClaimAtTheTillAndSignsItsCoupon) {
  start_agent(cloud_url());
  ASSERT_TRUE(online());
  ASSERT_FALSE(synthetic_blocked(21));
  member_with_points(21, 300);
  auto r = claim(21, "five-off", "claim-1");
  ASSERT_TRUE(r.has_claim_reward()) << r.DebugString();
  const auto& c = r.claim_reward();
  EXPECT_FALSE(c.offline());
  EXPECT_EQ(c.cost_points(), 100);
  EXPECT_EQ(c.available_points(), 200);
  auto coupon = verify(c.code());
  ASSERT_TRUE(coupon) << "a code the cloud signed: " << c.code();
  EXPECT_EQ(coupon->coupon_id.to_string(), c.coupon_id());
  EXPECT_EQ(coupon->member_id->to_string(), agent::seed_customer_id(21));
  EXPECT_EQ(coupon->reward_id, "five-off");
  EXPECT_EQ(validate(21).available_points(), 200);
  // The till asks again (its answer lost on the way to the cashier): the same coupon.
  auto again = claim(21, "five-off", "claim-1");
  ASSERT_TRUE(again.has_claim_reward()) << again.DebugString();
  EXPECT_TRUE(again.claim_reward().replayed());
  EXPECT_EQ(again.claim_reward().code(), c.code());
  // A gift is handed over at once; her limit is one, which the cloud judges.
  auto gift = claim(21, "tote", "claim-2");
  ASSERT_TRUE(gift.has_claim_reward()) << gift.DebugString();
  EXPECT_EQ(gift.claim_reward().gift(), "A tote bag");
  auto second = claim(21, "tote", "claim-3");
  ASSERT_TRUE(second.has_error()) << second.DebugString();
  EXPECT_EQ(second.error().message_id(), "reward.member_limit");
  EXPECT_EQ(second.error().code(), pb::ERROR_CODE_FAILED_PRECONDITION);

  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(21), 200) << "the claim's upload is a duplicate: booked once";
  EXPECT_EQ(coupons(21), "2");
  EXPECT_EQ(coupons(21, "reward_id = 'tote' AND status = 'used'"), "1") << "handed over";
  EXPECT_EQ(coupons(21, "reward_id = 'five-off' AND status = 'issued'"), "1");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM coupon_double_use"), "0");
  EXPECT_EQ(
      validate_until(21, [](const pb::ValidateResult& v) { return v.available_points() == 200; })
          .available_points(),
      200);
  expect_ledger_sums_balances();
}

TEST_F(ClaimsOnlineTest, AClaimWhoseAnswerIsLostIsAskedAgainAndBookedOnce) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(online());
  ASSERT_FALSE(synthetic_blocked(22));
  member_with_points(22, 300);
  proxy.lose_redeem_responses(2);  // and libcurl's own retry on a fresh connection
  auto lost = claim(22, "five-off", "lost-claim");
  proxy.stop_losing();
  ASSERT_TRUE(lost.has_error()) << lost.DebugString();
  EXPECT_EQ(lost.error().message_id(), "reward.no_answer") << "not claimable offline";
  EXPECT_EQ(lost.error().code(), pb::ERROR_CODE_UNAVAILABLE);
  EXPECT_EQ(coupons(22), "1") << "the cloud booked it; only its answer was lost";
  ASSERT_TRUE(online());
  auto asked = claim(22, "five-off", "lost-claim");
  ASSERT_TRUE(asked.has_claim_reward()) << asked.DebugString();
  EXPECT_FALSE(asked.claim_reward().code().empty()) << "the same claim: its coupon's code";
  ASSERT_TRUE(drained());
  EXPECT_EQ(coupons(22), "1");
  EXPECT_EQ(cloud_balance(22), 200);
  EXPECT_EQ(
      validate_until(22, [](const pb::ValidateResult& v) { return v.available_points() == 200; })
          .available_points(),
      200)
      << "spent once in the store's view too";
  expect_ledger_sums_balances();
}

// A claim the till never asks about again is abandoned at the next start: uploaded marked so,
// it stays booked if the cloud booked it, and nothing is booked twice, not even by the till's
// late retry of the same transaction.
TEST_F(ClaimsOnlineTest, AnUnansweredClaimLeftByAStopIsAbandonedAndCountsOnce) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(online());
  ASSERT_FALSE(synthetic_blocked(23));
  member_with_points(23, 300);
  proxy.lose_redeem_responses(2);
  auto lost = claim(23, "five-off", "cut-claim");
  proxy.stop_losing();
  ASSERT_TRUE(lost.has_error()) << lost.DebugString();
  agent_->stop();
  agent_.reset();
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(drained());
  EXPECT_EQ(coupons(23), "1") << "what the cloud booked stays: the coupon is in her app";
  EXPECT_EQ(cloud_balance(23), 200);
  EXPECT_EQ(
      validate_until(23, [](const pb::ValidateResult& v) { return v.available_points() == 200; })
          .available_points(),
      200);
  // The till's late retry claims nothing a second time: it hears the claim was given up.
  auto retry = claim(23, "five-off", "cut-claim");
  ASSERT_TRUE(retry.has_error()) << retry.DebugString();
  EXPECT_EQ(retry.error().message_id(), "reward.abandoned");
  EXPECT_EQ(retry.error().code(), pb::ERROR_CODE_FAILED_PRECONDITION);
  // A new transaction is a new claim, decided online.
  auto fresh = claim(23, "five-off", "cut-claim-2");
  ASSERT_TRUE(fresh.has_claim_reward()) << fresh.DebugString();
  ASSERT_TRUE(drained());
  EXPECT_EQ(coupons(23), "2");
  EXPECT_EQ(cloud_balance(23), 100);
  expect_ledger_sums_balances();
}

}  // namespace
}  // namespace accrue::sync_testing
