// The head-office API (tests/cloud/hq/hq_api_fixture.h). The customer search answered from an
// Elasticsearch index (an in-memory emulator of its endpoints), following changes and saying when
// it is down.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

// The same search route with the Elasticsearch backend: the service projects the change feed
// into the index (FakeElastic speaks its REST format) and the route answers from the index.
class HqElasticSearchTest : public HqApiTest {
 protected:
  void SetUp() override {
    more_settings_ = {"search.backend=elasticsearch", "search.url=" + es_.url(),
                      "search.poll_ms=20", "search.timeout_ms=2000"};
    HqApiTest::SetUp();
  }
  std::vector<std::string> ids_of(const std::string& target, const std::string& token) {
    std::vector<std::string> out;
    auto r = get(target, token);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return out;
    for (const auto& x : r.obj().at("items").as_array()) {
      out.emplace_back(x.at("customer_id").as_string());
    }
    return out;
  }
  // Polls the search until it answers `want` (the projection runs in the background).
  bool eventually(const std::string& target, const std::vector<std::string>& want) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      if (ids_of(target, support_) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  search::testing::FakeElastic es_;
};

TEST_F(HqElasticSearchTest, TheSearchAnswersFromTheIndexFollowsChangesAndSaysWhenItIsDown) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string anna = create(kAnna);
  ASSERT_FALSE(anna.empty());
  ASSERT_TRUE(eventually("/v1/customers?q=schmidt", {anna}));
  const auto lag =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("created -> searchable through the index: %lld ms\n",
              static_cast<long long>(lag.count()));
  EXPECT_GT(es_.requests("POST /accrue-customers/_search"), 0) << "answered by the index";
  EXPECT_EQ(ids_of("/v1/customers?q=6006%201234%205678%209012", support_),
            std::vector<std::string>{anna})
      << "the card's keyed hash is in the document, never the number";
  auto doc = es_.doc("accrue-customers", anna);
  ASSERT_TRUE(doc);
  EXPECT_EQ(json::serialize(doc->source).find("6006"), std::string::npos)
      << "only the masked form (last four) and the hash: " << json::serialize(doc->source);
  // Analysts see no personal fields, as with PostgreSQL.
  auto r = get("/v1/customers?q=schmidt", analyst_);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.obj().at("items").as_array().size(), 1u);
  EXPECT_FALSE(r.obj().at("items").as_array()[0].as_object().contains("display_name"));

  // A change through the API reaches the index.
  auto p = call(V::patch, "/v1/customers/" + anna + "/details", R"({"display_name": "Anna Meyer"})",
                support_, {{"If-Match", "\"1\""}});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_TRUE(eventually("/v1/customers?q=meyer", {anna}));
  EXPECT_TRUE(ids_of("/v1/customers?q=schmidt", support_).empty());
  ASSERT_EQ(call(V::post, "/v1/customers/" + anna + "/adjustments",
                 R"({"points": 250, "reason": "welcome"})", support_)
                .status,
            201);
  EXPECT_TRUE(eventually("/v1/customers?balance_min=200", {anna}));
  // Erasure takes the person out of the index too.
  ASSERT_EQ(call(V::post, "/v1/customers/" + anna + "/erase", R"({"reason": "request"})", support_)
                .status,
            200);
  EXPECT_TRUE(eventually("/v1/customers?q=meyer", {}));
  EXPECT_TRUE(eventually("/v1/customers?status=erased", {anna}));
  doc = es_.doc("accrue-customers", anna);
  ASSERT_TRUE(doc);
  EXPECT_FALSE(doc->source.contains("display_name") &&
               !doc->source.at("display_name").as_string().empty());

  // The cluster down: a clear 503 the console can show, never a fallback onto PostgreSQL.
  es_.fail_with(503);
  auto down = get("/v1/customers?q=anna", support_);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(problem_type(down), "/problems/search-unavailable");
  EXPECT_EQ(down.header(bhttp::field::retry_after), "5");
  EXPECT_EQ(get("/v1/customers/" + anna + "/status", analyst_).status, 200)
      << "reads by id do not need the index";
  es_.fail_with(0);

  HttpClient client(app_->port());
  auto m = client.request(bhttp::verb::get, "/metrics");
  EXPECT_NE(m.body().find("accrue_search_projection_lag_seconds "), std::string::npos);
  EXPECT_NE(m.body().find("accrue_search_documents_total{result=\"indexed\"}"), std::string::npos)
      << m.body();
}

}  // namespace
}  // namespace accrue::cloud
