// The head-office API (tests/cloud/hq/hq_api_fixture.h). Stores and their agents' sync health,
// until revoked.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, StoresAreRegisteredAndAgentsReportTheirSyncHealthUntilRevoked) {
  auto s = call(V::post, "/v1/stores",
                R"({"store_id": "S3", "name": "München", "country": "DE",
                    "time_zone": "Europe/Berlin"})",
                admin_);
  ASSERT_EQ(s.status, 201) << s.body;
  EXPECT_EQ(call(V::post, "/v1/stores",
                 R"({"store_id": "S3", "name": "x", "country": "DE", "time_zone": "UTC"})", admin_)
                .status,
            409);
  auto bad = call(V::post, "/v1/stores",
                  R"({"store_id": "S 4", "name": "x", "country": "de", "time_zone": "Mars/Base"})",
                  admin_);
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(bad.obj().at("errors").as_array().size(), 3u) << bad.body;
  EXPECT_EQ(call(V::post, "/v1/stores", R"({"store_id": "S5"})", support_).status, 403);

  // The agent uploads (the cloud learns of it) and polls its feed with its health.
  add_customers(1);
  sv1::EventBatch batch;
  batch.set_store_id(kStore);
  batch.set_agent_id(kAgent);
  *batch.add_events() = accrual(1, "c0", 2000, "h-1");
  ASSERT_EQ(post(batch, token_).result_int(), 200);
  HttpClient store(app_->port());
  auto poll = [&] {
    return store.request(V::get,
                         "/v1/sync/changes?agent=S1-agent&outbox=5&quarantined=1&oldest_ms=" +
                             std::to_string(clock_.now_ms() - 60'000) +
                             "&program=fashion-rewards%3A3",
                         "", {{"Authorization", "Bearer " + token_}});
  };
  // A clock far beyond what PostgreSQL holds: the report's time is dropped, the poll goes on.
  ASSERT_EQ(store
                .request(V::get, "/v1/sync/changes?agent=S1-agent&oldest_ms=999999999999999999", "",
                         {{"Authorization", "Bearer " + token_}})
                .result_int(),
            200);
  ASSERT_EQ(poll().result_int(), 200);
  auto agents = get("/v1/agents?store=S1", analyst_);
  ASSERT_EQ(agents.status, 200) << agents.body;
  ASSERT_EQ(agents.obj().at("items").as_array().size(), 1u);
  const auto& a = agents.obj().at("items").as_array()[0].as_object();
  EXPECT_EQ(a.at("agent_id"), "S1-agent");
  EXPECT_EQ(a.at("last_seq"), 1);
  EXPECT_EQ(a.at("outbox_depth"), 5);
  EXPECT_EQ(a.at("quarantined"), 1);
  EXPECT_EQ(a.at("program"), "fashion-rewards:3");
  EXPECT_FALSE(a.at("oldest_pending_at").is_null());
  EXPECT_EQ(get("/v1/agents?quarantined=true", analyst_).obj().at("items").as_array().size(), 1u);
  EXPECT_EQ(get("/v1/agents?silent_for_s=3600", analyst_).obj().at("items").as_array().size(), 0u)
      << "heard from just now";
  auto st = get("/v1/stores/S1", analyst_);
  ASSERT_EQ(st.status, 200);
  EXPECT_EQ(st.obj().at("agents").as_array().size(), 1u);
  auto list = get("/v1/stores?limit=100", analyst_);
  std::vector<std::string> ids;
  for (const auto& x : list.obj().at("items").as_array())
    ids.emplace_back(x.at("store_id").as_string());
  EXPECT_EQ(ids, (std::vector<std::string>{"S1", "S2", "S3"}))
      << "the head-office source is not a store";
  EXPECT_EQ(get("/v1/stores/S9", analyst_).status, 404);

  // Revoked: its uploads and polls are refused.
  auto r = call(V::post, "/v1/agents/S1-agent/revoke", R"({"reason": "till PC replaced"})", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.obj().at("revoked_at").is_null());
  EXPECT_EQ(poll().result_int(), 403);
  sv1::EventBatch later;
  later.set_store_id(kStore);
  later.set_agent_id(kAgent);
  *later.add_events() = accrual(2, "c0", 2000, "h-2");
  EXPECT_EQ(post(later, token_).result_int(), 403);
  EXPECT_EQ(call(V::post, "/v1/agents/nobody/revoke", R"({"reason": "x"})", admin_).status, 404);
}

TEST_F(HqApiTest, AStoresZoneAndCountryAreChangedInTheRegistryAndReachItsFeed) {
  auto s =
      call(V::post, "/v1/stores", R"({"store_id": "S7", "name": "NYC", "country": "US"})", admin_);
  ASSERT_EQ(s.status, 201) << s.body;
  EXPECT_EQ(s.obj().at("time_zone"), "") << "no zone given: the programme's";

  EXPECT_EQ(
      call(V::patch, "/v1/stores/S7", R"({"time_zone": "America/New_York"})", analyst_).status,
      403);
  EXPECT_EQ(call(V::patch, "/v1/stores/nope", R"({"name": "x"})", admin_).status, 404);
  auto bad =
      call(V::patch, "/v1/stores/S7", R"({"time_zone": "Mars/Base", "country": "us"})", admin_);
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(bad.obj().at("errors").as_array().size(), 2u) << bad.body;
  EXPECT_EQ(call(V::patch, "/v1/stores/S7", "{}", admin_).status, 422) << "nothing to change";

  auto r = call(V::patch, "/v1/stores/S7", R"({"time_zone": "America/New_York"})", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.obj().at("time_zone"), "America/New_York");
  EXPECT_EQ(r.obj().at("country"), "US") << "what was not sent stays";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'store.update' AND "
                       "subject = 'store:S7'"),
            "1");

  // The store's agent reads both from every page of its feed.
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->exec("UPDATE store SET country = 'PL', time_zone = 'Europe/Warsaw' WHERE "
              "store_id = 'S1'"));
  HttpClient store(app_->port());
  auto page =
      store.request(V::get, "/v1/sync/changes", "", {{"Authorization", "Bearer " + token_}});
  sv1::ChangesPage p;
  ASSERT_TRUE(p.ParseFromString(page.body()));
  EXPECT_EQ(p.store().country(), "PL");
  EXPECT_EQ(p.store().time_zone(), "Europe/Warsaw");
}

}  // namespace
}  // namespace accrue::cloud
