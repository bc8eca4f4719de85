#include "online_cloud.h"

#include <fstream>

#include "cloud/core/app.h"
#include "cloud/core/generate.h"
#include "cloud/core/programs.h"
#include "cloud/core/store_auth.h"
#include "common/sys/system.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::testing {

struct OnlineCloud::State {
  TestDatabase db;
  std::unique_ptr<cloud::CloudApp> app;
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
  auto config = cloud::load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=" + db.dsn(), "server.port=0", "server.listen_address=127.0.0.1",
       "server.access_log=false", "auth.store_token_key_file=" + key_file, "log.level=warn"});
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

OnlineCloud::~OnlineCloud() {
  if (state_ && state_->app) state_->app->stop();
}

}  // namespace accrue::testing
