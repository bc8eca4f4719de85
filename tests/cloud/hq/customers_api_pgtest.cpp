// The head-office API (tests/cloud/hq/hq_api_fixture.h). Customers: create, details, strict PATCH
// with If-Match, identifiers taken, search with its filters and paging, block, tier floor,
// adjustments and their audit, idempotency keys.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, ACustomerIsCreatedReadAndPatchedWithIfMatchAndNothingElseCanBeSet) {
  auto r = call(V::post, "/v1/customers", kAnna, support_);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id(r.obj().at("customer_id").as_string());
  EXPECT_EQ(r.header(bhttp::field::location), "/v1/customers/" + id);
  EXPECT_EQ(r.header(bhttp::field::etag), "\"1\"");
  EXPECT_EQ(r.obj().at("email"), "anna.schmidt@example.org") << "normalised";
  EXPECT_EQ(r.obj().at("phone"), "+4915123456789");
  EXPECT_EQ(r.obj().at("tier_id"), "bronze") << "the lowest tier";
  EXPECT_EQ(r.obj().at("identifiers").as_array()[0].at("masked"), "\u2022\u2022\u2022\u2022 9012");
  // The card is kept as a keyed hash only.
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM identifier WHERE customer_id = '" + id +
                       "' AND position('9012' in encode(hash, 'escape')) = 0"),
            "2");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed WHERE customer_id = '" + id + "'"), "1")
      << "the home store's replica learns of the new member";

  auto d = get("/v1/customers/" + id + "/details", support_);
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.obj().at("display_name"), "Anna Schmidt");
  EXPECT_EQ(d.header(bhttp::field::etag), "\"1\"");

  auto p =
      call(V::patch, "/v1/customers/" + id + "/details",
           R"({"display_name": "Anna Meyer", "phone": null})", support_, {{"If-Match", "\"1\""}});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.obj().at("display_name"), "Anna Meyer");
  EXPECT_TRUE(p.obj().at("phone").is_null()) << "null clears";
  EXPECT_EQ(p.header(bhttp::field::etag), "\"2\"");
  // The same If-Match again: someone changed it since.
  auto stale = call(V::patch, "/v1/customers/" + id + "/details", R"({"display_name": "X"})",
                    support_, {{"If-Match", "\"1\""}});
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(problem_type(stale), "/problems/stale-revision");
  // Points, tier and status are not profile fields: refused by name, nothing changes.
  auto sneaky = call(V::patch, "/v1/customers/" + id + "/details",
                     R"({"display_name": "Y", "points": 100000, "tier_id": "gold"})", support_);
  ASSERT_EQ(sneaky.status, 422);
  EXPECT_EQ(problem_type(sneaky), "/problems/validation");
  std::set<std::string> fields;
  for (const auto& e : sneaky.obj().at("errors").as_array()) {
    fields.emplace(e.at("field").as_string());
  }
  EXPECT_EQ(fields, (std::set<std::string>{"/points", "/tier_id"}));
  EXPECT_EQ(get("/v1/customers/" + id + "/details", support_).obj().at("display_name"),
            "Anna Meyer");
  // Bad bodies.
  EXPECT_EQ(
      call(V::patch, "/v1/customers/" + id + "/details", "{\"display_name\": ", support_).status,
      400);
  EXPECT_EQ(call(V::patch, "/v1/customers/" + id + "/details", "display_name=x", support_,
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
                .status,
            415);
  auto bad = call(V::patch, "/v1/customers/" + id + "/details",
                  R"({"email": "not-an-email", "birthday": {"month": 4, "day": 31},
                      "country": "de", "consents": {"terms": "yes"}})",
                  support_);
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(bad.obj().at("errors").as_array().size(), 4u) << bad.body;
  EXPECT_EQ(get("/v1/customers/nobody/details", support_).status, 404);
}

TEST_F(HqApiTest, AnIdentifierAnotherMemberHasIsAConflictAndCreatesNothing) {
  const std::string first = create(kAnna);
  ASSERT_FALSE(first.empty());
  const std::string before = db_.scalar("SELECT count(*) FROM customer");
  auto r = call(V::post, "/v1/customers",
                R"({"display_name": "Other", "identifiers": [{"kind": "card",
                    "value": "6006-1234-5678-9012"}]})",
                admin_);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(problem_type(r), "/problems/identifier-taken");
  EXPECT_EQ(r.obj().at("field"), "/identifiers/0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM customer"), before);
  auto bad =
      call(V::post, "/v1/customers",
           R"({"identifiers": [{"kind": "iris", "value": "x"}], "home_store_id": "S9"})", admin_);
  EXPECT_EQ(bad.status, 422);
  auto nostore = call(V::post, "/v1/customers", R"({"home_store_id": "S9"})", admin_);
  ASSERT_EQ(nostore.status, 422);
  EXPECT_EQ(nostore.obj().at("errors").as_array()[0].at("field"), "/home_store_id");
}

