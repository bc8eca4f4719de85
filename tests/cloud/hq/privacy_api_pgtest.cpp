// The head-office API (tests/cloud/hq/hq_api_fixture.h). The member's rights: export (whole, and
// streamed in chunks), erasure that keeps the books, merge.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, AnExportHoldsEverythingAndErasureRemovesThePersonDataButKeepsTheBooks) {
  const std::string id = create(kAnna);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": 300, "reason": "welcome"})", support_)
                .status,
            201);
  auto x = get("/v1/customers/" + id + "/export", support_);
  ASSERT_EQ(x.status, 200) << x.body;
  EXPECT_NE(x.header(bhttp::field::content_disposition).find("customer-" + id + ".json"),
            std::string::npos);
  EXPECT_EQ(x.obj().at("customer").at("display_name"), "Anna Schmidt");
  EXPECT_EQ(x.obj().at("balance").at("points"), 300);
  ASSERT_EQ(x.obj().at("ledger").as_array().size(), 1u);
  EXPECT_EQ(x.obj().at("ledger").as_array()[0].at("reason"), "welcome");
  EXPECT_EQ(x.obj().at("processing").as_array().size(), 2u) << "create, adjust";
  EXPECT_EQ(get("/v1/customers/" + id + "/export", analyst_).status, 403);

  ASSERT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("status"), "active");
  auto e = call(V::post, "/v1/customers/" + id + "/erase", R"({"reason": "member's request"})",
                support_);
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.obj().at("already_erased"), false);
  EXPECT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("status"), "erased")
      << "the cached status was invalidated";
  auto d = get("/v1/customers/" + id + "/details", support_);
  EXPECT_EQ(d.obj().at("display_name"), "");
  EXPECT_TRUE(d.obj().at("email").is_null());
  EXPECT_TRUE(d.obj().at("identifiers").as_array().empty());
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM customer_pii WHERE customer_id = '" + id + "'"), "0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM identifier WHERE customer_id = '" + id + "'"), "0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE customer_id = '" + id + "'"), "1")
      << "the books stay, under the customer id";
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = '" + id + "'"), "300");
  EXPECT_TRUE(get("/v1/customers?q=schmidt", support_).obj().at("items").as_array().empty());
  EXPECT_TRUE(
      get("/v1/customers?q=6006123456789012", support_).obj().at("items").as_array().empty());
  EXPECT_EQ(get("/v1/customers?status=erased", support_).obj().at("items").as_array().size(), 1u);
  auto again = call(V::post, "/v1/customers/" + id + "/erase", R"({"reason": "again"})", support_);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.obj().at("already_erased"), true);
  auto patch =
      call(V::patch, "/v1/customers/" + id + "/details", R"({"display_name": "Anna"})", support_);
  EXPECT_EQ(patch.status, 409);
  EXPECT_EQ(problem_type(patch), "/problems/customer-erased");
  // The card is free again: a new member may have it.
  EXPECT_EQ(call(V::post, "/v1/customers",
                 R"({"identifiers": [{"kind": "card", "value": "6006123456789012"}]})", admin_)
                .status,
            201);
}

TEST_F(HqApiTest, AStreamedExportOfManyMembersArrivesWholeInChunks) {
  add_customers(12'000);  // three keyset batches and a bit
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec("UPDATE customer SET home_store_id = 'S1' WHERE customer_id LIKE 'c%'"));
  ASSERT_EQ(
      call(V::post, "/v1/segments",
           R"({"segment_id": "s1", "name": "S1", "definition": {"home_stores": ["S1"]}})", admin_)
          .status,
      201);
  auto csv = get("/v1/segments/s1/export.csv", admin_);
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(std::ranges::count(csv.body, '\n'), 12'001);
  // Every id once, in order.
  std::vector<std::string> ids;
  size_t pos = csv.body.find('\n') + 1;
  while (pos < csv.body.size()) {
    auto end = csv.body.find('\n', pos);
    ids.push_back(csv.body.substr(pos, csv.body.find(',', pos) - pos));
    pos = end + 1;
  }
  EXPECT_EQ(ids.size(), 12'000u);
  EXPECT_TRUE(std::ranges::is_sorted(ids));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 12'000u);
  // One keep-alive connection: the streamed answer ends cleanly and the next request works.
  HttpClient client(app_->port());
  auto first = client.request(V::get, "/v1/segments/s1/export.csv", "",
                              {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(first.body(), csv.body);
  auto next =
      client.request(V::get, "/v1/segments/s1/count", "", {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(next.result_int(), 200);
  EXPECT_NE(next.body().find("12000"), std::string::npos);
}

TEST_F(HqApiTest, AMergeMovesIdentifiersPointsAndLaterSalesToTheSurvivor) {
  const std::string a = create(kAnna);
  const std::string b = create(
      R"({"display_name": "A. Schmidt", "identifiers": [{"kind": "card", "value": "6006 0000 0000 0077"}]})");
  ASSERT_EQ(call(V::post, "/v1/customers/" + a + "/adjustments",
                 R"({"points": 300, "reason": "x"})", support_)
                .status,
            201);
  ASSERT_EQ(call(V::post, "/v1/customers/" + b + "/adjustments",
                 R"({"points": 100, "reason": "y"})", support_)
                .status,
            201);
  EXPECT_EQ(call(V::post, "/v1/customers/" + a + "/merge",
                 R"({"merged_customer_id": ")" + a + R"(", "reason": "x"})", support_)
                .status,
            422);
  auto m = call(V::post, "/v1/customers/" + a + "/merge",
                R"({"merged_customer_id": ")" + b + R"(", "reason": "one person, two cards"})",
                support_);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.obj().at("points_moved"), 100);
  EXPECT_EQ(m.obj().at("identifiers_moved"), 1);
  EXPECT_EQ(get("/v1/customers/" + a + "/status", analyst_).obj().at("points").at("available"),
            400);
  EXPECT_EQ(get("/v1/customers/" + b + "/status", analyst_).obj().at("status"), "merged");
  EXPECT_EQ(
      get("/v1/customers/" + a + "/details", support_).obj().at("identifiers").as_array().size(),
      3u);
  auto found = get("/v1/customers?q=6006000000000077", support_);
  ASSERT_EQ(found.obj().at("items").as_array().size(), 1u);
  EXPECT_EQ(found.obj().at("items").as_array()[0].at("customer_id"), json::value(a));
  // A store that was offline uploads a sale for the merged member: the survivor earns it.
  sv1::EventBatch batch;
  batch.set_store_id(kStore);
  batch.set_agent_id(kAgent);
  *batch.add_events() = accrual(1, b, 4000, "after-merge");
  ASSERT_EQ(results(post(batch, token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(db_.scalar("SELECT customer_id FROM ledger WHERE kind = 1"), a);
  EXPECT_EQ(call(V::post, "/v1/customers/" + a + "/merge",
                 R"({"merged_customer_id": ")" + b + R"(", "reason": "again"})", support_)
                .status,
            409);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  auto report = cloud::audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << "both balances still equal their ledgers";
}

}  // namespace
}  // namespace accrue::cloud
