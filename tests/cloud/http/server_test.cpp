// The HTTP server alone (no database): routing, keep-alive, limits, load shedding, request ids,
// draining. Raw sockets where a well-behaved client library would not send what we test.
#include "cloud/http/server.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/cloud/cloud_fixture.h"

namespace accrue::cloud::http {
namespace {

using testing::HttpClient;
namespace asio = boost::asio;

// Sends raw bytes, returns everything the server sends until it closes (or 2 s pass).
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";  // refused: nobody listens any more
  asio::write(s, asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  timeval tv{2, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions o = {}) {
    o.port = 0;
    o.access_log = std::getenv("LOGS") != nullptr;
    router_.add(bhttp::verb::get, "/v1/customers/{id}/status", "status",
                [](const Request& req, RequestContext& ctx) {
                  return json(req, "{\"id\":\"" + ctx.params.at(0) + "\",\"rid\":\"" +
                                       ctx.request_id + "\"}");
                });
    router_.add(bhttp::verb::post, "/echo", "echo", [](const Request& req, RequestContext&) {
      return bytes(req, req.body(), "application/octet-stream");
    });
    router_.add(bhttp::verb::get, "/slow", "slow", [this](const Request& req, RequestContext&) {
      ++slow_started_;
      std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
      return bytes(req, "done", "text/plain");
    });
    // A streamed body of `n` chunks; with ?fail, the stream fails after two of them.
    router_.add(bhttp::verb::get, "/stream", "stream", [](const Request& req, RequestContext& ctx) {
      auto left = std::make_shared<int>(5);
      const bool fails = query_param(req.target(), "fail").has_value();
      ctx.stream = [left, fails]() -> Result<std::optional<std::string>> {
        if (fails && *left == 3) return fail(ErrorCode::kUnavailable, "the database went away");
        if (*left == 0) return std::optional<std::string>();
        --*left;
        return std::optional<std::string>("chunk" + std::to_string(*left) + ";");
      };
      return bytes(req, "", "text/plain");
    });
    router_.add(
        bhttp::verb::get, "/throw", "throw",
        [](const Request&, RequestContext&) -> Response { throw std::runtime_error("bug"); });
    server_ = std::make_unique<Server>(o, router_);
    ASSERT_TRUE(server_->start());
  }

  Router router_;
  std::unique_ptr<Server> server_;
  std::atomic<int> slow_started_{0};
  int slow_ms_ = 300;
};

TEST_F(ServerTest, RoutesWithPlaceholdersAndKeepsTheConnectionAlive) {
  start();
  HttpClient c(server_->port());
  for (int i = 0; i < 5; ++i) {
    auto r = c.request(bhttp::verb::get, "/v1/customers/c%2D" + std::to_string(i) + "/status");
    ASSERT_EQ(r.result_int(), 200u);
    EXPECT_NE(r.body().find("\"id\":\"c-" + std::to_string(i) + "\""), std::string::npos);
    EXPECT_TRUE(r.keep_alive());
  }
  EXPECT_EQ(server_->stats().accepted, 1u) << "five requests, one connection";
  EXPECT_EQ(c.request(bhttp::verb::get, "/v1/customers").result_int(), 404u);
  auto wrong = c.request(bhttp::verb::delete_, "/v1/customers/x/status");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(wrong[bhttp::field::content_type], "application/problem+json");
  EXPECT_EQ(c.request(bhttp::verb::post, "/echo", "hello").body(), "hello");
}

TEST_F(ServerTest, RequestIdsArePropagatedWhenSaneAndMadeUpOtherwise) {
  start();
  HttpClient c(server_->port());
  auto given =
      c.request(bhttp::verb::get, "/v1/customers/x/status", "", {{"X-Request-Id", "till-42-abc"}});
  EXPECT_EQ(given["X-Request-Id"], "till-42-abc");
  EXPECT_NE(given.body().find("till-42-abc"), std::string::npos);
  auto hostile = c.request(bhttp::verb::get, "/v1/customers/x/status", "",
                           {{"X-Request-Id", std::string(300, 'a')}});
  EXPECT_EQ(hostile["X-Request-Id"].size(), 16u) << "too long: replaced";
}

TEST_F(ServerTest, OversizedBodiesAndHeadersAndGarbageGetAnAnswerThenAClose) {
  ServerOptions o;
  o.body_limit = 1024;
  o.header_limit = 2048;
  start(o);
  auto big_body = raw_exchange(server_->port(),
                               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: "
                               "5000\r\n\r\n" +
                                   std::string(5000, 'b'));
  EXPECT_TRUE(big_body.starts_with("HTTP/1.1 413")) << big_body;
  auto big_header = raw_exchange(server_->port(), "GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                                                      std::string(4000, 'h') + "\r\n\r\n");
  EXPECT_TRUE(big_header.starts_with("HTTP/1.1 431")) << big_header;
  auto garbage = raw_exchange(server_->port(), "\x16\x03\x01 not http at all\r\n\r\n");
  EXPECT_TRUE(garbage.starts_with("HTTP/1.1 400")) << garbage;
  // And the server still serves.
  HttpClient c(server_->port());
  EXPECT_EQ(c.request(bhttp::verb::post, "/echo", "ok").result_int(), 200u);
}

TEST_F(ServerTest, AHandlerThatThrowsAnswers500AndTheServerLives) {
  start();
  HttpClient c(server_->port());
  auto r = c.request(bhttp::verb::get, "/throw");
  EXPECT_EQ(r.result_int(), 500u);
  EXPECT_EQ(r.body().find("bug"), std::string::npos) << "no internals in the answer";
  EXPECT_EQ(c.request(bhttp::verb::get, "/v1/customers/a/status").result_int(), 200u);
}

TEST_F(ServerTest, AStreamedBodyIsChunkedAndAFailedStreamIsVisiblyTruncated) {
  start();
  HttpClient c(server_->port());
  auto r = c.request(bhttp::verb::get, "/stream");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(r.body(), "chunk4;chunk3;chunk2;chunk1;chunk0;");
  // The same connection goes on.
  EXPECT_EQ(c.request(bhttp::verb::get, "/v1/customers/a/status").result_int(), 200u);
  // A stream that fails midway: the chunked body never gets its last chunk and the connection
  // closes, so no client can take the part for the whole.
  const std::string raw =
      raw_exchange(server_->port(), "GET /stream?fail HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(raw.find("chunk4;"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("chunk2;"), std::string::npos);
  EXPECT_EQ(raw.find("\r\n0\r\n\r\n"), std::string::npos) << "no last chunk: " << raw;
}

TEST_F(ServerTest, BeyondMaxInFlightRequestsAreShedWith503AndRetryAfter) {
  ServerOptions o;
  o.workers = 1;
  o.max_in_flight = 1;
  start(o);
  auto first = std::async(std::launch::async, [&] {
    HttpClient c(server_->port());
    return c.request(bhttp::verb::get, "/slow").result_int();
  });
  while (slow_started_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  HttpClient c(server_->port());
  auto shed = c.request(bhttp::verb::get, "/slow");
  EXPECT_EQ(shed.result_int(), 503u);
  EXPECT_EQ(shed[bhttp::field::retry_after], "1");
  EXPECT_EQ(first.get(), 200u);
  EXPECT_EQ(server_->stats().shed, 1u);
  std::string m;
  server_->render_metrics(m);
  EXPECT_NE(m.find("accrue_http_shed_requests_total 1"), std::string::npos) << m;
  EXPECT_NE(m.find("accrue_http_requests_total{route=\"slow\",code=\"5xx\"} 1"), std::string::npos);
}

TEST_F(ServerTest, AtTheCapTheLongestIdleConnectionMakesRoomAndBusyOnesAreNeverCut) {
  ServerOptions o;
  o.max_connections = 2;
  start(o);
  HttpClient a(server_->port());
  EXPECT_EQ(a.request(bhttp::verb::get, "/v1/customers/a/status").result_int(), 200u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  HttpClient b(server_->port());
  EXPECT_EQ(b.request(bhttp::verb::get, "/v1/customers/b/status").result_int(), 200u);
  // Both idle: the newcomer is served and `a`, idle the longest, is closed.
  auto third = raw_exchange(server_->port(),
                            "GET /v1/customers/c/status HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n\r\n");
  EXPECT_NE(third.find("200 OK"), std::string::npos) << third;
  EXPECT_EQ(server_->stats().evicted_connections, 1u);
  EXPECT_ANY_THROW(a.request(bhttp::verb::get, "/v1/customers/a/status")) << "a was closed";
  EXPECT_EQ(b.request(bhttp::verb::get, "/v1/customers/b/status").result_int(), 200u);

  // Both busy: nobody can be cut, so the newcomer is closed without an answer.
  slow_ms_ = 800;
  auto one = std::async(std::launch::async,
                        [&] { return b.request(bhttp::verb::get, "/slow").result_int(); });
  auto two = std::async(std::launch::async, [&] {
    HttpClient c(server_->port());
    return c.request(bhttp::verb::get, "/slow").result_int();
  });
  while (slow_started_ < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(raw_exchange(server_->port(), "GET /v1/customers/d/status HTTP/1.1\r\nHost: x\r\n\r\n"),
            "")
      << "closed without an answer";
  EXPECT_GE(server_->stats().refused_connections, 1u);
  EXPECT_EQ(one.get(), 200u);
  EXPECT_EQ(two.get(), 200u);
}

TEST_F(ServerTest, DrainLetsInFlightRequestsFinishAndClosesIdleConnections) {
  slow_ms_ = 400;
  start();
  HttpClient idle(server_->port());
  EXPECT_EQ(idle.request(bhttp::verb::get, "/v1/customers/a/status").result_int(), 200u);
  auto busy = std::async(std::launch::async, [&] {
    HttpClient c(server_->port());
    auto r = c.request(bhttp::verb::get, "/slow");
    return std::make_pair(r.result_int(), r.keep_alive());
  });
  while (slow_started_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto t0 = std::chrono::steady_clock::now();
  server_->drain(std::chrono::seconds(5));
  auto [status, keep_alive] = busy.get();
  EXPECT_EQ(status, 200u) << "the in-flight request finished";
  EXPECT_FALSE(keep_alive) << "and its connection was told to close";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(server_->draining());
  EXPECT_EQ(server_->stats().connections, 0u);
  // New connections are no longer served.
  EXPECT_EQ(raw_exchange(server_->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), "");
}

TEST(RouterTest, QueryParametersAreDecodedAndBadEncodingRejected) {
  EXPECT_EQ(query_param("/x?cursor=a%2Bb&limit=5", "cursor"), "a+b");
  EXPECT_EQ(query_param("/x?cursor=a%2Bb&limit=5", "limit"), "5");
  EXPECT_EQ(query_param("/x?limit=5", "cursor"), std::nullopt);
  EXPECT_EQ(query_param("/x?cursor=%zz", "cursor"), std::nullopt);
  EXPECT_EQ(query_param("/x?cursor=%4", "cursor"), std::nullopt);
  // A form's '+' is a space; UTF-8 arrives escaped byte by byte.
  EXPECT_EQ(query_param("/x?q=ann+marie", "q"), "ann marie");
  EXPECT_EQ(query_param("/x?q=Kraw%C3%B3w", "q"), "Kraw\xC3\xB3w");
  EXPECT_EQ(query_param("/x?q=", "q"), "");
  EXPECT_EQ(path_of("/v1/a?b=c"), "/v1/a");
}

}  // namespace
}  // namespace accrue::cloud::http
