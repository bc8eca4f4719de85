// The three hot head-office reads over HTTP, against events ingested the way agents send them.
#include "cloud/hq/reads.h"

#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
using ReadsTest = CloudAppTest;
namespace json = boost::json;

json::object body(const HttpClient::Response& r) {
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  boost::system::error_code ec;
  auto v = json::parse(r.body(), ec);
  EXPECT_FALSE(ec) << r.body();
  return v.is_object() ? v.as_object() : json::object{};
}

TEST_F(ReadsTest, StatusShowsPendingPointsTierAndDistanceToTheNextTier) {
  add_customers(1);
  auto sale = accrual(1, "c0", 12345, "s1");  // 123 EUR -> pending for 14 days
  auto adj = envelope(2);
  adj.mutable_adjustment()->set_customer_id("c0");
  adj.mutable_adjustment()->set_points(40);
  adj.mutable_adjustment()->set_reason("goodwill");
  adj.mutable_adjustment()->set_actor("support");
  auto r = results(post(batch_of({sale, adj}), token_));
  ASSERT_EQ(r.results(1).status(), sv1::EVENT_STATUS_APPLIED);
  const int64_t earned = sale.accrual().points();

  auto doc = body(get("/v1/customers/c0/status", hq_token({"hq-analyst"})));
  EXPECT_EQ(doc["customer_id"].as_string(), "c0");
  EXPECT_EQ(doc["status"].as_string(), "active");
  EXPECT_EQ(doc["points"].at("pending").as_int64(), earned);
  EXPECT_EQ(doc["points"].at("available").as_int64(), 40) << "the adjustment is available at once";
  EXPECT_EQ(doc["tier"].at("id").as_string(), "bronze");
  EXPECT_EQ(doc["tier"].at("name").as_string(), "Bronze");
  EXPECT_EQ(doc["tier"].at("next").at("id").as_string(), "silver");
  EXPECT_EQ(doc["tier"].at("next").at("points_needed").as_int64(), 1000 - earned)
      << "qualifying: points earned in the window (adjustments do not count)";
}

TEST_F(ReadsTest, ProfileCarriesLifetimeFiguresIdentifierKindsAndNoPersonalData) {
  auto en = envelope(1);
  en.mutable_enrolment()->set_temp_customer_id("t-9");
  auto* id = en.mutable_enrolment()->add_identifiers();
  id->set_kind("phone");
  id->set_hash(std::string(32, '\x11'));
  en.mutable_enrolment()->set_display_name("Grace");
  auto sale = accrual(2, "t-9", 5000, "s");
  auto red = envelope(3);
  red.mutable_redemption()->set_customer_id("t-9");
  red.mutable_redemption()->set_points(30);
  auto r = results(post(batch_of({en, sale, red}), token_));
  ASSERT_EQ(r.results(2).status(), sv1::EVENT_STATUS_APPLIED) << r.results(2).message();
  const std::string cid =
      db_.scalar("SELECT customer_id FROM customer WHERE temp_customer_id = 't-9'");

  auto doc = body(get("/v1/customers/" + cid, hq_token({"hq-support"})));
  EXPECT_EQ(doc["home_store_id"].as_string(), "S1");
  EXPECT_EQ(doc["lifetime"].at("earned").as_int64(), 100 + sale.accrual().points());
  EXPECT_EQ(doc["lifetime"].at("redeemed").as_int64(), 30);
  EXPECT_TRUE(doc.contains("last_purchase_at"));
  ASSERT_EQ(doc["identifiers"].as_array().size(), 1u);
  EXPECT_EQ(doc["identifiers"].as_array()[0].at("kind").as_string(), "phone");
  EXPECT_EQ(doc["points"].at("available").as_int64(), 100 - 30) << "bonus minus redemption";
  const std::string raw = json::serialize(doc);
  EXPECT_EQ(raw.find("Grace"), std::string::npos) << "no personal data in the profile read";
}

TEST_F(ReadsTest, TierQualificationCountsSalesMinusReturnsAndTheEnrolmentBonus) {
  auto en = envelope(1);
  en.mutable_enrolment()->set_temp_customer_id("t-q");
  auto* id = en.mutable_enrolment()->add_identifiers();
  id->set_kind("card");
  id->set_hash(std::string(32, '\x22'));
  auto sale = accrual(2, "t-q", 20000, "s1");
  auto ret = envelope(3);
  ret.mutable_return_()->set_customer_id("t-q");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-4");
  ret.mutable_return_()->set_original_event_id(sale.event_id());
  ret.mutable_return_()->set_points_reversed(50);
  auto adj = envelope(4);
  adj.mutable_adjustment()->set_customer_id("t-q");
  adj.mutable_adjustment()->set_points(500);
  adj.mutable_adjustment()->set_reason("goodwill");
  adj.mutable_adjustment()->set_actor("support");
  auto r = results(post(batch_of({en, sale, ret, adj}), token_));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(r.results(i).status(), sv1::EVENT_STATUS_APPLIED) << i << r.results(i).message();
  }
  const std::string cid =
      db_.scalar("SELECT customer_id FROM customer WHERE temp_customer_id = 't-q'");
  auto doc = body(get("/v1/customers/" + cid, hq_token({"hq-analyst"})));
  EXPECT_EQ(doc["tier_qualification"].at("value").as_int64(), 100 + sale.accrual().points() - 50)
      << "bonus + sale - return; adjustments do not qualify";
  EXPECT_EQ(doc["tier_qualification"].at("basis").as_string(), "points_earned");
  // The per-day totals the read sums agree with the ledger they summarise.
  EXPECT_EQ(db_.scalar("SELECT sum(qualifying_points) FROM customer_day WHERE customer_id = '" +
                       cid + "'"),
            db_.scalar("SELECT sum(points) FROM ledger WHERE kind IN (1, 3, 4, 7) AND "
                       "customer_id = '" +
                       cid + "'"));
  EXPECT_EQ(
      db_.scalar("SELECT sum(spend_minor) FROM customer_day WHERE customer_id = '" + cid + "'"),
      "20000");
}

