// The head-office API (tests/cloud/hq/hq_api_fixture.h). Segments: counts, pages and streamed
// members, and the search filtered by one.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, SegmentsCountPageAndStreamTheirMembersAndFilterTheSearch) {
  // Five members at S2, two of them with sales in the last days; Anna at S1.
  std::vector<std::string> s2;
  for (int i = 0; i < 5; ++i) {
    s2.push_back(create(R"({"display_name": "Member )" + std::to_string(i) +
                        R"(", "home_store_id": "S2"})"));
  }
  create(kAnna);
  sv1::EventBatch batch;
  batch.set_store_id(kStore);
  batch.set_agent_id(kAgent);
  *batch.add_events() = accrual(1, s2[1], 12000, "seg-1");
  *batch.add_events() = accrual(2, s2[1], 3000, "seg-2");
  *batch.add_events() = accrual(3, s2[3], 2000, "seg-3");
  ASSERT_EQ(post(batch, token_).result_int(), 200);

  auto bad = call(V::post, "/v1/segments",
                  R"({"segment_id": "Bad Id", "name": "x",
                      "definition": {"points": {"min": 10, "max": 1}, "colour": "red",
                                     "activity": {"purchases": {"min": 1}}}})",
                  admin_);
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(bad.obj().at("errors").as_array().size(), 4u) << bad.body;

  auto s = call(V::post, "/v1/segments",
                R"({"segment_id": "s2-buyers", "name": "S2 members who bought this month",
                    "definition": {"home_stores": ["S2"],
                                   "activity": {"days": 30, "currency": "EUR",
                                                "purchases": {"min": 1}}}})",
                admin_);
  ASSERT_EQ(s.status, 201) << s.body;
  EXPECT_EQ(call(V::post, "/v1/segments",
                 R"({"segment_id": "s2-buyers", "name": "x", "definition": {}})", admin_)
                .status,
            409);
  EXPECT_EQ(get("/v1/segments/s2-buyers/count", analyst_).obj().at("count"), 2);
  auto members = get("/v1/segments/s2-buyers/members?limit=1", analyst_);
  ASSERT_EQ(members.status, 200) << members.body;
  EXPECT_EQ(members.obj().at("items").as_array().size(), 1u);
  EXPECT_FALSE(members.obj().at("next_cursor").is_null());
  // Big spenders among them: spend of at least 100 EUR in the period.
  auto put = call(V::put, "/v1/segments/s2-buyers",
                  R"({"name": "S2 big spenders", "definition": {"home_stores": ["S2"],
                      "activity": {"days": 30, "spend_minor": {"min": 10000}}}})",
                  admin_, {{"If-Match", "\"1\""}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(get("/v1/segments/s2-buyers/count", analyst_).obj().at("count"), 1);
  auto found = get("/v1/customers?segment=s2-buyers", support_);
  ASSERT_EQ(found.obj().at("items").as_array().size(), 1u);
  EXPECT_EQ(std::string(found.obj().at("items").as_array()[0].at("customer_id").as_string()),
            s2[1]);
  EXPECT_EQ(get("/v1/customers?segment=nothing-here", support_).status, 422);

  // The CSV export, streamed in chunks.
  ASSERT_EQ(call(V::post, "/v1/segments",
                 R"({"segment_id": "all-s2", "name": "All of S2",
                     "definition": {"home_stores": ["S2"]}})",
                 admin_)
                .status,
            201);
  auto csv = get("/v1/segments/all-s2/export.csv", analyst_);
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.header(bhttp::field::transfer_encoding), "chunked");
  EXPECT_EQ(csv.body.substr(0, csv.body.find('\n')),
            "customer_id,status,tier_id,home_store_id,points,enrolled_at,last_purchase_at");
  EXPECT_EQ(std::ranges::count(csv.body, '\n'), 6) << csv.body;
  EXPECT_EQ(csv.body.find("Member"), std::string::npos) << "no personal data in the export";
  EXPECT_EQ(call(V::delete_, "/v1/segments/all-s2", "", admin_).status, 204);
  EXPECT_EQ(get("/v1/segments/all-s2", analyst_).status, 404);
  EXPECT_EQ(get("/v1/segments/all-s2/export.csv", analyst_).status, 404);
}

}  // namespace
}  // namespace accrue::cloud
