// The Elasticsearch/OpenSearch adapter against recorded real-format responses (see recorded/),
// replayed by a local HTTP server that also keeps what the adapter sent.
#include "cloud/search/elastic.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <mutex>
#include <thread>

namespace accrue::cloud::search {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

std::string recorded(const std::string& name) {
  std::ifstream in("tests/cloud/search/recorded/" + name);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Answers request n with script[n] (status, body); keeps the requests.
class Replay {
 public:
  struct Sent {
    std::string method, target, content_type, body;
  };
  explicit Replay(std::vector<std::pair<int, std::string>> script)
      : script_(std::move(script)),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { serve(); });
  }
  ~Replay() {
    stop_ = true;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket knock(ioc);
    boost::system::error_code ec;
    knock.connect({boost::asio::ip::make_address("127.0.0.1"), port()}, ec);
    knock.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::vector<Sent> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  void serve() {
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      std::pair<int, std::string> answer{500, "{}"};
      {
        std::lock_guard lock(mu_);
        sent_.push_back({std::string(req.method_string()), std::string(req.target()),
                         std::string(req[http::field::content_type]), req.body()});
        if (next_ < script_.size()) answer = script_[next_++];
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.first), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = answer.second;
      res.keep_alive(false);
      res.prepare_payload();
      http::write(sock, res, ec);
    }
  }
  std::vector<std::pair<int, std::string>> script_;
  size_t next_ = 0;
  std::mutex mu_;
  std::vector<Sent> sent_;
  std::atomic<bool> stop_{false};
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

ElasticOptions options(const Replay& r) {
  ElasticOptions o;
  o.url = r.url();
  o.backoff_base = std::chrono::milliseconds(1);
  o.api_key = "a2V5OnNlY3JldA==";
  return o;
}

CustomerDoc doc(const std::string& id, int64_t version, bool deleted = false) {
  CustomerDoc d;
  d.customer_id = id;
  d.version = version;
  d.deleted = deleted;
  d.display_name = "Anna Schmidt";
  d.email = "Anna@Example.org";
  d.tier_id = "gold";
  d.points = 10;
  return d;
}

TEST(ElasticTest, BulkUsesExternalVersionsCountsConflictsAsStaleAndRetriesOnlyRejectedItems) {
  Replay es({{200, recorded("bulk_partial.json")}, {200, recorded("bulk_retry_ok.json")}});
  ElasticClient client(options(es));
  auto out = client.bulk(
      {doc("c1", 41), doc("c2", 42), doc("c3", 43), doc("c4", 44), doc("c5", 45, true)});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->indexed, 3);  // c1 created, c5 deleted, c3 on its retry
  EXPECT_EQ(out->stale, 1) << "c2: a newer version was indexed; not a failure";
  EXPECT_EQ(out->retried, 1);
  ASSERT_EQ(out->failed.size(), 1u);
  EXPECT_EQ(out->failed[0].first, "c4");
  EXPECT_NE(out->failed[0].second.find("strict_dynamic_mapping_exception"), std::string::npos);
  auto sent = es.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].target, "/_bulk");
  EXPECT_EQ(sent[0].content_type, "application/x-ndjson");
  // NDJSON: action lines with the external version, a source after each index action.
  std::vector<json::value> lines;
  std::istringstream in(sent[0].body);
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 9u);  // four index actions with sources, one delete
  EXPECT_EQ(lines[0].at("index").at("_id"), "c1");
  EXPECT_EQ(lines[0].at("index").at("version"), 41);
  EXPECT_EQ(lines[0].at("index").at("version_type"), "external");
  EXPECT_EQ(lines[1].at("email"), "anna@example.org") << "lower-cased for substring search";
  EXPECT_EQ(lines[1].at("name_lc"), "anna schmidt");
  EXPECT_EQ(lines[8].at("delete").at("_id"), "c5");
  EXPECT_EQ(lines[8].at("delete").at("version"), 45);
  // The retry carried the rejected item alone.
  EXPECT_EQ(std::count(sent[1].body.begin(), sent[1].body.end(), '\n'), 2);
  EXPECT_NE(sent[1].body.find("\"c3\""), std::string::npos);
}

TEST(ElasticTest, AWholeRequestRejectedWith429IsSentAgainAfterBackoff) {
  Replay es({{429, recorded("rejected_whole_request.json")},
             {503, "{}"},
             {200, recorded("bulk_ok_two.json")}});
  ElasticClient client(options(es));
  auto out = client.bulk({doc("c7", 50), doc("c8", 51)});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->indexed, 2);
  EXPECT_EQ(es.sent().size(), 3u);
  EXPECT_EQ(es.sent()[2].body, es.sent()[0].body) << "the same request, byte for byte";
}

