// The head-office API against the real service, PostgreSQL 15 and Redis 7: customers (create,
// details, strict PATCH with If-Match, search, block, tier floor), points adjustments, the audit
// trail, idempotency keys, rate limits, and the role matrix over every route of the OpenAPI
// document. Every response a test receives is checked against the document: its status must be
// listed for the route and its JSON body must match the schema given for it.
#include <boost/json.hpp>

#include "cloud/core/webhooks.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/cloud/hq/openapi_support.h"
#include "tests/cloud/search/fake_elastic.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
using accrue::testing::service_env;
namespace json = boost::json;
using V = bhttp::verb;

struct Res {
  int status = 0;
  std::string body;
  json::value doc;  // null unless the body is JSON
  HttpClient::Response raw;
  std::string header(bhttp::field f) const { return std::string(raw[f]); }
  std::string header(std::string_view f) const { return std::string(raw[f]); }
  const json::object& obj() const { return doc.as_object(); }
};

class HqApiTest : public CloudAppTest {
 protected:
  void SetUp() override {
    ACCRUE_NEED_SERVICE("ACCRUE_TEST_REDIS_HOST");
    prefix_ = "hqtest:" + std::to_string(::getpid()) + ":" + std::to_string(++runs_) + ":";
    CloudAppTest::SetUp();
    if (HasFatalFailure()) return;
    admin_ = hq_token_for("admin-ann", {"hq-admin"});
    support_ = hq_token_for("support-sam", {"hq-support"});
    analyst_ = hq_token_for("analyst-al", {"hq-analyst"});
    auto c = db_.connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        c->exec("INSERT INTO store (store_id, name, country) VALUES ('S1', 'Berlin', "
                "'DE'), ('S2', 'Hamburg', 'DE') ON CONFLICT DO NOTHING"));
  }
  std::vector<std::string> extra_settings() override {
    const std::string key =
        (std::filesystem::temp_directory_path() / ("accrue-hq-key-" + std::to_string(::getpid())))
            .string();
    std::ofstream(key) << std::string(64, 'c') << "\n";
    std::vector<std::string> s = {"redis.host=" + service_env("ACCRUE_TEST_REDIS_HOST"),
                                  "redis.port=" + service_env("ACCRUE_TEST_REDIS_PORT"),
                                  "redis.key_prefix=" + prefix_, "auth.identifier_key_file=" + key};
    s.insert(s.end(), more_settings_.begin(), more_settings_.end());
    return s;
  }

  // The demo programme, without its enrolment bonus unless a test wants it: the points
  // arithmetic of the other tests starts from 0 (HqEnrolmentBonusTest covers the bonus).
  std::string program_json() override {
    std::string p = CloudAppTest::program_json();
    if (!enrolment_bonus_) {
      const std::string from = R"("enrolment_bonus_points": 100)";
      auto at = p.find(from);
      EXPECT_NE(at, std::string::npos) << "the demo programme's bonus moved";
      if (at != std::string::npos) p.replace(at, from.size(), R"("enrolment_bonus_points": 0)");
    }
    return p;
  }

  // The document's path pattern for a request target ("/v1/customers/x/details" ->
  // "/v1/customers/{id}/details").
  std::string pattern_of(std::string_view target) {
    std::string path(target.substr(0, target.find('?')));
    auto split = [](std::string_view p) {
      std::vector<std::string> out;
      size_t i = 1;
      while (i <= p.size()) {
        auto j = p.find('/', i);
        out.emplace_back(p.substr(i, j == std::string_view::npos ? j : j - i));
        if (j == std::string_view::npos) break;
        i = j + 1;
      }
      return out;
    };
    auto want = split(path);
    for (const auto& [p, item] : doc_.at("paths").as_object()) {
      auto have = split(p);
      if (have.size() != want.size()) continue;
      bool ok = true;
      for (size_t i = 0; i < have.size() && ok; ++i) {
        ok = have[i] == want[i] || (have[i].starts_with("{") && !want[i].empty());
      }
      // A literal match wins over a placeholder ("/v1/customers/x" vs none here, but keep it
      // exact where both could match).
      if (ok) return std::string(p);
    }
    return "";
  }

  Res call(V verb, const std::string& target, const std::string& body, const std::string& token,
           std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
    HttpClient client(app_->port());
    std::vector<std::pair<std::string, std::string>> h(headers);
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty() &&
        std::ranges::none_of(h, [](auto& x) { return x.first == "Content-Type"; })) {
      h.emplace_back("Content-Type", "application/json");
    }
    namespace http = boost::beast::http;
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : h) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(client.stream(), req);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(client.stream(), buf, parser);
    Res r;
    r.raw = parser.release();
    r.status = r.raw.result_int();
    r.body = r.raw.body();
    const std::string type(r.raw[http::field::content_type]);
    if (type == "application/json" || type == "application/problem+json") {
      std::error_code ec;
      r.doc = json::parse(r.body, ec);
      EXPECT_FALSE(ec) << target << ": " << r.body;
    }
    // Held to the document.
    const std::string pattern = pattern_of(target);
    const std::string method(http::to_string(verb));
    std::string lower;
    for (char ch : method) lower += static_cast<char>(std::tolower(ch));
    EXPECT_FALSE(pattern.empty()) << target << " is not in the OpenAPI document";
    if (!pattern.empty()) {
      EXPECT_TRUE(validator_.has_response(pattern, lower, r.status))
          << method << " " << pattern << " answered " << r.status
          << ", which the document does not list: " << r.body;
      const bool is_json = !r.doc.is_null();
      if (auto schema = validator_.response_schema(pattern, lower, r.status, type); is_json) {
        EXPECT_TRUE(schema) << method << " " << pattern << " " << r.status << " " << type
                            << ": the document gives no schema for this answer";
        if (!schema) return r;
        auto errors = validator_.check(*schema, r.doc);
        for (const auto& e : errors) ADD_FAILURE() << method << " " << target << ": " << e;
      }
    }
    return r;
  }
  Res get(const std::string& target, const std::string& token) {
    return call(V::get, target, "", token);
  }

  // A customer made through the API; returns its id.
  std::string create(const std::string& body) {
    auto r = call(V::post, "/v1/customers", body, admin_);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return "";
    return std::string(r.obj().at("customer_id").as_string());
  }
  std::string problem_type(const Res& r) {
    return r.doc.is_object() && r.obj().contains("type")
               ? std::string(r.obj().at("type").as_string())
               : "";
  }

  json::object doc_ = testing::load_openapi();
  testing::SchemaValidator validator_{doc_};
  std::string prefix_, admin_, support_, analyst_;
  std::vector<std::string> more_settings_;
  bool enrolment_bonus_ = false;
  static inline int runs_ = 0;
};