TEST_F(ReadsTest, TransactionsPageNewestFirstWithACursor) {
  add_customers(1);
  std::vector<sv1::EventEnvelope> events;
  for (int i = 0; i < 7; ++i) {
    events.push_back(
        accrual(static_cast<uint64_t>(i + 1), "c0", 1000 + i, "s" + std::to_string(i)));
    events.back().set_occurred_at_ms(1'795'000'000'000 + i * 60'000);
  }
  auto ret = envelope(8);
  ret.set_occurred_at_ms(1'795'000'000'000 + 10 * 60'000);
  ret.mutable_return_()->set_customer_id("c0");
  ret.mutable_return_()->set_till_id("till-1");
  ret.mutable_return_()->set_pos_tx_id("return-5");
  ret.mutable_return_()->set_original_event_id(events[6].event_id());
  ret.mutable_return_()->set_points_reversed(3);
  events.push_back(ret);
  auto r = results(post(batch_of(events), token_));
  ASSERT_EQ(r.results(7).status(), sv1::EVENT_STATUS_APPLIED) << r.results(7).message();

  const std::string token = hq_token({"hq-admin"});
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto doc = body(
        get("/v1/customers/c0/transactions?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor),
            token));
    for (const auto& it : doc["items"].as_array()) {
      seen.emplace_back(it.at("event_id").as_string());
      if (it.at("event_id").as_string() == events[6].event_id()) {
        EXPECT_EQ(it.at("points_reversed").as_int64(), 3);
        EXPECT_EQ(it.at("kind").as_string(), "accrual");
        EXPECT_EQ(it.at("amount").at("currency").as_string(), "EUR");
      }
    }
    ++pages;
    if (doc["next_cursor"].is_null()) break;
    cursor = std::string(doc["next_cursor"].as_string());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen[0], ret.event_id()) << "newest first";
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(seen[static_cast<size_t>(7 - i)], events[static_cast<size_t>(i)].event_id());
}

TEST_F(ReadsTest, AuthRolesAndBadInputs) {
  add_customers(1);
  HttpClient c(app_->port());
  auto status = [&](const std::string& target, const std::string& auth_header) {
    return c.request(bhttp::verb::get, target, "", {{"Authorization", auth_header}}).result_int();
  };
  const std::string ok = "Bearer " + hq_token({"hq-analyst"});
  EXPECT_EQ(c.request(bhttp::verb::get, "/v1/customers/c0/status").result_int(), 401u);
  EXPECT_EQ(status("/v1/customers/c0/status", "Bearer " + hq_token({"hq-analyst"}, -3600)), 401u)
      << "expired";
  EXPECT_EQ(status("/v1/customers/c0/status", "Bearer " + hq_token({"cashier"})), 403u);
  EXPECT_EQ(status("/v1/customers/c0/status", "Bearer " + token_), 401u)
      << "a store token is not a head-office token";
  EXPECT_EQ(status("/v1/customers/c0/status", ok), 200u);
  EXPECT_EQ(status("/v1/customers/nobody/status", ok), 404u);
  EXPECT_EQ(status("/v1/customers/nobody/transactions", ok), 404u);
  EXPECT_EQ(status("/v1/customers/nobody", ok), 404u);
  EXPECT_EQ(status("/v1/customers/" + std::string(65, 'x') + "/status", ok), 400u);
  EXPECT_EQ(status("/v1/customers/c0/transactions?limit=0", ok), 400u);
  EXPECT_EQ(status("/v1/customers/c0/transactions?limit=101", ok), 400u);
  EXPECT_EQ(status("/v1/customers/c0/transactions?limit=abc", ok), 400u);
  EXPECT_EQ(status("/v1/customers/c0/transactions?cursor=bm9wZQ", ok), 400u);
  EXPECT_EQ(status("/v1/customers/c0/transactions", ok), 200u);
  auto problem =
      c.request(bhttp::verb::get, "/v1/customers/nobody/status", "", {{"Authorization", ok}});
  EXPECT_EQ(problem[bhttp::field::content_type], "application/problem+json");
}

}  // namespace
}  // namespace accrue::cloud
