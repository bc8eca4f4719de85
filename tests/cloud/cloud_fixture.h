// Real PostgreSQL for the cloud's tests: each fixture gets its own throwaway database on the
// server packaging/dev/services started (ACCRUE_TEST_PG_DSN), migrated to the shipped schema, and
// dropped afterwards. Plus a small blocking HTTP client for driving the real server in-process.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <random>
#include <string>

#include "cloud/pg/migrate.h"
#include "cloud/pg/pg.h"
#include "tests/services/service_env.h"

namespace accrue::testing {

// A loopback port nothing listens on (bound, read, released): for a server a test starts later,
// or for a peer that must refuse connections.
inline uint16_t free_loopback_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

class TestDatabase {
 public:
  // Creates and migrates a fresh database; check ok() (false: the reason was reported).
  TestDatabase() {
    admin_dsn_ = service_env("ACCRUE_TEST_PG_DSN");
    if (admin_dsn_.empty()) return;
    std::random_device rd;
    name_ = "accrue_t_" + std::to_string(rd()) + std::to_string(rd() % 1000);
    auto admin = cloud::pg::Connection::connect(admin_dsn_, std::chrono::seconds(10));
    if (!admin) {
      ADD_FAILURE() << admin.error().message;
      return;
    }
    auto r = admin->exec(("CREATE DATABASE " + name_).c_str());
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return;
    }
    dsn_ = admin_dsn_ + " dbname=" + name_;  // a later dbname wins in a libpq conninfo
    auto c = connect();
    if (!c) {
      ADD_FAILURE() << c.error().message;
      return;
    }
    auto m = cloud::pg::migrate(*c, cloud::pg::shipped_migrations());
    if (!m) {
      ADD_FAILURE() << m.error().message;
      return;
    }
    ok_ = true;
  }
  ~TestDatabase() {
    if (name_.empty() || std::getenv("ACCRUE_KEEP_TEST_DBS")) return;
    auto admin = cloud::pg::Connection::connect(admin_dsn_, std::chrono::seconds(10));
    if (admin) (void)admin->exec(("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str());
  }
  bool ok() const { return ok_; }
  const std::string& dsn() const { return dsn_; }
  Result<cloud::pg::Connection> connect() const {
    return cloud::pg::Connection::connect(dsn_, std::chrono::seconds(10));
  }
  // One value from a query (tests only).
  std::string scalar(const std::string& sql) const {
    auto c = connect();
    if (!c) return "<" + c.error().message + ">";
    auto r = c->exec(sql.c_str());
    if (!r) return "<" + r.error().message + ">";
    if (r->rows() == 0) return "<no rows>";
    return std::string(r->text(0, 0));
  }

 private:
  std::string admin_dsn_, dsn_, name_;
  bool ok_ = false;
};

// A keep-alive HTTP/1.1 client on 127.0.0.1.
class HttpClient {
 public:
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  explicit HttpClient(uint16_t port) : stream_(ioc_) {
    namespace asio = boost::asio;
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  Response request(boost::beast::http::verb verb, const std::string& target,
                   const std::string& body = "",
                   std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    Response res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream_, buffer_, parser);
    return parser.release();
  }
  boost::beast::tcp_stream& stream() { return stream_; }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace accrue::testing

#define ACCRUE_NEED_DATABASE(db)               \
  do {                                         \
    ACCRUE_NEED_SERVICE("ACCRUE_TEST_PG_DSN"); \
    ASSERT_TRUE((db).ok()) << "test database"; \
  } while (false)