constexpr const char* kAnna =
    R"({"display_name": "Anna Schmidt", "email": "Anna.Schmidt@Example.org",
        "phone": "+49 151 2345 6789", "country": "DE", "currency": "EUR",
        "home_store_id": "S1", "birthday": {"month": 2, "day": 29},
        "consents": {"terms": true, "marketing_email": true},
        "identifiers": [{"kind": "card", "value": "6006 1234 5678 9012"},
                        {"kind": "email", "value": "anna.schmidt@example.org"}]})";

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

TEST_F(HqApiTest, EveryRouteAnswersEveryRoleAndEveryBadTokenWithTheExactStatus) {
  const std::string id = create(kAnna);
  ASSERT_FALSE(id.empty());
  auto d = call(V::post, "/v1/programs/drafts", program_json_, admin_);
  ASSERT_EQ(d.status, 201);
  const std::string draft(d.obj().at("draft_id").as_string());
  std::vector<std::string> hooks;
  for (int i = 0; i < 2; ++i) {
    auto h = call(V::post, "/v1/webhooks",
                  R"({"url": "https://hooks.example.invalid/accrue",
                      "event_types": ["member.enrolled"]})",
                  admin_);
    ASSERT_EQ(h.status, 201) << h.body;
    hooks.emplace_back(h.obj().at("subscription_id").as_string());
  }
  ASSERT_FALSE(create("{}").empty());  // a member.enrolled delivery for each subscription
  const std::string delivery = db_.scalar("SELECT min(delivery_id) FROM webhook_outbox");
  auto j = call(V::post, "/v1/points/bulk-adjustments",
                R"({"customer_ids": [")" + id + R"("], "points": 1, "reason": "matrix"})", admin_);
  ASSERT_EQ(j.status, 202) << j.body;
  const std::string job(j.obj().at("job_id").as_string());
  for (const char* seg : {"matrix", "to-delete"}) {
    ASSERT_EQ(
        call(V::post, "/v1/segments",
             std::string(R"({"segment_id": ")") + seg + R"(", "name": "m", "definition": {}})",
             admin_)
            .status,
        201);
  }
  const std::string expired = hq_token_for("admin-ann", {"hq-admin"}, -120);
  std::string forged = admin_;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::string>> roles = {
      {"hq-admin", admin_}, {"hq-support", support_}, {"hq-analyst", analyst_}};
  int checked = 0;
  for (const auto& op : testing::operations(doc_)) {
    if (op.roles.empty()) continue;  // public and store routes: not head office's
    std::string target = op.path;
    auto put = [&](const std::string& name, const std::string& value) {
      if (auto at = target.find(name); at != std::string::npos)
        target.replace(at, name.size(), value);
    };
    const bool del = op.method == "delete";
    put("{id}", target.starts_with("/v1/stores")     ? std::string("S1")
                : target.starts_with("/v1/segments") ? std::string(del ? "to-delete" : "matrix")
                : target.starts_with("/v1/webhooks/deliveries") ? delivery
                : target.starts_with("/v1/webhooks")            ? (del ? hooks[1] : hooks[0])
                : target.starts_with("/v1/jobs")                ? job
                                                                : id);
    put("{program_id}", program_.program_id);
    put("{version}", std::to_string(program_.version));
    put("{draft_id}", draft);
    if (target.ends_with("/diff")) target += "?from=3&to=3";
    const V verb = bhttp::string_to_verb([&] {
      std::string m;
      for (char ch : op.method) m += static_cast<char>(std::toupper(ch));
      return m;
    }());
    const bool write = verb != V::get;
    for (const auto& bad : {std::string(), expired, forged}) {
      auto r = call(verb, target, "", bad);
      EXPECT_EQ(r.status, 401) << op.method << " " << op.path;
      EXPECT_FALSE(r.header(bhttp::field::www_authenticate).empty());
      ++checked;
    }
    for (const auto& [role, token] : roles) {
      const bool allowed = std::ranges::find(op.roles, role) != op.roles.end();
      // Allowed: a read answers 200; a change sent without a body answers 415 (it got past the
      // gate and its body was read). Not allowed: 403.
      // Publishing takes no body: the draft (version 3, as published) is refused for its version.
      // Deleting takes no body either: the segment goes (204).
      // Redelivering takes no body: it queues the delivery again (202).
      // The expiry run takes an optional body: it runs (200).
      const int through = op.path.ends_with("/publish")       ? 422
                          : op.path.ends_with("/expiry-runs") ? 200
                          : del                               ? 204
                          : op.path.ends_with("/redeliver")   ? 202
                          : write                             ? 415
                                                              : 200;
      auto r = call(verb, target, "", token);
      EXPECT_EQ(r.status, allowed ? through : 403)
          << op.method << " " << op.path << " as " << role << ": " << r.body;
      ++checked;
    }
  }
  EXPECT_GE(checked, 47 * 6);
}