TEST(ElasticTest, ABackendThatKeepsRejectingIsAnErrorNotALoop) {
  std::vector<std::pair<int, std::string>> script(10,
                                                  {429, recorded("rejected_whole_request.json")});
  Replay es(script);
  auto o = options(es);
  o.max_retries = 3;
  ElasticClient client(o);
  auto out = client.bulk({doc("c7", 50)});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("HTTP 429"), std::string::npos) << out.error().message;
  EXPECT_EQ(es.sent().size(), 4u);
}

TEST(ElasticTest, SearchTranslatesTheFiltersAndPagesWithSearchAfter) {
  Replay es({{200, recorded("search_page.json")}});
  ElasticClient client(options(es));
  SearchQuery q;
  q.name_contains = "Ann*";
  q.tier = "gold";
  q.home_store = "S1";
  q.points_min = 100;
  q.enrolled_from_ms = 1'700'000'000'000;
  q.identifier_hashes = {"6a1f"};
  q.after = "c09";
  q.limit = 2;
  auto page = client.search(q);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->hits.size(), 2u);
  EXPECT_EQ(page->hits[0].customer_id, "c10");
  EXPECT_EQ(page->hits[0].points, 1200);
  EXPECT_EQ(page->hits[0].identifiers.size(), 1u);
  EXPECT_EQ(page->hits[0].last_purchase_ms, 1'795'900'000'000);
  EXPECT_EQ(page->next_after, "c11") << "a third hit came back: there is more";
  auto sent = es.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].target, "/accrue-customers/_search");
  auto body = json::parse(sent[0].body).as_object();
  EXPECT_EQ(body.at("size"), 3);
  EXPECT_EQ(body.at("search_after"), (json::array{"c09"}));
  EXPECT_EQ(body.at("sort"), (json::array{json::object{{"customer_id", "asc"}}}));
  const auto& b = body.at("query").at("bool").as_object();
  EXPECT_FALSE(b.contains("must_not"));
  EXPECT_NE(json::serialize(b.at("filter")).find("{\"terms\":{\"status\":[1,2]}}"),
            std::string::npos)
      << "erased and merged members are never found unless asked for";
  EXPECT_EQ(b.at("minimum_should_match"), 1);
  const std::string should = json::serialize(b.at("should"));
  EXPECT_NE(should.find("\"name_lc\":{\"value\":\"*ann\\\\**\"}"), std::string::npos) << should;
  EXPECT_NE(should.find("\"identifier_hashes\":[\"6a1f\"]"), std::string::npos) << should;
  const std::string filter = json::serialize(b.at("filter"));
  EXPECT_NE(filter.find("{\"term\":{\"tier_id\":\"gold\"}}"), std::string::npos) << filter;
  EXPECT_NE(filter.find("{\"range\":{\"points\":{\"gte\":100}}}"), std::string::npos) << filter;
  EXPECT_NE(filter.find("{\"range\":{\"enrolled_at\":{\"gte\":1700000000000}}}"),
            std::string::npos);
}

TEST(ElasticTest, ARebuildFillsANewIndexAndMovesTheAliasInOneCall) {
  Replay es({{200, recorded("acknowledged.json")},
             {200, recorded("create_index.json")},
             {404, recorded("aliases_missing.json")},
             {200, recorded("acknowledged.json")}});
  ElasticClient client(options(es));
  ASSERT_TRUE(client.put_index_template());
  auto index = client.create_index("20261129");
  ASSERT_TRUE(index);
  EXPECT_EQ(*index, "accrue-customers-20261129");
  ASSERT_TRUE(client.swap_alias(*index));
  auto sent = es.sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].method, "PUT");
  EXPECT_EQ(sent[0].target, "/_index_template/accrue-customers");
  auto tmpl = json::parse(sent[0].body);
  EXPECT_EQ(tmpl.at("index_patterns"), (json::array{"accrue-customers-*"}));
  EXPECT_EQ(tmpl.at("template").at("mappings").at("dynamic"), "strict");
  EXPECT_EQ(sent[1].target, "/accrue-customers-20261129");
  // The first rebuild: no alias yet to remove (404), so the alias is added alone.
  EXPECT_NE(sent[2].body.find("\"remove\""), std::string::npos);
  EXPECT_EQ(sent[3].body.find("\"remove\""), std::string::npos);
  EXPECT_NE(sent[3].body.find("\"add\""), std::string::npos);
}

TEST(ElasticTest, AnUnreachableBackendIsAnErrorNamingIt) {
  ElasticOptions o;
  o.url = "http://127.0.0.1:1";
  o.max_retries = 1;
  o.backoff_base = std::chrono::milliseconds(1);
  ElasticClient client(o);
  auto r = client.search({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("search backend"), std::string::npos);
}

}  // namespace
}  // namespace accrue::cloud::search
