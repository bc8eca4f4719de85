// The whole accrue-cloud service in this process on a throwaway PostgreSQL database, with the demo
// programme published, a store token and head-office tokens, and helpers that build agent events.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "cloud/auth/jwt.h"
#include "cloud/core/app.h"
#include "cloud/core/audit.h"
#include "common/engine/earn.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::cloud::testing_support {

namespace sv1 = accrue::sync::v1;
namespace bhttp = boost::beast::http;
using accrue::testing::HttpClient;
using accrue::testing::TestDatabase;

constexpr const char* kStore = "S1";
constexpr const char* kAgent = "S1-agent";
const std::string kKeyHex(64, 'b');

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class CloudAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACCRUE_NEED_DATABASE(db_);
    dir_ = std::filesystem::temp_directory_path() /
           ("accrue-ingest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_));
    std::filesystem::create_directories(dir_);
    key_file_ = (dir_ / "store.key").string();
    std::ofstream(key_file_) << kKeyHex << "\n";
    auto hq_keys = auth::make_dev_keys("test-key");
    ASSERT_TRUE(hq_keys);
    hq_keys_ = *hq_keys;
    std::ofstream((dir_ / "jwks.json").string()) << hq_keys_.jwks_json;
    std::vector<std::string> settings = extra_settings();
    settings.insert(
        settings.end(),
        {"postgres.dsn=" + db_.dsn(), "server.port=0", "server.listen_address=127.0.0.1",
         "auth.store_token_key_file=" + key_file_, "server.access_log=false",
         "server.body_limit_bytes=262144", "sync.max_inflated_bytes=1048576",
         "auth.jwks_file=" + (dir_ / "jwks.json").string(), "auth.issuer=https://hq.test",
         "auth.audience=accrue", "postgres.pool_size=8", "scheduler.enabled=false"});
    settings_ = settings;
    restart_app();
    if (HasFatalFailure()) return;
    auto conn = db_.connect();
    ASSERT_TRUE(conn);
    program_json_ = program_json();
    auto published = ProgramCatalog::publish(*conn, program_json_);
    ASSERT_TRUE(published) << published.error().message;
    program_ = std::move(*published);
    StoreTokens tokens(std::vector<uint8_t>(32, 0xbb));
    token_ = tokens.issue(kStore, SystemClock().now_ms() / 1000 + 3600);
    other_token_ = tokens.issue("S2", SystemClock().now_ms() / 1000 + 3600);
    expired_token_ = tokens.issue(kStore, SystemClock().now_ms() / 1000 - 10);
  }
  // Settings a derived fixture adds (applied first; the fixture's own follow).
  virtual std::vector<std::string> extra_settings() { return {}; }
  // The programme published at the start (the demo's unless a fixture changes it).
  virtual std::string program_json() { return read_file("packaging/demo/program.json"); }

  // Stops the service (if running) and starts a new one on the same settings and database,
  // as a replica restart would (on a new port: port() changes). `more` settings go last.
  void restart_app(const std::vector<std::string>& more = {}) {
    app_.reset();
    auto settings = settings_;
    settings.insert(settings.end(), more.begin(), more.end());
    auto config = load_cloud_config(std::nullopt, {}, settings);
    ASSERT_TRUE(config) << config.error().message;
    auto app = CloudApp::create(*config);
    ASSERT_TRUE(app) << app.error().message;
    app_ = std::move(*app);
    ASSERT_TRUE(app_->start());
  }

  void TearDown() override {
    app_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Customers c0..c(n-1), bronze, with empty balances, straight into the database.
  void add_customers(int n) {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec(("INSERT INTO customer (customer_id, tier_id) SELECT 'c' || i, 'bronze' "
                         "FROM generate_series(0, " +
                         std::to_string(n - 1) +
                         ") i;"
                         "INSERT INTO balance (customer_id) SELECT 'c' || i "
                         "FROM generate_series(0, " +
                         std::to_string(n - 1) + ") i")
                            .c_str()));
  }

  // A head-office token with these roles, valid for an hour.
  std::string hq_token(std::vector<std::string> roles, int64_t valid_s = 3600) {
    return hq_token_for("tester", std::move(roles), valid_s);
  }
  std::string hq_token_for(const std::string& subject, std::vector<std::string> roles,
                           int64_t valid_s = 3600) {
    boost::json::object c;
    c["iss"] = "https://hq.test";
    c["aud"] = "accrue";
    c["sub"] = subject;
    c["exp"] = clock_.now_ms() / 1000 + valid_s;
    boost::json::array r;
    for (auto& x : roles) r.push_back(boost::json::value(x));
    c["roles"] = r;
    return *auth::sign_es256(hq_keys_.private_pem, "test-key", boost::json::serialize(c));
  }

  HttpClient::Response get(const std::string& target, const std::string& token) {
    HttpClient client(app_->port());
    return client.request(bhttp::verb::get, target, "", {{"Authorization", "Bearer " + token}});
  }

  sv1::EventEnvelope envelope(uint64_t seq) {
    sv1::EventEnvelope e;
    e.set_event_id(ids_.next().to_string());
    e.set_store_id(kStore);
    e.set_agent_id(kAgent);
    e.set_seq(seq);
    e.set_occurred_at_ms(clock_.now_ms());
    e.set_program_id(program_.program_id);
    e.set_program_version(program_.version);
    e.set_schema_version(1);
    return e;
  }

  static loyalty::v1::Basket basket(int64_t amount_minor) {
    loyalty::v1::Basket b;
    b.set_currency("EUR");
    b.set_occurred_at_ms(SystemClock().now_ms());
    auto* l = b.add_lines();
    l->set_line_no(1);
    l->set_sku("TEE");
    l->add_categories("tops");
    l->set_quantity_milli(1000);
    l->set_amount_minor(amount_minor);
    return b;
  }

  // What the domain core gives a bronze member for the basket.
  int64_t points_for(const loyalty::v1::Basket& b) {
    auto basket = wire::basket_from_proto(b);
    auto zone = zones_.load(program_.time_zone);
    auto e = compute_earn(program_, *basket, {"bronze", 0, &*zone});
    return e ? e->points : -1;
  }

  sv1::EventEnvelope accrual(uint64_t seq, const std::string& customer, int64_t amount_minor,
                             const std::string& pos_tx) {
    auto e = envelope(seq);
    auto* a = e.mutable_accrual();
    a->set_customer_id(customer);
    a->set_till_id("till-1");
    a->set_pos_tx_id(pos_tx);
    *a->mutable_basket() = basket(amount_minor);
    a->set_points(points_for(a->basket()));
    return e;
  }

  HttpClient::Response post(const sv1::EventBatch& batch, const std::string& token,
                            bool compress = false) {
    HttpClient client(app_->port());
    std::string body = batch.SerializeAsString();
    if (compress) {
      return client.request(bhttp::verb::post, "/v1/sync/events", gzip(body),
                            {{"Authorization", "Bearer " + token},
                             {"Content-Type", "application/x-protobuf"},
                             {"Content-Encoding", "gzip"}});
    }
    return client.request(
        bhttp::verb::post, "/v1/sync/events", body,
        {{"Authorization", "Bearer " + token}, {"Content-Type", "application/x-protobuf"}});
  }

  sv1::EventBatchResult results(const HttpClient::Response& res) {
    sv1::EventBatchResult r;
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_TRUE(r.ParseFromString(res.body()));
    return r;
  }

  sv1::EventBatch batch_of(std::vector<sv1::EventEnvelope> events) {
    sv1::EventBatch b;
    b.set_store_id(kStore);
    b.set_agent_id(kAgent);
    for (auto& e : events) *b.add_events() = std::move(e);
    return b;
  }

  static inline int counter_ = 0;
  TestDatabase db_;
  std::filesystem::path dir_;
  std::string key_file_, program_json_, token_, other_token_, expired_token_;
  std::vector<std::string> settings_;
  std::unique_ptr<CloudApp> app_;
  auth::DevKeys hq_keys_;
  Program program_;
  SystemClock clock_;
  SystemRandom random_;
  ZoneinfoSource zones_;
  UuidV7Generator ids_{clock_, random_};
};

}  // namespace accrue::cloud::testing_support
