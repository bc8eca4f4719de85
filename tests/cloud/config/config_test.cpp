#include "cloud/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace accrue::cloud {
namespace {

class CloudConfigTest : public ::testing::Test {
 protected:
  std::string file(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() /
            ("accrue-cloud-config-" + std::to_string(::getpid()) + ".toml");
    std::ofstream(path_) << text;
    return path_.string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_;
};

TEST_F(CloudConfigTest, TheShippedExampleParsesOnceTheDsnIsGiven) {
  auto c =
      load_cloud_config("packaging/cloud/accrue-cloud.toml", {}, {"postgres.dsn=host=127.0.0.1"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->port, 8080u);
  EXPECT_EQ(c->scope_days, 90u);
}

TEST_F(CloudConfigTest, FileThenEnvironmentThenCommandLine) {
  auto f = file("[server]\nport = 9000\nworkers = 4\n[postgres]\ndsn = \"from-file\"\n");
  auto c = load_cloud_config(f, {{"ACCRUE_SERVER_PORT", "9100"}, {"ACCRUE_TEST_PG_DSN", "x"}},
                             {"server.workers=8"});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->port, 9100u) << "the environment beats the file";
  EXPECT_EQ(c->workers, 8u) << "--set beats both";
  EXPECT_EQ(c->pg_dsn, "from-file");
}

TEST_F(CloudConfigTest, BadKeysAndValuesAreNamedWithWhereTheyCameFrom) {
  auto unknown = load_cloud_config(file("[server]\nprot = 1\n"), {}, {});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("server.prot"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("unknown key"), std::string::npos);

  auto range =
      load_cloud_config(std::nullopt, {{"ACCRUE_SERVER_PORT", "70000"}}, {"postgres.dsn=x"});
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("server.port (environment ACCRUE_SERVER_PORT)"),
            std::string::npos)
      << range.error().message;

  auto type = load_cloud_config(file("[redis]\nport = \"6379\"\n"), {}, {"postgres.dsn=x"});
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().message.find("redis.port"), std::string::npos);

  auto missing = load_cloud_config(std::nullopt, {}, {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("postgres.dsn"), std::string::npos);

  auto half_tls = load_cloud_config(std::nullopt, {}, {"postgres.dsn=x", "tls.cert_file=a.pem"});
  ASSERT_FALSE(half_tls);
  EXPECT_NE(half_tls.error().message.find("tls."), std::string::npos);

  // Member sign-in: issuer and audience together, and an https issuer (http only on loopback).
  auto lone_issuer =
      load_cloud_config(std::nullopt, {}, {"postgres.dsn=x", "member_auth.issuer=https://id.test"});
  ASSERT_FALSE(lone_issuer);
  EXPECT_NE(lone_issuer.error().message.find("member_auth.audience"), std::string::npos);
  auto plain = load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=x", "member_auth.issuer=http://id.example", "member_auth.audience=app"});
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("member_auth.issuer"), std::string::npos);
  EXPECT_TRUE(load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=x", "member_auth.issuer=http://127.0.0.1:9999", "member_auth.audience=app"}));

  auto syntax = load_cloud_config(file("[server\nport = 1\n"), {}, {});
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find(":1"), std::string::npos) << syntax.error().message;

  EXPECT_EQ(load_cloud_config("/nonexistent.toml", {}, {}).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(load_cloud_config(std::nullopt, {}, {"postgres.dsn=x", "no-equals"}));
  EXPECT_FALSE(load_cloud_config(std::nullopt, {}, {"postgres.dsn=x", "server.access_log=maybe"}));
}

}  // namespace
}  // namespace accrue::cloud
