// The head-office API (tests/cloud/hq/hq_api_fixture.h). Offline double spend of points
// (docs/offline-exposure.md): an offline redemption her points no longer cover when it arrives is
// applied and recorded as an overdraft, with its webhook; her later earnings repay the oldest
// first, or, where the programme says so, head office writes it off with a reason; the report
// per store and day sums what offline service cost.
#include "cloud/core/audit.h"
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

class OverdraftsApiTest : public HqApiTest {
 protected:
  void SetUp() override {
    HqApiTest::SetUp();
    if (HasFatalFailure()) return;
    member_ = create(kAnna);
  }
  std::string program_json() override {
    std::string p = HqApiTest::program_json();
    if (write_off_) {
      const std::string from = R"("max_store_offline_coupons": 200)";
      auto at = p.find(from);
      EXPECT_NE(at, std::string::npos) << "the demo programme's offline limits moved";
      if (at != std::string::npos) {
        p.replace(at, from.size(),
                  from + R"(, "overdraft_settlement": "OVERDRAFT_SETTLEMENT_WRITE_OFF")");
      }
    }
    return p;
  }
  // `points` for her from store S1, available at once.
  void credit(int64_t points) {
    auto e = envelope(++seq_);
    auto* a = e.mutable_adjustment();
    a->set_customer_id(member_);
    a->set_points(points);
    a->set_reason("goodwill");
    a->set_actor("store-manager");
    ASSERT_EQ(results(post(batch_of({e}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  }
  // A redemption store S1 decided offline, worth 1 cent a point; its event id.
  std::string offline_redemption(int64_t points) {
    auto e = envelope(++seq_);
    auto* r = e.mutable_redemption();
    r->set_customer_id(member_);
    r->set_till_id("till-1");
    r->set_pos_tx_id("offline-" + std::to_string(seq_));
    r->set_points(points);
    r->set_offline(true);
    r->mutable_value()->set_currency("EUR");
    r->mutable_value()->set_minor_units(points);
    auto res = results(post(batch_of({e}), token_));
    EXPECT_EQ(res.results(0).status(), sv1::EVENT_STATUS_APPLIED) << res.results(0).message();
    last_ = e;
    return e.event_id();
  }
  std::string overdraft(const std::string& id, const std::string& column) {
    return db_.scalar("SELECT " + column + " FROM overdraft WHERE event_id = '" + id + "'");
  }
  int64_t available() {
    auto r = get("/v1/customers/" + member_, support_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.obj().at("points").at("available").to_number<int64_t>();
  }
  void audit_clean() {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    auto a = audit(*c);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->ok()) << "every balance equals its ledger";
  }

  std::string member_;
  sv1::EventEnvelope last_;  // the last offline redemption posted
  bool write_off_ = false;
  uint64_t seq_ = 0;
};

TEST_F(OverdraftsApiTest, WhatHerPointsNoLongerCoverIsRecordedListedAndReported) {
  auto hook = call(V::post, "/v1/webhooks",
                   R"({"url": "https://hooks.example.invalid/accrue",
                       "event_types": ["points.overdraft"]})",
                   admin_);
  ASSERT_EQ(hook.status, 201) << hook.body;
  credit(300);
  const std::string covered = offline_redemption(100);
  const std::string over = offline_redemption(500);  // 200 left: 300 uncovered
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM overdraft"), "1") << "the covered one is none";
  EXPECT_EQ(overdraft(over, "points || ' ' || value_minor || ' ' || currency || ' ' || store_id"),
            "300 300 EUR " + std::string(kStore));
  EXPECT_EQ(available(), -300) << "her available points show the debt";
  EXPECT_EQ(db_.scalar("SELECT payload->>'points' FROM webhook_outbox WHERE event_type = "
                       "'points.overdraft' AND event_id = '" +
                       over + "'"),
            "300");
  // The same batch again: a duplicate, no second overdraft.
  EXPECT_EQ(results(post(batch_of({last_}), token_)).results(0).status(),
            sv1::EVENT_STATUS_DUPLICATE);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM overdraft"), "1");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox WHERE event_type = "
                       "'points.overdraft'"),
            "1");

