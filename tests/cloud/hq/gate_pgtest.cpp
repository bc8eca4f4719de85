// The head-office API (tests/cloud/hq/hq_api_fixture.h). The gate: every route answers every role
// and every bad token with the exact status, the document lists every route the server serves, and
// rate limits.
#include "tests/cloud/hq/hq_api_fixture.h"

namespace accrue::cloud {
namespace {

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
  // A campaign batch (empty) whose export the matrix reads.
  const std::string batch = db_.scalar(
      "INSERT INTO coupon_batch (batch_id, program_id, reward_id, count, expires_at, created_at, "
      "created_by, reason) VALUES (gen_random_uuid(), 'p', 'r', 1, now(), now(), 'test', 'matrix') "
      "RETURNING batch_id");
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
  // A web-shop order the matrix reads.
  ASSERT_EQ(call(V::post, "/v1/orders",
                 R"({"order_id": "matrix-order", "customer_id": ")" + id +
                     R"(", "currency": "EUR", "lines": [{"line_no": 1, "sku": "A",
                     "quantity_milli": 1000, "amount_minor": 100}]})",
                 admin_)
                .status,
            201);
  // A return of a sale nobody uploaded: held for review (a retry leaves it held).
  auto held = envelope(1);
  held.mutable_return_()->set_till_id("till-1");
  held.mutable_return_()->set_pos_tx_id("back-1");
  held.mutable_return_()->set_original_pos_tx_id("never-sold");
  held.mutable_return_()->add_lines()->set_quantity_milli(1000);
  ASSERT_EQ(results(post(batch_of({held}), token_)).results(0).status(),
            sync::v1::EVENT_STATUS_APPLIED);
  const std::string expired = hq_token_for("admin-ann", {"hq-admin"}, -120);
  std::string forged = admin_;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::string>> roles = {
      {"hq-admin", admin_},
      {"hq-support", support_},
      {"hq-analyst", analyst_},
      {"web-shop", hq_token_for("web-shop-eu", {"web-shop"})}};
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
                : target.starts_with("/v1/returns")             ? held.event_id()
                : target.starts_with("/v1/coupon-batches")      ? batch
                                                                : id);
    put("{order_id}", "matrix-order");
    put("{identifier_id}", "0123456789abcdef");
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
      // Retrying a held return takes no body: it stays held (200).
      // Her sign-in: none is linked (404); linking and unlinking take a body (415).
      // Removing an identifier takes a reason (415 without one).
      const int through = op.path.ends_with("/login")                          ? (write ? 415 : 404)
                          : op.path.ends_with("}/identifiers/{identifier_id}") ? 415
                          : op.path.ends_with("/publish")                      ? 422
                          : op.path.ends_with("/expiry-runs")                  ? 200
                          : op.path.ends_with("/retry")                        ? 200
                          : del                                                ? 204
                          : op.path.ends_with("/redeliver")                    ? 202
                          : write                                              ? 415
                                                                               : 200;
      auto r = call(verb, target, "", token);
      EXPECT_EQ(r.status, allowed ? through : 403)
          << op.method << " " << op.path << " as " << role << ": " << r.body;
      ++checked;
    }
  }
  EXPECT_GE(checked, 54 * 7);
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