TEST_F(HqApiTest, TheDocumentListsEveryRouteTheServerServesAndNothingElse) {
  std::set<std::string> served, documented;
  for (const auto& r : app_->router().routes()) {
    std::string m(bhttp::to_string(r->method));
    for (auto& ch : m) ch = static_cast<char>(std::tolower(ch));
    served.insert(m + " " + r->pattern);
  }
  for (const auto& op : testing::operations(doc_)) documented.insert(op.method + " " + op.path);
  EXPECT_EQ(served, documented);
  // And the server serves the document it was built with.
  auto r = call(V::get, "/v1/openapi.yaml", "", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, read_file("cloud/openapi/openapi.yaml"));
}

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

// A webhook receiver on 127.0.0.1: answers each request with the next scripted status (then
// 200), and keeps what it received.
class Receiver {
 public:
  struct Got {
    std::string event, delivery, signature, body;
  };
  explicit Receiver(std::vector<int> statuses)
      : statuses_(std::move(statuses)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    // A blocking accept() is not woken by closing the acceptor from here: knock instead.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket knock(ioc);
    boost::system::error_code ec;
    knock.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ec);
    knock.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<Got> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  // Waits (bounded) until `n` requests have come.
  bool wait_for(size_t n, std::chrono::seconds within = std::chrono::seconds(15)) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (got().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      timeval tv{1, 0};  // an idle keep-alive connection does not hold the receiver forever
      setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      boost::beast::flat_buffer buf;
      for (;;) {
        http::request<http::string_body> req;
        http::read(sock, buf, req, ec);
        if (ec) break;
        int status = 200;
        {
          std::lock_guard lock(mu_);
          got_.push_back({std::string(req["X-Accrue-Event"]), std::string(req["X-Accrue-Delivery"]),
                          std::string(req["X-Accrue-Signature"]), req.body()});
          if (next_ < statuses_.size()) status = statuses_[next_++];
        }
        http::response<http::string_body> res{static_cast<http::status>(status), 11};
        res.body() = "ok";
        res.prepare_payload();
        http::write(sock, res, ec);
        if (ec) break;
      }
    }
  }
  std::vector<int> statuses_;
  size_t next_ = 0;
  std::mutex mu_;
  std::vector<Got> got_;
  std::atomic<bool> stop_{false};
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

