// The head-office API (tests/cloud/hq/hq_api_fixture.h). Points: the expiry run, bulk adjustments
// as a job, transfers, the enrolment bonus.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, TheExpiryRunTakesExpiredLotsOutOnceAndTheBooksStillAddUp) {
  const std::string id = create(kAnna);
  ASSERT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": 300, "reason": "welcome"})", support_)
                .status,
            201);
  ASSERT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": 50, "reason": "later"})", support_)
                .status,
            201);
  ASSERT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("points").at("available"),
            350);  // cached now
  // The first lot's expiry passes.
  ASSERT_TRUE(db_.connect()->exec(("UPDATE points_lot SET expires_at = now() - interval '1 day' "
                                   "WHERE customer_id = '" +
                                   id + "' AND points = 300")
                                      .c_str()));
  auto run = call(V::post, "/v1/points/expiry-runs", R"({"max_seconds": 10})", admin_);
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(run.obj().at("points"), 300);
  EXPECT_EQ(run.obj().at("lots"), 1);
  EXPECT_EQ(run.obj().at("complete"), true);
  auto st = get("/v1/customers/" + id, analyst_);
  EXPECT_EQ(st.obj().at("points").at("available"), 50) << "the cached status was invalidated";
  EXPECT_EQ(st.obj().at("lifetime").at("expired"), 300);
  EXPECT_EQ(get("/v1/customers/" + id + "/transactions", analyst_)
                .obj()
                .at("items")
                .as_array()[0]
                .at("kind"),
            "expiry");
  auto again = call(V::post, "/v1/points/expiry-runs", "", admin_);
  EXPECT_EQ(again.obj().at("points"), 0) << "a lot expires once";
  EXPECT_EQ(call(V::post, "/v1/points/expiry-runs", "", support_).status, 403);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  auto report = cloud::audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

TEST_F(HqApiTest, BulkAdjustmentsRunAsAJobOncePerMemberAndRejectWhatTheyCannotDo) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(create(R"({"home_store_id": "S2"})"));
  auto wait_done = [&](const std::string& job) {
    json::object last;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      auto r = get("/v1/jobs/" + job, support_);
      last = r.obj();
      if (last.at("state") == "done") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last;
  };
  auto j = call(V::post, "/v1/points/bulk-adjustments",
                R"({"customer_ids": [")" + ids[0] + R"(", ")" + ids[1] + R"(", ")" + ids[0] +
                    R"(", "nobody"], "points": 200, "reason": "store reopening"})",
                support_);
  ASSERT_EQ(j.status, 202) << j.body;
  EXPECT_EQ(j.obj().at("total"), 3) << "each member once";
  auto done = wait_done(std::string(j.obj().at("job_id").as_string()));
  ASSERT_EQ(done.at("state"), "done") << json::serialize(done);
  EXPECT_EQ(done.at("applied"), 2);
  EXPECT_EQ(done.at("rejected"), 1);
  EXPECT_EQ(done.at("rejected_sample").as_array()[0].at("customer_id"), "nobody");
  EXPECT_EQ(get("/v1/customers/" + ids[0] + "/status", analyst_).obj().at("points").at("available"),
            200);
  // A segment's members, and a deduction only some can afford.
  ASSERT_EQ(
      call(V::post, "/v1/segments",
           R"({"segment_id": "s2", "name": "S2", "definition": {"home_stores": ["S2"]}})", admin_)
          .status,
      201);
  auto d = call(V::post, "/v1/points/bulk-adjustments",
                R"({"segment_id": "s2", "points": -150, "reason": "correction"})", admin_);
  ASSERT_EQ(d.status, 202) << d.body;
  EXPECT_EQ(d.obj().at("total"), 3);
  auto dd = wait_done(std::string(d.obj().at("job_id").as_string()));
  EXPECT_EQ(dd.at("applied"), 2);
  EXPECT_EQ(dd.at("rejected"), 1) << "the member without points";
  EXPECT_NE(std::string(dd.at("rejected_sample").as_array()[0].at("reason").as_string())
                .find("insufficient_points"),
            std::string::npos);
  EXPECT_EQ(get("/v1/customers/" + ids[1] + "/status", analyst_).obj().at("points").at("available"),
            50);
  EXPECT_EQ(
      call(V::post, "/v1/points/bulk-adjustments",
           R"({"points": 5, "reason": "x", "segment_id": "s2", "customer_ids": ["a"]})", admin_)
          .status,
      422);
  EXPECT_EQ(call(V::post, "/v1/points/bulk-adjustments", R"({"points": 5, "reason": "x"})", admin_)
                .status,
            422);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  auto report = cloud::audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

