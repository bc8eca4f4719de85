// Tier progression decided by the cloud (cloud/core/tiers.h), on the demo ladder: bronze 0,
// silver 1,000, gold 5,000 points earned in 365 days, 30 days' grace before a downgrade.
#include "cloud/core/tiers.h"

#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
constexpr int64_t kDay = 86'400'000;

class TierProgressionTest : public CloudAppTest {
 protected:
  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto c = db_.connect();
    ASSERT_TRUE(c);
    // A subscriber to tier.changed, so the webhook rows can be seen.
    ASSERT_TRUE(
        c->exec("INSERT INTO webhook_subscription (subscription_id, url, event_types, secret, "
                "created_by) VALUES (gen_random_uuid(), 'https://hooks.test/t', "
                "'{tier.changed}', 's', 'test')"));
  }

  std::string tier_of(const std::string& id) {
    return db_.scalar("SELECT tier_id FROM customer WHERE customer_id = '" + id + "'");
  }
  std::string history(const std::string& id) {
    return db_.scalar(
        "SELECT coalesce(string_agg(from_tier || '>' || to_tier || ':' || reason || ':' || actor, "
        "' ' ORDER BY change_id), '') FROM tier_history WHERE customer_id = '" +
        id + "'");
  }

  // The daily pass as the scheduler runs it, at `now`.
  TierRunReport daily_pass(TimestampMs now, std::vector<std::string>* moved = nullptr) {
    auto c = db_.connect();
    EXPECT_TRUE(c);
    ProgramCatalog catalog(zones_);
    auto program = catalog.latest(*c, now);
    EXPECT_TRUE(program) << program.error().message;
    auto report = run_tier_pass(*c, **program, now, std::chrono::seconds(60), 2,
                                [&](const std::vector<std::string>& ids) {
                                  if (moved) moved->insert(moved->end(), ids.begin(), ids.end());
                                });
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : TierRunReport{};
  }

  // A sale of `eur` euros for c0 (1 point per euro, 50 more from 100 euros).
  sv1::EventEnvelope sale(uint64_t seq, int64_t eur) {
    return accrual(seq, "c0", eur * 100, "pos-" + std::to_string(seq));
  }
};