class HqWebhookTest : public HqApiTest {
 protected:
  void SetUp() override {
    more_settings_ = {"hq.webhooks_allow_http=true", "hq.webhook_backoff_base_ms=50",
                      "hq.webhook_poll_ms=20", "hq.webhook_max_attempts=3"};
    HqApiTest::SetUp();
  }
  std::string subscribe(uint16_t port, const std::string& types, std::string* secret = nullptr) {
    auto r = call(V::post, "/v1/webhooks",
                  R"({"url": "http://127.0.0.1:)" + std::to_string(port) +
                      R"(/hook", "event_types": )" + types + "}",
                  admin_);
    EXPECT_EQ(r.status, 201) << r.body;
    if (secret) *secret = std::string(r.obj().at("secret").as_string());
    return std::string(r.obj().at("subscription_id").as_string());
  }
};

TEST_F(HqWebhookTest, EventsAreSignedDeliveredRetriedLoggedAndRedeliveredOnRequest) {
  Receiver receiver({500});  // the first attempt fails, the rest succeed
  std::string secret;
  const std::string sub = subscribe(
      receiver.port(), R"(["member.enrolled", "points.accrued", "points.adjusted"])", &secret);
  EXPECT_EQ(call(V::post, "/v1/webhooks", R"({"url": "ftp://x", "event_types": ["nope"]})", admin_)
                .obj()
                .at("errors")
                .as_array()
                .size(),
            2u);

  const std::string id = create(R"({"display_name": "Hook", "home_store_id": "S1"})");
  ASSERT_EQ(call(V::post, "/v1/customers/" + id + "/adjustments",
                 R"({"points": 40, "reason": "webhook test"})", support_)
                .status,
            201);
  // A sale uploaded by a store: queued by ingestion in the same transaction.
  sv1::EventBatch batch;
  batch.set_store_id(kStore);
  batch.set_agent_id(kAgent);
  *batch.add_events() = accrual(1, id, 2500, "hook-1");
  ASSERT_EQ(post(batch, token_).result_int(), 200);

  ASSERT_TRUE(receiver.wait_for(4)) << "got " << receiver.got().size();
  std::map<std::string, int> by_type;
  for (const auto& g : receiver.got()) {
    ++by_type[g.event];
    // The signature: t=<seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>.
    const auto t = std::stoll(g.signature.substr(2, g.signature.find(',') - 2));
    EXPECT_EQ(g.signature, webhook_signature(secret, t, g.body));
    EXPECT_LE(std::abs(t - clock_.now_ms() / 1000), 60);
    auto body = json::parse(g.body).as_object();
    EXPECT_EQ(std::to_string(body.at("delivery_id").as_int64()), g.delivery);
    EXPECT_EQ(body.at("event_type"), json::value(g.event));
  }
  EXPECT_EQ(by_type["member.enrolled"], 2) << "refused once (500), then delivered";
  EXPECT_EQ(by_type["points.adjusted"], 1);
  EXPECT_EQ(by_type["points.accrued"], 1);
  for (const auto& g : receiver.got()) {
    if (g.event == "points.accrued") {
      auto data = json::parse(g.body).at("data").as_object();
      EXPECT_EQ(data.at("customer_id"), json::value(id));
      EXPECT_EQ(data.at("points"), points_for(basket(2500)));
      EXPECT_EQ(data.at("store_id"), "S1");
    }
  }
  // The log: the enrolment took two attempts.
  auto log = get("/v1/webhooks/" + sub + "/deliveries?state=delivered", admin_);
  ASSERT_EQ(log.status, 200) << log.body;
  ASSERT_EQ(log.obj().at("items").as_array().size(), 3u);
  const auto& first = log.obj().at("items").as_array()[2].as_object();  // oldest last
  EXPECT_EQ(first.at("event_type"), "member.enrolled");
  EXPECT_EQ(first.at("attempts"), 2);
  EXPECT_EQ(first.at("log").as_array()[0].at("status"), 500);
  EXPECT_EQ(first.at("log").as_array()[1].at("status"), 200);
  // Redelivery on request.
  auto again = call(V::post,
                    "/v1/webhooks/deliveries/" +
                        std::to_string(first.at("delivery_id").as_int64()) + "/redeliver",
                    "", admin_);
  EXPECT_EQ(again.status, 202);
  ASSERT_TRUE(receiver.wait_for(5));
  EXPECT_EQ(receiver.got().back().delivery, std::to_string(first.at("delivery_id").as_int64()));
}

TEST_F(HqWebhookTest, AReceiverThatNeverAnswersIsGivenUpAfterTheLastAttemptAndNothingElseWaits) {
  const uint16_t closed = testing::free_loopback_port();
  const std::string sub = subscribe(closed, R"(["member.enrolled"])");
  ASSERT_FALSE(create("{}").empty());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string state;
  while (std::chrono::steady_clock::now() < until) {
    state = db_.scalar("SELECT state FROM webhook_outbox");
    if (state == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(state, "failed");
  EXPECT_EQ(db_.scalar("SELECT attempts FROM webhook_outbox"), "3");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_attempt WHERE status IS NULL AND error <> ''"),
            "3")
      << "each attempt logged with the connection error";
  auto w = get("/v1/webhooks/" + sub, admin_);
  EXPECT_EQ(w.obj().at("failed"), 1);
  EXPECT_EQ(w.obj().at("pending"), 0);
  // Unsubscribing takes its deliveries with it.
  EXPECT_EQ(call(V::delete_, "/v1/webhooks/" + sub, "", admin_).status, 204);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox"), "0");
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

class HqRateLimitTest : public HqApiTest {
 protected:
  void SetUp() override {
    more_settings_ = {"hq.rate_limit_per_minute=8", "hq.write_rate_limit_per_minute=3"};
    HqApiTest::SetUp();
  }
};

TEST_F(HqRateLimitTest, AClientBeyondItsLimitGets429WithRetryAfterAndOthersAreNotAffected) {
  // Writes: 3 a minute (rejected bodies count too: the limit is on requests).
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(call(V::post, "/v1/customers", "{}", support_).status, 201);
  }
  auto w = call(V::post, "/v1/customers", "{}", support_);
  ASSERT_EQ(w.status, 429);
  EXPECT_EQ(problem_type(w), "/problems/rate-limited");
  const int retry = std::stoi(w.header(bhttp::field::retry_after));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  // All requests: 8 a minute; the refused write did not count.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get("/v1/customers?limit=1", support_).status, 200);
  EXPECT_EQ(get("/v1/customers?limit=1", support_).status, 429);
  // Another client (subject) has its own budget.
  EXPECT_EQ(get("/v1/customers?limit=1", hq_token_for("someone-else", {"hq-analyst"})).status, 200);
}

}  // namespace
}  // namespace accrue::cloud
