// The head-office API's test fixture, for the tests in tests/cloud/hq/*_api_pgtest.cpp: the whole
// service against PostgreSQL 15 and Redis 7, tokens for each role, and every response checked
// against the OpenAPI document (its status listed for the route, its JSON body matching the
// schema given for it).
#pragma once

#include <boost/json.hpp>

#include "cloud/core/webhooks.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/cloud/hq/openapi_support.h"
#include "tests/cloud/search/fake_elastic.h"

namespace accrue::cloud {

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

}  // namespace accrue::cloud