TEST_F(HqApiTest, SearchFindsByNameEmailAndCardFiltersAndPagesAndHidesPersonalDataFromAnalysts) {
  const std::string anna = create(kAnna);
  for (int i = 0; i < 5; ++i) {
    create(R"({"display_name": "Bernd Nr)" + std::to_string(i) +
           R"(", "home_store_id": "S2", "email": "bernd)" + std::to_string(i) +
           R"(@example.com"})");
  }
  auto ids = [](const Res& r) {
    std::vector<std::string> out;
    for (const auto& x : r.obj().at("items").as_array()) {
      out.emplace_back(x.at("customer_id").as_string());
    }
    return out;
  };
  EXPECT_EQ(ids(get("/v1/customers?q=schmidt", support_)), std::vector<std::string>{anna});
  EXPECT_EQ(ids(get("/v1/customers?q=ANNA.SCHMIDT%40example.org", support_)),
            std::vector<std::string>{anna});
  EXPECT_EQ(ids(get("/v1/customers?q=6006%201234%205678%209012", support_)),
            std::vector<std::string>{anna})
      << "a card number, found by its keyed hash";
  EXPECT_EQ(ids(get("/v1/customers?q=%2B4915123456789", support_)), std::vector<std::string>{anna});
  EXPECT_EQ(ids(get("/v1/customers?q=bernd&home_store=S1", support_)).size(), 0u);
  // Paging: 5 Bernds, 2 a page.
  std::vector<std::string> seen;
  std::string target = "/v1/customers?q=bernd&limit=2";
  for (int page = 0; page < 5; ++page) {
    auto r = get(target, analyst_);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& x : r.obj().at("items").as_array()) {
      EXPECT_FALSE(x.as_object().contains("display_name")) << "analysts see no names";
      EXPECT_FALSE(x.as_object().contains("email"));
    }
    auto more = ids(r);
    seen.insert(seen.end(), more.begin(), more.end());
    if (r.obj().at("next_cursor").is_null()) break;
    target = "/v1/customers?q=bernd&limit=2&cursor=" +
             std::string(r.obj().at("next_cursor").as_string());
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_TRUE(std::ranges::is_sorted(seen));
  // Filters.
  EXPECT_EQ(
      ids(get("/v1/customers?home_store=S2&status=active&tier=bronze&limit=100", admin_)).size(),
      5u);
  EXPECT_EQ(ids(get("/v1/customers?balance_min=1", admin_)).size(), 0u);
  auto bad = get("/v1/customers?stauts=active&limit=1000&enrolled_from=yesterday", admin_);
  ASSERT_EQ(bad.status, 422);
  EXPECT_EQ(bad.obj().at("errors").as_array().size(), 3u) << bad.body;
  // Personal data in results is audited, asynchronously.
  ASSERT_TRUE(app_->hq().audit().flush(std::chrono::seconds(5)));
  EXPECT_GE(
      std::stoi(db_.scalar("SELECT count(*) FROM audit_log WHERE action = 'customer.search'")), 4);
}