  auto list = get("/v1/overdrafts", analyst_);
  ASSERT_EQ(list.status, 200) << list.body;
  const auto& items = list.obj().at("items").as_array();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].at("event_id").as_string(), over);
  EXPECT_EQ(items[0].at("customer_id").as_string(), member_);
  EXPECT_EQ(items[0].at("outstanding"), 300);
  EXPECT_EQ(items[0].at("value").at("minor_units"), 300);
  EXPECT_EQ(get("/v1/overdrafts?status=settled", analyst_).obj().at("items").as_array().size(), 0u);
  EXPECT_EQ(get("/v1/overdrafts?customer=" + member_ + "&status=all", analyst_)
                .obj()
                .at("items")
                .as_array()
                .size(),
            1u);
  EXPECT_EQ(get("/v1/overdrafts?store=S2", analyst_).obj().at("items").as_array().size(), 0u);
  auto bad = get("/v1/overdrafts?status=maybe&cursor=nope", analyst_);
  ASSERT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("/status"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("/cursor"), std::string::npos) << bad.body;

  auto report = get("/v1/reports/offline-exposure?store=" + std::string(kStore), analyst_);
  ASSERT_EQ(report.status, 200) << report.body;
  const auto& days = report.obj().at("items").as_array();
  ASSERT_EQ(days.size(), 1u) << report.body;
  EXPECT_EQ(days[0].at("overdrafts"), 1);
  EXPECT_EQ(days[0].at("overdraft_points"), 300);
  EXPECT_EQ(days[0].at("outstanding_points"), 300);
  EXPECT_EQ(days[0].at("overdraft_value").as_array()[0].at("minor_units"), 300);
  EXPECT_EQ(days[0].at("coupon_double_uses"), 0);
  EXPECT_EQ(get("/v1/reports/offline-exposure?from=2026-02-30", analyst_).status, 422);
  EXPECT_EQ(get("/v1/reports/offline-exposure?from=2026-03-01&to=2026-02-01", analyst_).status,
            422);
  EXPECT_EQ(get("/v1/reports/offline-exposure?from=2020-01-01&to=2020-01-31", analyst_)
                .obj()
                .at("items")
                .as_array()
                .size(),
            0u);
  EXPECT_EQ(covered.empty(), false);
  HttpClient client(app_->port());
  const std::string metrics = client.request(V::get, "/metrics").body();
  EXPECT_NE(metrics.find("accrue_offline_overdrafts_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("accrue_offline_overdraft_points_total 300\n"), std::string::npos);
  EXPECT_NE(metrics.find("accrue_offline_coupon_double_uses_total 0\n"), std::string::npos);
  audit_clean();
}

TEST_F(OverdraftsApiTest, HerNextEarningsRepayTheOldestFirst) {
  const std::string first = offline_redemption(100);
  const std::string second = offline_redemption(200);
  ASSERT_EQ(available(), -300);
  credit(150);
  EXPECT_EQ(overdraft(first, "repaid"), "100");
  EXPECT_EQ(overdraft(second, "repaid"), "50");
  EXPECT_EQ(available(), -150);
  credit(400);
  EXPECT_EQ(overdraft(second, "repaid"), "200");
  EXPECT_EQ(available(), 250) << "what the debt did not take is hers";
  EXPECT_EQ(get("/v1/overdrafts", analyst_).obj().at("items").as_array().size(), 0u);
  EXPECT_EQ(get("/v1/overdrafts?status=settled", analyst_).obj().at("items").as_array().size(), 2u);
  auto settled = call(V::post, "/v1/overdrafts/" + first + "/write-off",
                      R"({"reason": "too late"})", support_);
  ASSERT_EQ(settled.status, 409) << settled.body;
  EXPECT_EQ(problem_type(settled), "/problems/overdraft-settled");
  audit_clean();
}

class OverdraftsWriteOffTest : public OverdraftsApiTest {
 protected:
  void SetUp() override {
    write_off_ = true;
    OverdraftsApiTest::SetUp();
  }
};

TEST_F(OverdraftsWriteOffTest, TheChainCarriesItUntilHeadOfficeWritesItOffWithAReason) {
  const std::string id = offline_redemption(120);
  credit(500);
  EXPECT_EQ(overdraft(id, "repaid"), "0") << "earnings do not pay it under this programme";
  EXPECT_EQ(available(), 380);

  const std::string target = "/v1/overdrafts/" + id + "/write-off";
  EXPECT_EQ(call(V::post, target, R"({"reason": "goodwill"})", analyst_).status, 403);
  auto no_reason = call(V::post, target, R"({})", support_);
  ASSERT_EQ(no_reason.status, 422) << no_reason.body;
  EXPECT_EQ(overdraft(id, "written_off"), "0") << "a refused write-off changes nothing";
  EXPECT_EQ(call(V::post, "/v1/overdrafts/01a21f73-9c00-7000-8000-0000000000ff/write-off",
                 R"({"reason": "goodwill"})", support_)
                .status,
            404);
  EXPECT_EQ(
      call(V::post, "/v1/overdrafts/not-an-id/write-off", R"({"reason": "goodwill"})", support_)
          .status,
      404);

  auto done =
      call(V::post, target, R"({"reason": "two stores offline; the chain's cost"})", support_);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.obj().at("written_off"), 120);
  EXPECT_EQ(done.obj().at("outstanding"), 0);
  EXPECT_EQ(done.obj().at("written_off_by"), "support-sam");
  EXPECT_EQ(available(), 500) << "the debt is gone; her points are untouched";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM points_lot WHERE customer_id = '" + member_ +
                       "' AND remaining > 0"),
            "1")
      << "the write-off opens no lot of its own";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'overdrafts.write_off'"),
            "1");
  auto again = call(V::post, target, R"({"reason": "twice"})", support_);
  ASSERT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(problem_type(again), "/problems/overdraft-settled");
  EXPECT_EQ(available(), 500);
  audit_clean();
}

}  // namespace
}  // namespace accrue::cloud
