// Returns in any store (docs/lifecycle.md, "Returns"), end to end on the real server and a real
// PostgreSQL: another store's sale returned online (POST /v1/sync/return) and by upload, never
// more than the sale earned across all its returns chain-wide, a retry under another event id,
// and a return whose sale is not known yet held for head office's review (GET /v1/returns),
// applied once the sale arrives, or dismissed with a reason.
#include <boost/json.hpp>

#include "cloud/core/audit.h"
#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::cloud {
namespace {

namespace sv1 = accrue::sync::v1;
namespace bhttp = boost::beast::http;
using testing::HttpClient;
using namespace testing_support;

class ReturnsTest : public CloudAppTest {
 protected:
  // A sale in S1 (the fixture's store) of `units` of one line, for member c0.
  sv1::EventEnvelope sale(uint64_t seq, const std::string& pos_tx, int units) {
    auto e = accrual(seq, "c0", 1000 * units, pos_tx);
    e.mutable_accrual()->mutable_basket()->mutable_lines(0)->set_quantity_milli(1000 * units);
    e.mutable_accrual()->set_points(points_for(e.accrual().basket()));
    return e;
  }

  // A return made in store S2 of `units` of line 1 of S1's sale `sale_tx` on till-1.
  sv1::EventEnvelope return_in_s2(uint64_t seq, const std::string& pos_tx,
                                  const std::string& sale_tx, int units) {
    auto e = envelope(seq);
    e.set_store_id("S2");
    e.set_agent_id("S2-agent");
    auto* r = e.mutable_return_();
    r->set_till_id("till-9");
    r->set_pos_tx_id(pos_tx);
    r->set_original_store_id(kStore);
    r->set_original_till_id("till-1");
    r->set_original_pos_tx_id(sale_tx);
    auto* l = r->add_lines();
    l->set_line_no(1);
    l->set_quantity_milli(1000 * units);
    return e;
  }

  sv1::OnlineReturnResponse return_online(const sv1::EventEnvelope& e) {
    sv1::OnlineReturnRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/return", req.SerializeAsString(),
        {{"Authorization", "Bearer " + other_token_}, {"Content-Type", "application/x-protobuf"}});
    sv1::OnlineReturnResponse out;
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_TRUE(out.ParseFromString(res.body()));
    return out;
  }

  sv1::EventBatchResult upload_s2(std::vector<sv1::EventEnvelope> events) {
    sv1::EventBatch b;
    b.set_store_id("S2");
    b.set_agent_id("S2-agent");
    for (auto& e : events) *b.add_events() = std::move(e);
    return results(post(b, other_token_));
  }

  HttpClient::Response hq_post(const std::string& target, const std::string& body) {
    HttpClient client(app_->port());
    return client.request(bhttp::verb::post, target, body,
                          {{"Authorization", "Bearer " + hq_token({"hq-support"})},
                           {"Content-Type", "application/json"}});
  }

  std::string balance() {
    return db_.scalar("SELECT points FROM balance WHERE customer_id = 'c0'");
  }

  void expect_audit_clean() {
    auto conn = db_.connect();
    ASSERT_TRUE(conn);
    auto report = audit(*conn);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok());
  }
};