TEST_F(HqApiTest, BlockTierFloorAndAdjustmentsChangeTheCustomerAndAreAudited) {
  const std::string id = create(kAnna);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("status"), "active");
  auto b =
      call(V::post, "/v1/customers/" + id + "/block", R"({"reason": "fraud check"})", support_);
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("status"), "blocked")
      << "the cached status was invalidated";
  EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/block", "{}", support_).status, 422)
      << "a reason is required";
  EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/unblock", R"({"reason": "cleared"})", support_)
                .status,
            200);

  auto t = call(V::put, "/v1/customers/" + id + "/tier-floor",
                R"({"tier_id": "gold", "reason": "VIP"})", support_);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.obj().at("tier_id"), "gold");
  EXPECT_EQ(get("/v1/customers/" + id, analyst_).obj().at("tier").at("id"), "gold");
  EXPECT_EQ(call(V::put, "/v1/customers/" + id + "/tier-floor",
                 R"({"tier_id": "platinum-plus", "reason": "x"})", support_)
                .status,
            422);
  auto cleared = call(V::put, "/v1/customers/" + id + "/tier-floor",
                      R"({"tier_id": null, "reason": "campaign over"})", support_);
  EXPECT_TRUE(cleared.obj().at("tier_floor_id").is_null());
  EXPECT_EQ(cleared.obj().at("tier_id"), "gold") << "a floor never lowers a member";

  auto add = call(V::post, "/v1/customers/" + id + "/adjustments",
                  R"({"points": 500, "reason": "goodwill: late delivery"})", support_);
  ASSERT_EQ(add.status, 201) << add.body;
  EXPECT_EQ(add.obj().at("customer").at("points").at("available"), 500);
  EXPECT_EQ(add.obj().at("actor"), "support-sam");
  auto too_much = call(V::post, "/v1/customers/" + id + "/adjustments",
                       R"({"points": -501, "reason": "correction"})", support_);
  EXPECT_EQ(too_much.status, 422);
  EXPECT_EQ(problem_type(too_much), "/problems/insufficient-points");
  EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": -200, "reason": "correction"})", support_)
                .status,
            201);
  EXPECT_EQ(get("/v1/customers/" + id + "/status", analyst_).obj().at("points").at("available"),
            300);
  EXPECT_EQ(
      call(V::post, "/v1/customers/nobody/adjustments", R"({"points": 5, "reason": "x"})", support_)
          .status,
      404);
  auto tx = get("/v1/customers/" + id + "/transactions", analyst_);
  ASSERT_EQ(tx.obj().at("items").as_array().size(), 2u);
  EXPECT_EQ(tx.obj().at("items").as_array()[0].at("reason"), "correction");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed WHERE customer_id = '" + id + "'"), "7")
      << "create, block, unblock, two floors, two adjustments: each reaches the stores";

  // The audit trail: every change, in its transaction; the details read, queued.
  ASSERT_EQ(get("/v1/customers/" + id + "/details", support_).status, 200);
  ASSERT_TRUE(app_->hq().audit().flush(std::chrono::seconds(5)));
  auto audit = get("/v1/audit?subject=customer:" + id + "&limit=100", admin_);
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::vector<std::string> actions;
  for (const auto& x : audit.obj().at("items").as_array()) {
    actions.emplace_back(x.at("action").as_string());
    EXPECT_FALSE(x.at("request_id").as_string().empty());
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"customer.read_details", "points.adjust", "points.adjust",
                                      "customer.tier_floor", "customer.tier_floor",
                                      "customer.unblock", "customer.block", "customer.create"}));
  EXPECT_EQ(get("/v1/audit", support_).status, 403) << "the audit trail is for hq-admin";
  auto c = db_.connect();
  ASSERT_TRUE(c);
  auto report = cloud::audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << "every balance is the sum of its ledger";
}

TEST_F(HqApiTest, AnIdempotencyKeyReplaysTheFirstAnswerAndRefusesAnotherBody) {
  const std::string id = create(kAnna);
  const std::string body = R"({"points": 250, "reason": "birthday"})";
  auto first = call(V::post, "/v1/customers/" + id + "/adjustments", body, support_,
                    {{"Idempotency-Key", "adj-1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = call(V::post, "/v1/customers/" + id + "/adjustments", body, support_,
                    {{"Idempotency-Key", "adj-1"}});
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE customer_id = '" + id + "'"), "1")
      << "applied once";
  auto other =
      call(V::post, "/v1/customers/" + id + "/adjustments",
           R"({"points": 999, "reason": "birthday"})", support_, {{"Idempotency-Key", "adj-1"}});
  EXPECT_EQ(other.status, 422);
  EXPECT_EQ(problem_type(other), "/problems/idempotency-key-reused");
  // Keys belong to their client: another subject's same key is a new request.
  auto admin_same = call(V::post, "/v1/customers/" + id + "/adjustments", body, admin_,
                         {{"Idempotency-Key", "adj-1"}});
  EXPECT_EQ(admin_same.status, 201);
  EXPECT_NE(admin_same.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments", body, support_,
                 {{"Idempotency-Key", std::string(300, 'k')}})
                .status,
            400);
}

}  // namespace
}  // namespace accrue::cloud
