#include "online_cloud.h"

#include <boost/json.hpp>
#include <fstream>

#include "cloud/auth/jwt.h"
#include "cloud/core/app.h"
#include "cloud/core/generate.h"
#include "cloud/core/programs.h"
#include "cloud/core/store_auth.h"
#include "common/coupon.h"
#include "common/sys/system.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::testing {

struct OnlineCloud::State {
  TestDatabase db;
  std::unique_ptr<cloud::CloudApp> app;
  std::string hq_private_pem;  // signs the head-office tokens of claim()
};

std::unique_ptr<OnlineCloud> OnlineCloud::start(const std::string& dir, const std::string& store_id,
                                                int64_t customers, std::string& why) {
  if (service_env("ACCRUE_TEST_PG_DSN").empty()) {
    why = "ACCRUE_TEST_PG_DSN not set (packaging/dev/services start)";
    return nullptr;
  }
  std::unique_ptr<OnlineCloud> c(new OnlineCloud);
  c->state_ = std::make_unique<State>();
  auto& db = c->state_->db;
  if (!db.ok()) {
    why = "the test database could not be created";
    return nullptr;
  }
  auto conn = db.connect();
  std::ifstream in("packaging/demo/program.json");
  const std::string program((std::istreambuf_iterator<char>(in)), {});
  if (!conn || !cloud::ProgramCatalog::publish(*conn, program)) {
    why = "the demo programme could not be published";
    return nullptr;
  }
  // The store's members, known to the cloud by the same ids and cards (the agent's key).
  auto key = read_key_file(dir + "/key", "program key");
  ZoneinfoSource zones;
  cloud::ProgramCatalog catalog(zones);
  cloud::GenerateOptions g;
  g.customers = customers;
  g.receipts_per_customer = 5;  // past sales: points to show and to redeem
  if (key) g.program_key = *key;
  if (!key || !cloud::generate(*conn, catalog, g, {})) {
    why = "the store's members could not be generated in the cloud";
    return nullptr;
  }
  const std::string key_file = dir + "/store-token.key";
  std::ofstream(key_file) << std::string(64, 'c') << "\n";
  // Coupons: the cloud's signing key, and head office's token keys for claims.
  auto coupon_key = make_coupon_key_pem();
  auto hq_keys = cloud::auth::make_dev_keys("till-test");
  if (!coupon_key || !hq_keys) {
    why = "the test keys could not be made";
    return nullptr;
  }
  std::ofstream(dir + "/coupon.pem") << *coupon_key;
  std::ofstream(dir + "/jwks.json") << hq_keys->jwks_json;
  c->state_->hq_private_pem = hq_keys->private_pem;
  auto config = cloud::load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=" + db.dsn(), "server.port=0", "server.listen_address=127.0.0.1",
       "server.access_log=false", "auth.store_token_key_file=" + key_file, "log.level=warn",
       "auth.coupon_key_file=" + dir + "/coupon.pem", "auth.coupon_key_id=3",
       "auth.jwks_file=" + dir + "/jwks.json", "auth.issuer=https://hq.test",
       "auth.audience=accrue"});
  if (!config) {
    why = config.error().message;
    return nullptr;
  }
  auto app = cloud::CloudApp::create(*config);
  if (!app || !(*app)->start()) {
    why = "accrue-cloud did not start";
    return nullptr;
  }
  c->state_->app = std::move(*app);
  cloud::StoreTokens tokens(std::vector<uint8_t>(32, 0xcc));
  std::ofstream(dir + "/store.token")
      << tokens.issue(store_id, SystemClock().now_ms() / 1000 + 3600) << "\n";
  c->config_ = dir + "/agent-online.toml";
  std::ofstream(c->config_) << "[cloud]\nurl = \"http://127.0.0.1:" << c->state_->app->port()
                            << "\"\ntoken_file = \"" << dir << "/store.token\"\n"
                            << "download_interval_ms = 500\n";
  return c;
}

std::string OnlineCloud::claim(const std::string& customer_id, const std::string& reward_id,
                               std::string& why) {
  boost::json::object claims{{"iss", "https://hq.test"},
                             {"aud", "accrue"},
                             {"sub", "service-desk"},
                             {"exp", SystemClock().now_ms() / 1000 + 600},
                             {"roles", boost::json::array{"hq-support"}}};
  auto token =
      cloud::auth::sign_es256(state_->hq_private_pem, "till-test", boost::json::serialize(claims));
  if (!token) {
    why = token.error().message;
    return {};
  }
  HttpClient client(state_->app->port());
  const auto r =
      client.request(boost::beast::http::verb::post,
                     "/v1/customers/" + customer_id + "/rewards/" + reward_id + "/claims",
                     R"({"reason": "asked at the service desk"})",
                     {{"Authorization", "Bearer " + *token}, {"Content-Type", "application/json"}});
  if (r.result_int() != 201) {
    why = "claim: HTTP " + std::to_string(r.result_int()) + " " + r.body();
    return {};
  }
  boost::system::error_code ec;
  const auto body = boost::json::parse(r.body(), ec);
  const auto* code = ec ? nullptr : body.as_object().if_contains("code");
  if (!code || !code->is_string()) {
    why = "claim: no code in " + r.body();
    return {};
  }
  return std::string(code->as_string());
}

OnlineCloud::~OnlineCloud() {
  if (state_ && state_->app) state_->app->stop();
}

}  // namespace accrue::testing
