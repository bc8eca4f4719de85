// The head-office API (tests/cloud/hq/hq_api_fixture.h). Programme drafts: validated, edited,
// diffed and published to the stores.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

TEST_F(HqApiTest, AProgrammeDraftIsValidatedEditedDiffedAndPublishedToTheStores) {
  auto v3 = json::parse(program_json_).as_object();
  ASSERT_EQ(v3.at("version"), 3);
  // Validation: the domain core's own checks, with a readable field.
  auto broken = v3;
  broken["earn_rates"].as_array()[0].as_object()["per_minor_units"] = 0;
  auto bad = call(V::post, "/v1/programs/validate", json::serialize(broken), admin_);
  ASSERT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.obj().at("errors").as_array()[0].at("field").as_string().find("earn_rates"),
            std::string::npos)
      << bad.body;
  EXPECT_EQ(call(V::post, "/v1/programs/validate", program_json_, admin_).status, 200);

  // A draft of version 4: saved while it does not validate, then fixed, with If-Match.
  auto v4 = v3;
  v4["version"] = 4;
  auto rules = v4["rules"].as_array();
  rules.erase(rules.begin());  // Black Friday is over
  json::object bonus{{"rule_id", "xmas-bonus"},
                     {"name", "Christmas: 100 bonus points"},
                     {"priority", 5},
                     {"bonus", json::object{{"points", 100}}}};
  rules.push_back(bonus);
  v4["rules"] = rules;
  v4["tiers"].as_object()["ladder"].as_array()[1].as_object()["threshold"] = 800;
  auto draft_body = v4;
  draft_body["earn_rates"] = json::array{};
  auto d = call(V::post, "/v1/programs/drafts", json::serialize(draft_body), admin_);
  ASSERT_EQ(d.status, 201) << d.body;
  EXPECT_EQ(d.obj().at("validation").at("valid"), false);
  const std::string id(d.obj().at("draft_id").as_string());
  auto not_yet = call(V::post, "/v1/programs/drafts/" + id + "/publish", "", admin_);
  EXPECT_EQ(not_yet.status, 422) << "an invalid draft is not published";
  auto fixed = call(V::put, "/v1/programs/drafts/" + id, json::serialize(v4), admin_,
                    {{"If-Match", "\"1\""}});
  ASSERT_EQ(fixed.status, 200) << fixed.body;
  EXPECT_EQ(fixed.obj().at("validation").at("valid"), true);
  EXPECT_EQ(call(V::put, "/v1/programs/drafts/" + id, json::serialize(v4), admin_,
                 {{"If-Match", "\"1\""}})
                .status,
            412);
  auto published = call(V::post, "/v1/programs/drafts/" + id + "/publish", "", admin_);
  ASSERT_EQ(published.status, 201) << published.body;
  EXPECT_EQ(published.obj().at("version"), 4);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM change_feed WHERE kind = 3"), "2")
      << "the stores receive the new version (the fixture published version 3)";
  EXPECT_EQ(call(V::put, "/v1/programs/drafts/" + id, json::serialize(v4), admin_).status, 409);
  // The same version again from another draft: refused.
  auto again = call(V::post, "/v1/programs/drafts", json::serialize(v4), admin_);
  auto refused = call(
      V::post,
      "/v1/programs/drafts/" + std::string(again.obj().at("draft_id").as_string()) + "/publish", "",
      admin_);
  ASSERT_EQ(refused.status, 422);
  EXPECT_EQ(refused.obj().at("errors").as_array()[0].at("field"), "/version");

  auto list = get("/v1/programs", analyst_);
  ASSERT_EQ(list.obj().at("items").as_array().size(), 2u);
  EXPECT_EQ(list.obj().at("items").as_array()[0].at("version"), 4);
  EXPECT_EQ(list.obj().at("items").as_array()[0].at("in_force"), true);
  EXPECT_EQ(get("/v1/programs/fashion-rewards/versions/4", analyst_).obj().at("version"), 4);
  EXPECT_EQ(get("/v1/programs/fashion-rewards/versions/9", analyst_).status, 404);
  auto diff = get("/v1/programs/fashion-rewards/diff?from=3&to=4", analyst_);
  ASSERT_EQ(diff.status, 200) << diff.body;
  std::set<std::string> paths;
  for (const auto& c : diff.obj().at("changes").as_array()) {
    paths.insert(std::string(c.at("path").as_string()) + " " + std::string(c.at("op").as_string()));
  }
  EXPECT_EQ(paths,
            (std::set<std::string>{"/version changed", "/rules[rule_id=black-friday-shoes] removed",
                                   "/rules[rule_id=xmas-bonus] added",
                                   "/tiers/ladder[tier_id=silver]/threshold changed"}))
      << diff.body;
  EXPECT_EQ(get("/v1/programs/fashion-rewards/diff?from=3", analyst_).status, 422);
  EXPECT_EQ(get("/v1/programs/drafts", analyst_).status, 403);
}

}  // namespace
}  // namespace accrue::cloud