TEST_F(TierProgressionTest, ASaleThatCrossesAThresholdUpgradesInItsOwnBatch) {
  add_customers(2);
  auto r = results(post(batch_of({sale(1, 600)}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(tier_of("c0"), "bronze") << "650 points: not yet silver";
  EXPECT_EQ(history("c0"), "");

  auto feed_rows = [&] {
    return db_.scalar("SELECT count(*) FROM change_feed WHERE customer_id = 'c0' AND kind = 1");
  };
  const std::string rows_before = feed_rows();
  r = results(post(batch_of({sale(2, 400)}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(tier_of("c0"), "silver") << "1,100 points in the window";
  EXPECT_EQ(history("c0"), "bronze>silver:qualified:ingest");
  EXPECT_EQ(db_.scalar("SELECT payload->>'from' || '>' || (payload->>'to') || ':' || "
                       "(payload->>'reason') FROM webhook_outbox WHERE event_type = "
                       "'tier.changed' AND event_id = 'c0'"),
            "bronze>silver:qualified");
  EXPECT_EQ(std::stoi(feed_rows()), std::stoi(rows_before) + 1)
      << "the batch's row for her, written in the transaction that moved her, carries the tier";
  EXPECT_EQ(tier_of("c1"), "bronze");

  // The profile read shows the new tier and the distance to gold.
  auto doc = boost::json::parse(get("/v1/customers/c0/status", hq_token({"hq-analyst"})).body());
  EXPECT_EQ(doc.at("tier").at("id").as_string(), "silver");
  EXPECT_EQ(doc.at("tier").at("next").at("points_needed").as_int64(), 5000 - 1100);
}

TEST_F(TierProgressionTest, AReturnBelowTheThresholdStartsTheGraceClockAndTheDailyPassEndsIt) {
  add_customers(1);
  auto buy = sale(1, 1000);
  auto r = results(post(batch_of({buy}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED);
  ASSERT_EQ(tier_of("c0"), "silver");

  auto ret = envelope(2);
  ret.mutable_return_()->set_customer_id("c0");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-6");
  ret.mutable_return_()->set_original_event_id(buy.event_id());
  ret.mutable_return_()->set_points_reversed(500);
  r = results(post(batch_of({ret}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  EXPECT_EQ(tier_of("c0"), "silver") << "never a downgrade while ingesting";
  EXPECT_EQ(db_.scalar("SELECT tier_below_since IS NOT NULL FROM customer WHERE customer_id = "
                       "'c0'"),
            "t")
      << "the grace clock runs from the return";

  const TimestampMs now = clock_.now_ms();
  EXPECT_EQ(daily_pass(now + 29 * kDay).downgraded, 0) << "inside the 30 days' grace";
  EXPECT_EQ(tier_of("c0"), "silver");
  const std::string feed_before =
      db_.scalar("SELECT count(*) FROM change_feed WHERE customer_id = 'c0'");
  std::vector<std::string> moved;
  auto report = daily_pass(now + 31 * kDay, &moved);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed WHERE customer_id = 'c0'"),
            std::to_string(std::stoi(feed_before) + 1))
      << "the downgrade reaches her stores";
  EXPECT_EQ(report.downgraded, 1);
  EXPECT_EQ(tier_of("c0"), "bronze");
  EXPECT_EQ(moved, std::vector<std::string>{"c0"}) << "the moved members go to the cache";
  EXPECT_EQ(history("c0"), "bronze>silver:qualified:ingest silver>bronze:grace_ended:scheduler");
  EXPECT_EQ(db_.scalar("SELECT tier_below_since IS NULL FROM customer WHERE customer_id = 'c0'"),
            "t");
  // A second pass at the same time changes nothing.
  report = daily_pass(now + 31 * kDay);
  EXPECT_EQ(report.downgraded + report.upgraded + report.placed, 0);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM tier_history"), "2");
}

TEST_F(TierProgressionTest, EarningBackDuringTheGraceStopsTheClock) {
  add_customers(1);
  auto buy = sale(1, 1000);
  ASSERT_EQ(results(post(batch_of({buy}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto ret = envelope(2);
  ret.mutable_return_()->set_customer_id("c0");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-7");
  ret.mutable_return_()->set_original_event_id(buy.event_id());
  ret.mutable_return_()->set_points_reversed(300);
  ASSERT_EQ(results(post(batch_of({ret}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  ASSERT_EQ(db_.scalar("SELECT tier_below_since IS NOT NULL FROM customer"), "t");
  ASSERT_EQ(results(post(batch_of({sale(3, 300)}), token_)).results(0).status(),
            sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(db_.scalar("SELECT tier_below_since IS NULL FROM customer"), "t")
      << "1,050 points again: the clock stops";
  EXPECT_EQ(daily_pass(clock_.now_ms() + 60 * kDay).downgraded, 0);
  EXPECT_EQ(tier_of("c0"), "silver");
}

TEST_F(TierProgressionTest, TheWindowRollsAndAManualFloorHolds) {
  add_customers(2);
  for (const char* id : {"c0", "c1"}) {
    ASSERT_EQ(
        results(post(batch_of({accrual(std::string(id) == "c0" ? 1 : 2, id, 600000, id)}), token_))
            .results(0)
            .status(),
        sv1::EVENT_STATUS_APPLIED);
    ASSERT_EQ(tier_of(id), "gold");
  }
  // Head office guarantees c1 silver.
  HttpClient client(app_->port());
  auto res = client.request(bhttp::verb::put, "/v1/customers/c1/tier-floor",
                            R"({"tier_id":"silver","reason":"VIP service"})",
                            {{"Authorization", "Bearer " + hq_token({"hq-support"})},
                             {"Content-Type", "application/json"}});
  ASSERT_EQ(res.result_int(), 200u) << res.body();

  // A year on, the sales left the window: the pass starts both clocks, 30 days later it ends them.
  const TimestampMs year = clock_.now_ms() + 367 * kDay;
  EXPECT_EQ(daily_pass(year).downgraded, 0);
  EXPECT_EQ(daily_pass(year + 31 * kDay).downgraded, 2);
  EXPECT_EQ(tier_of("c0"), "bronze");
  EXPECT_EQ(tier_of("c1"), "silver") << "never below the manual floor";
}

TEST_F(TierProgressionTest, AFloorAboveTheTierLiftsAndIsRecordedWithItsAuthor) {
  add_customers(1);
  HttpClient client(app_->port());
  auto res = client.request(bhttp::verb::put, "/v1/customers/c0/tier-floor",
                            R"({"tier_id":"gold","reason":"celebrity"})",
                            {{"Authorization", "Bearer " + hq_token({"hq-support"})},
                             {"Content-Type", "application/json"}});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(tier_of("c0"), "gold");
  EXPECT_EQ(history("c0"), "bronze>gold:manual_floor:tester");
  EXPECT_EQ(db_.scalar("SELECT payload->>'reason' FROM webhook_outbox WHERE event_type = "
                       "'tier.changed'"),
            "manual_floor");
  EXPECT_EQ(daily_pass(clock_.now_ms() + 400 * kDay).downgraded, 0);
  EXPECT_EQ(tier_of("c0"), "gold");

  auto doc =
      boost::json::parse(get("/v1/customers/c0/tier-history", hq_token({"hq-analyst"})).body());
  const auto& items = doc.at("items").as_array();
  ASSERT_EQ(items.size(), 1u) << doc;
  EXPECT_EQ(items[0].at("from").as_string(), "bronze");
  EXPECT_EQ(items[0].at("to").as_string(), "gold");
  EXPECT_EQ(items[0].at("reason").as_string(), "manual_floor");
  EXPECT_EQ(items[0].at("actor").as_string(), "tester");
  EXPECT_EQ(get("/v1/customers/nobody/tier-history", hq_token({"hq-analyst"})).result_int(), 404u);
}

TEST_F(TierProgressionTest, AMemberWithATierTheLadderNoLongerHasIsPlacedByTheDailyPass) {
  add_customers(1);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec("UPDATE customer SET tier_id = 'platinum' WHERE customer_id = 'c0'"));
  auto report = daily_pass(clock_.now_ms());
  EXPECT_EQ(report.placed, 1);
  EXPECT_EQ(tier_of("c0"), "bronze");
  EXPECT_EQ(history("c0"), "platinum>bronze:placed:scheduler");
}

}  // namespace
}  // namespace accrue::cloud