// The demo programme refunds redeemed points on returns (redemption.refund_on_return).
TEST_F(ReturnsTest, PointsRedeemedOnTheSaleComeBackWithTheValueReturnedInAnyStore) {
  ASSERT_TRUE(program_.redemption.refund_on_return);
  add_customers(1);
  auto red = envelope(1);
  red.mutable_redemption()->set_customer_id("c0");
  red.mutable_redemption()->set_till_id("till-1");
  red.mutable_redemption()->set_pos_tx_id("red-1");
  red.mutable_redemption()->set_points(300);
  red.mutable_redemption()->set_offline(true);
  auto s = sale(2, "sale-1", 4);  // four units of one line, paid partly with the 300 points
  s.mutable_accrual()->add_redemption_event_ids(red.event_id());
  const int64_t earned = s.accrual().points();
  auto r = results(post(batch_of({red, s}), token_));
  ASSERT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED) << r.results(1).message();
  EXPECT_EQ(
      db_.scalar("SELECT redeemed_points FROM receipt WHERE event_id = '" + s.event_id() + "'"),
      "300");
  EXPECT_EQ(db_.scalar("SELECT sale_event_id FROM sale_redemption"), s.event_id());

  // One unit of four back in S2, online: a quarter of the redeemed points comes back.
  auto a = return_online(return_in_s2(0, "ret-1", "sale-1", 1));
  ASSERT_EQ(a.result().status(), sv1::EVENT_STATUS_APPLIED) << a.result().message();
  EXPECT_EQ(a.points_reversed(), earned / 4);
  EXPECT_EQ(a.points_refunded(), 75);
  EXPECT_EQ(balance(), std::to_string(-300 + earned - earned / 4 + 75));

  // The other three back in S1, computed by its agent: the rest, exactly.
  auto here = envelope(3);
  auto* ret = here.mutable_return_();
  ret->set_customer_id("c0");
  ret->set_till_id("till-1");
  ret->set_pos_tx_id("ret-2");
  ret->set_original_event_id(s.event_id());
  auto* l = ret->add_lines();
  l->set_line_no(1);
  l->set_quantity_milli(3000);
  ret->set_points_reversed(earned - earned / 4);
  ret->set_points_refunded(225);
  ASSERT_EQ(results(post(batch_of({here}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(balance(), "0");
  EXPECT_EQ(db_.scalar("SELECT string_agg(points::text, ',' ORDER BY points) FROM ledger "
                       "WHERE kind = 8 AND ref_event_id = '" +
                       s.event_id() + "'"),
            "75,225");
  EXPECT_EQ(
      db_.scalar("SELECT refunded_points FROM receipt WHERE event_id = '" + s.event_id() + "'"),
      "300");
  EXPECT_EQ(db_.scalar("SELECT lifetime_redeemed FROM balance WHERE customer_id = 'c0'"), "0");
  EXPECT_EQ(app_->ingest_counters().mismatched.load(), 0u) << "the store's figures agree";

  // A second sale cannot name the same redemption: it refunds nothing, and the claim is counted.
  auto again = sale(4, "sale-2", 1);
  again.mutable_accrual()->add_redemption_event_ids(red.event_id());
  ASSERT_EQ(results(post(batch_of({again}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(
      db_.scalar("SELECT redeemed_points FROM receipt WHERE event_id = '" + again.event_id() + "'"),
      "0");
  EXPECT_EQ(app_->ingest_counters().mismatched.load(), 1u);
  expect_audit_clean();
}

TEST_F(ReturnsTest, AnotherStoresSaleIsReturnedOnlineNeverBeyondWhatItEarnedChainWide) {
  add_customers(1);
  auto s = sale(1, "sale-1", 4);  // four units, one line
  const int64_t earned = s.accrual().points();
  ASSERT_GT(earned, 0);
  ASSERT_EQ(results(post(batch_of({s}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);

  // One unit back in S2, decided by the cloud while the till waits.
  auto first = return_in_s2(0, "ret-1", "sale-1", 1);
  auto a = return_online(first);
  ASSERT_EQ(a.result().status(), sv1::EVENT_STATUS_APPLIED) << a.result().message();
  EXPECT_EQ(a.points_reversed(), earned / 4);
  EXPECT_EQ(a.customer_id(), "c0");
  EXPECT_FALSE(a.held_for_review());
  EXPECT_EQ(balance(), std::to_string(earned - earned / 4));

  // The till retried after a lost answer: another event id, the same return, once.
  auto retry = return_in_s2(0, "ret-1", "sale-1", 1);
  auto b = return_online(retry);
  EXPECT_EQ(b.result().status(), sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(b.points_reversed(), earned / 4);
  EXPECT_EQ(balance(), std::to_string(earned - earned / 4));

  // Two units back in S1, computed by its own agent and uploaded.
  auto here = envelope(2);
  here.mutable_return_()->set_customer_id("c0");
  here.mutable_return_()->set_till_id("till-1");
  here.mutable_return_()->set_pos_tx_id("ret-2");
  here.mutable_return_()->set_original_event_id(s.event_id());
  auto* l = here.mutable_return_()->add_lines();
  l->set_line_no(1);
  l->set_quantity_milli(2000);
  here.mutable_return_()->set_points_reversed(earned / 2);
  ASSERT_EQ(results(post(batch_of({here}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);

  // Two more units asked in S2: only one is left anywhere.
  auto over = return_in_s2(0, "ret-3", "sale-1", 2);
  auto c = return_online(over);
  EXPECT_EQ(c.result().status(), sv1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(c.result().reject_code(), "bad_return");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM sale_return WHERE pos_tx_id = 'ret-3'"), "0")
      << "a refusal at the till leaves nothing behind";

  // The last unit, uploaded from S2 after an offline return: the cloud decides the points.
  auto last = return_in_s2(1, "ret-4", "sale-1", 1);
  ASSERT_EQ(upload_s2({last}).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(balance(), "0");
  EXPECT_EQ(
      db_.scalar("SELECT points_reversed FROM receipt WHERE event_id = '" + s.event_id() + "'"),
      std::to_string(earned));
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 3"), "3");
  expect_audit_clean();
}

TEST_F(ReturnsTest, AReturnOfASaleNotKnownYetIsHeldForReviewAndAppliedAsSoonAsTheSaleArrives) {
  add_customers(1);
  // S2 returns a sale S1 has not uploaded yet (S1 is offline): held, never refused.
  auto early = return_in_s2(1, "ret-early", "late-sale", 1);
  auto orphan = return_in_s2(2, "ret-orphan", "no-such-sale", 1);
  auto r = upload_s2({early, orphan});
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  ASSERT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(upload_s2({return_in_s2(1, "ret-early", "late-sale", 1)}).results(0).status(),
            sv1::EVENT_STATUS_DUPLICATE)
      << "a held return is not held twice";

  auto list = get("/v1/returns", hq_token({"hq-analyst"}));
  ASSERT_EQ(list.result_int(), 200u) << list.body();
  auto items = boost::json::parse(list.body()).at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].at("status").as_string(), "held");
  EXPECT_EQ(items[0].at("sale").at("pos_tx_id").as_string(), "late-sale");
  EXPECT_EQ(items[0].at("note").as_string(), "the sale is not known here yet");

  // Retrying before the sale arrives changes nothing.
  auto too_early = hq_post("/v1/returns/" + early.event_id() + "/retry", "");
  ASSERT_EQ(too_early.result_int(), 200u) << too_early.body();
  EXPECT_EQ(boost::json::parse(too_early.body()).at("status").as_string(), "held");

  // S1 comes back online with the sale: the held return is applied as soon as it lands.
  auto s = sale(1, "late-sale", 2);
  const int64_t earned = s.accrual().points();
  ASSERT_EQ(results(post(batch_of({s}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto applied = get("/v1/returns/" + early.event_id(), hq_token({"hq-analyst"}));
  ASSERT_EQ(applied.result_int(), 200u) << applied.body();
  auto doc = boost::json::parse(applied.body());
  EXPECT_EQ(doc.at("status").as_string(), "applied");
  EXPECT_EQ(doc.at("points_reversed").as_int64(), earned / 2);
  EXPECT_EQ(doc.at("customer_id").as_string(), "c0");
  EXPECT_EQ(balance(), std::to_string(earned - earned / 2));
  EXPECT_EQ(hq_post("/v1/returns/" + early.event_id() + "/retry", "").result_int(), 409u)
      << "nothing left to review";

  // The orphan is closed by head office with a reason; that is audited.
  EXPECT_EQ(hq_post("/v1/returns/" + orphan.event_id() + "/dismiss", "{}").result_int(), 422u);
  auto dismissed = hq_post("/v1/returns/" + orphan.event_id() + "/dismiss",
                           R"({"reason": "receipt number mistyped at the till"})");
  ASSERT_EQ(dismissed.result_int(), 200u) << dismissed.body();
  EXPECT_EQ(boost::json::parse(dismissed.body()).at("status").as_string(), "dismissed");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'return.dismiss'"), "1");
  auto held = get("/v1/returns?status=held", hq_token({"hq-analyst"}));
  EXPECT_EQ(boost::json::parse(held.body()).at("items").as_array().size(), 0u);
  EXPECT_EQ(get("/v1/returns/not-a-uuid", hq_token({"hq-analyst"})).result_int(), 404u);
  EXPECT_EQ(get("/v1/returns?status=lost", hq_token({"hq-analyst"})).result_int(), 422u);
  expect_audit_clean();
}

}  // namespace
}  // namespace accrue::cloud
