// The server with TLS and client certificates: a store's certificate (signed by the stores' CA)
// names the store; no certificate, or one from another CA, gets no session at all.
#include "cloud/http/tls.h"

#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <fstream>

#include "cloud/http/server.h"
#include "tests/cloud/test_certs.h"

namespace accrue::cloud::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;

struct Files {
  std::filesystem::path dir;
  std::string write(const std::string& name, const std::string& content) {
    auto p = dir / name;
    std::ofstream(p) << content;
    return p.string();
  }
};

// One HTTPS request; the body, or "" when the TLS handshake or the exchange failed.
std::string https_get(uint16_t port, const std::string& ca_pem, const accrue::testing::Pem* client,
                      const std::string& target) {
  try {
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(asio::buffer(ca_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    if (client) {
      ctx.use_certificate_chain(asio::buffer(client->cert));
      ctx.use_private_key(asio::buffer(client->key), ssl::context::pem);
    }
    asio::io_context ioc;
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    beast::get_lowest_layer(stream).connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.handshake(ssl::stream_base::client);
    beast::http::request<beast::http::string_body> req{beast::http::verb::get, target, 11};
    req.set(beast::http::field::host, "localhost");
    beast::http::write(stream, req);
    beast::flat_buffer buf;
    beast::http::response<beast::http::string_body> res;
    beast::http::read(stream, buf, res);
    return res.body();
  } catch (const std::exception&) {
    return "";
  }
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    files_.dir =
        std::filesystem::temp_directory_path() / ("accrue-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(files_.dir);
    router_.add(bhttp::verb::get, "/whoami", "whoami", [](const Request& req, RequestContext& c) {
      return bytes(req, c.tls_store_id.empty() ? "-" : c.tls_store_id, "text/plain");
    });
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(files_.dir);
  }
  void start(bool require_client_cert) {
    auto server_pem = ca_.issue("localhost", true);
    auto tls = server_tls_context(
        files_.write("server.pem", server_pem.cert), files_.write("server.key", server_pem.key),
        require_client_cert ? files_.write("ca.pem", ca_.cert_pem()) : std::string());
    ASSERT_TRUE(tls) << tls.error().message;
    ServerOptions o;
    o.port = 0;
    o.access_log = false;
    o.tls = *tls;
    server_ = std::make_unique<Server>(o, router_);
    ASSERT_TRUE(server_->start());
  }

  accrue::testing::TestCa ca_{"Accrue stores CA"};
  Files files_;
  Router router_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsTest, AStoresClientCertificateNamesTheStore) {
  start(true);
  auto store = ca_.issue("S7", false);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), &store, "/whoami"), "S7");
}

TEST_F(TlsTest, NoCertificateOrAStrangersCertificateGetsNoSession) {
  start(true);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), nullptr, "/whoami"), "");
  accrue::testing::TestCa other("Somebody else's CA");
  auto stranger = other.issue("S7", false);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), &stranger, "/whoami"), "");
  auto store = ca_.issue("S8", false);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), &store, "/whoami"), "S8")
      << "and the server still serves";
}

TEST_F(TlsTest, WithoutClientVerificationTlsStillWorksAndNamesNoStore) {
  start(false);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), nullptr, "/whoami"), "-");
}

TEST_F(TlsTest, PlainHttpOnATlsPortIsDroppedHarmlessly) {
  start(true);
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
  std::string req = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(s, asio::buffer(req));
  char buf[256];
  boost::system::error_code ec;
  size_t n = s.read_some(asio::buffer(buf), ec);
  EXPECT_TRUE(ec || std::string(buf, n).find("HTTP/1.1 200") == std::string::npos);
  auto store = ca_.issue("S9", false);
  EXPECT_EQ(https_get(server_->port(), ca_.cert_pem(), &store, "/whoami"), "S9");
}

TEST(TlsConfigTest, MissingOrBadFilesAreNamed) {
  auto r = server_tls_context("/nonexistent/cert.pem", "/nonexistent/key.pem", "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/cert.pem"), std::string::npos);
}

}  // namespace
}  // namespace accrue::cloud::http
