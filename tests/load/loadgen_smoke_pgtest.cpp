// The load test's smoke run, in the default test run: the real accrue-loadgen binary against the
// real accrue-cloud (in this process, HTTP on 127.0.0.1) over PostgreSQL and Redis, with a small
// generated data set: 100 connections for 10 s, the case study's mix, every body checked. It
// asserts zero errors and correct bodies, never speed.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "cloud/auth/jwt.h"
#include "cloud/core/app.h"
#include "cloud/core/generate.h"
#include "common/sys/system.h"
#include "tests/cloud/cloud_fixture.h"
#include "tests/common/child_process.h"

namespace accrue::cloud {
namespace {

// The generator's exit code; 124 when it ran past a minute (and was killed).
int run_loadgen(const std::vector<std::string>& args, const std::string& out_path) {
  std::vector<std::string> argv = {ACCRUE_LOADGEN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return accrue::testing::wait_child(
             accrue::testing::start_child(accrue::testing::ChildSpec(argv).stdout_to(out_path)),
             std::chrono::minutes(1))
      .value_or(124);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(LoadgenSmokeTest, HundredConnectionsTenSecondsNoErrorsAndEveryBodyRight) {
  accrue::testing::TestDatabase db;
  ACCRUE_NEED_DATABASE(db);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("accrue-loadgen-smoke-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  auto conn = db.connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE(ProgramCatalog::publish(*conn, slurp("packaging/demo/program.json")));
  ZoneinfoSource zones;
  ProgramCatalog catalog(zones);
  GenerateOptions g;
  g.customers = 2000;
  g.receipts_per_customer = 3;
  g.csv_path = dir + "/customers.csv";
  ASSERT_TRUE(generate(*conn, catalog, g, {}));

  auto keys = auth::make_dev_keys("smoke");
  ASSERT_TRUE(keys);
  std::ofstream(dir + "/jwks.json") << keys->jwks_json;
  std::vector<std::string> settings = {"postgres.dsn=" + db.dsn(),
                                       "server.port=0",
                                       "server.listen_address=127.0.0.1",
                                       "server.access_log=false",
                                       "auth.jwks_file=" + dir + "/jwks.json",
                                       "hq.rate_limit_per_minute=100000000",
                                       "auth.issuer=https://smoke",
                                       "log.level=warn"};
  if (!accrue::testing::service_env("ACCRUE_TEST_REDIS_PORT").empty()) {
    settings.push_back("redis.host=" + accrue::testing::service_env("ACCRUE_TEST_REDIS_HOST"));
    settings.push_back("redis.port=" + accrue::testing::service_env("ACCRUE_TEST_REDIS_PORT"));
    settings.push_back("redis.key_prefix=smoke" + std::to_string(::getpid()) + ":");
  }
  auto config = load_cloud_config(std::nullopt, {}, settings);
  ASSERT_TRUE(config) << config.error().message;
  auto app = CloudApp::create(*config);
  ASSERT_TRUE(app) << app.error().message;
  ASSERT_TRUE((*app)->start());
  boost::json::object claims{{"iss", "https://smoke"},
                             {"aud", "accrue"},
                             {"sub", "smoke"},
                             {"exp", SystemClock().now_ms() / 1000 + 3600},
                             {"roles", boost::json::array{"hq-analyst"}}};
  auto token = auth::sign_es256(keys->private_pem, "smoke", boost::json::serialize(claims));
  ASSERT_TRUE(token);
  std::ofstream(dir + "/token") << *token << "\n";
  const std::string url = "http://127.0.0.1:" + std::to_string((*app)->port());

  const int rc =
      run_loadgen({"--url", url, "--customers", g.csv_path, "--token-file", dir + "/token", "-c",
                   "100", "--ramp-up", "1", "-d", "10", "--check-bodies", "--max-error-rate", "0",
                   "--json", dir + "/result.json", "--svg", dir + "/result.svg"},
                  dir + "/table.txt");
  const std::string table = slurp(dir + "/table.txt");
  std::printf("%s", table.c_str());
  EXPECT_EQ(rc, 0) << table;
  auto result = boost::json::parse(slurp(dir + "/result.json"));
  const auto& overall = result.at("overall").as_object();
  EXPECT_GT(overall.at("requests").as_int64(), 1000) << table;
  for (const auto& [name, n] : overall.at("errors").as_object()) {
    EXPECT_EQ(n.as_int64(), 0) << name << "\n" << table;
  }
  for (const char* e : {"status", "profile", "transactions"}) {
    EXPECT_GT(result.at("endpoints").at(e).at("requests").as_int64(), 0) << e;
  }
  EXPECT_GE(result.at("timeline").as_array().size(), 10u);
  EXPECT_TRUE(slurp(dir + "/result.svg").starts_with("<svg"));

  // The generator notices what is wrong: an unknown customer is a 404, counted, and exit 1.
  std::ofstream(dir + "/unknown.csv") << "customer_id\nno-such-customer\n";
  const int bad = run_loadgen(
      {"--url", url, "--customers", dir + "/unknown.csv", "--token-file", dir + "/token", "-c", "2",
       "-n", "20", "-d", "5", "--max-error-rate", "0", "--json", dir + "/bad.json"},
      dir + "/bad.txt");
  EXPECT_EQ(bad, 1) << slurp(dir + "/bad.txt");
  auto bad_result = boost::json::parse(slurp(dir + "/bad.json"));
  EXPECT_EQ(bad_result.at("overall").at("errors").at("http_4xx").as_int64(), 20)
      << slurp(dir + "/bad.txt");

  (*app)->stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace accrue::cloud