TEST_F(HqApiTest, ATransferMovesPointsBothWaysOrNotAtAllAndOnlyWhenTheProgrammeAllowsIt) {
  std::string a = create(kAnna);
  std::string b = create("{}");
  EXPECT_EQ(problem_type(call(V::post, "/v1/customers/" + a + "/transfers",
                              R"({"to_customer_id": ")" + b + R"(", "points": 10, "reason": "x"})",
                              support_)),
            "/problems/transfers-not-allowed");
  // Version 4 allows transfers of up to 500 points.
  auto v4 = json::parse(program_json_).as_object();
  v4["version"] = 4;
  v4["transfers"] = json::object{{"allowed", true}, {"max_points", 500}};
  {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    auto p = ProgramCatalog::publish(*c, json::serialize(v4));
    ASSERT_TRUE(p) << p.error().message;
  }
  restart_app();  // a fresh catalogue (a replica re-reads the programme every 10 s)
  ASSERT_EQ(call(V::post, "/v1/customers/" + a + "/adjustments",
                 R"({"points": 300, "reason": "x"})", support_)
                .status,
            201);
  auto t = call(V::post, "/v1/customers/" + a + "/transfers",
                R"({"to_customer_id": ")" + b + R"(", "points": 200, "reason": "gift"})", support_);
  ASSERT_EQ(t.status, 201) << t.body;
  auto available = [&](const std::string& id) {
    return get("/v1/customers/" + id + "/status", analyst_).obj().at("points").at("available");
  };
  EXPECT_EQ(available(a), 100);
  EXPECT_EQ(available(b), 200);
  auto too_much =
      call(V::post, "/v1/customers/" + a + "/transfers",
           R"({"to_customer_id": ")" + b + R"(", "points": 150, "reason": "gift"})", support_);
  EXPECT_EQ(too_much.status, 422);
  EXPECT_EQ(problem_type(too_much), "/problems/insufficient-points");
  EXPECT_EQ(available(b), 200) << "neither half applied";
  EXPECT_EQ(call(V::post, "/v1/customers/" + a + "/transfers",
                 R"({"to_customer_id": ")" + b + R"(", "points": 600, "reason": "gift"})", support_)
                .status,
            422)
      << "above the programme's maximum";
  EXPECT_EQ(call(V::post, "/v1/customers/" + a + "/transfers",
                 R"({"to_customer_id": "nobody", "points": 50, "reason": "gift"})", support_)
                .status,
            404);
  EXPECT_EQ(available(a), 100);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  auto report = cloud::audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

// A member head office creates gets the programme's enrolment bonus, booked as a store's
// enrolment books it, in the transaction that creates her.
class HqEnrolmentBonusTest : public HqApiTest {
 protected:
  void SetUp() override {
    enrolment_bonus_ = true;
    HqApiTest::SetUp();
  }
};

TEST_F(HqEnrolmentBonusTest, AMemberCreatedThroughTheApiGetsTheBonusWithHerOrNotAtAll) {
  const std::string id = create(kAnna);
  ASSERT_FALSE(id.empty());
  auto st = get("/v1/customers/" + id + "/status", analyst_);
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.obj().at("points").at("available"), 100) << "the demo programme's bonus";
  EXPECT_EQ(db_.scalar("SELECT kind || '/' || points || '/' || reason || '/' || actor FROM ledger "
                       "WHERE customer_id = '" +
                       id + "'"),
            "4/100/enrolment bonus/admin-ann")
      << "one ledger row of the enrolment-bonus kind, with who created her";
  EXPECT_EQ(db_.scalar("SELECT sum(qualifying_points) FROM customer_day WHERE customer_id = '" +
                       id + "'"),
            "100")
      << "counted towards the tier, as at a store";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM points_lot WHERE customer_id = '" + id +
                       "' AND points = 100"),
            "1");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM balance b WHERE b.points <> (SELECT "
                       "coalesce(sum(points), 0) FROM ledger l WHERE l.customer_id = "
                       "b.customer_id)"),
            "0")
      << "balance == sum(ledger)";
  auto tx = get("/v1/customers/" + id + "/transactions", support_);
  ASSERT_EQ(tx.status, 200) << tx.body;
  EXPECT_EQ(tx.obj().at("items").as_array().size(), 1u) << tx.body;

  // A create that is refused leaves neither a member nor points behind.
  const std::string before = db_.scalar("SELECT count(*) || '/' || sum(points) FROM ledger");
  auto taken =
      call(V::post, "/v1/customers",
           R"({"identifiers": [{"kind": "card", "value": "6006 1234 5678 9012"}]})", admin_);
  EXPECT_EQ(taken.status, 409) << taken.body;
  auto bad_store = call(V::post, "/v1/customers", R"({"home_store_id": "NOPE"})", admin_);
  EXPECT_EQ(bad_store.status, 422) << bad_store.body;
  EXPECT_EQ(db_.scalar("SELECT count(*) || '/' || sum(points) FROM ledger"), before);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM customer"), "1");

  // A store cannot claim one: the bonus is head office's to give.
  auto e = envelope(1);
  auto* a = e.mutable_adjustment();
  a->set_customer_id(id);
  a->set_reason("enrolment bonus");
  a->set_enrolment_bonus(true);
  auto r = results(post(batch_of({e}), token_));
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).status(), sync::v1::EVENT_STATUS_REJECTED);
  EXPECT_EQ(r.results(0).reject_code(), "bad_adjustment");
}

}  // namespace
}  // namespace accrue::cloud
