#include "agent/config/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/agent/agent_process.h"

namespace accrue::agent {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::string path = dir_ + "/agent.toml";
    std::ofstream(path) << text;
    return path;
  }
  Result<AgentConfig> load(const std::string& text) { return load_config_file(write(text), {}); }
  std::string dir_ = testing::temp_dir("accrue-config-");
};

TEST_F(ConfigTest, TheShippedExampleIsValid) {
  auto c = load_config_file("packaging/agent/accrue-agent.toml", {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->store_id, "store-0042");
  EXPECT_EQ(c->socket_mode, 0660u);
  EXPECT_EQ(c->readers, 4u);
  EXPECT_TRUE(validate_config(*c));
}

TEST_F(ConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::string text, want;
  };
  for (const auto& [text, want] : std::vector<Case>{
           {"bogus = 1\n", "config: bogus: unknown key"},
           {"[limits]\nreaders = 0\n", "config: limits.readers: must be between 1 and 64"},
           {"[limits]\nspeed = 3\n", "config: limits.speed: unknown key"},
           {"[limits]\nframe_timeout_ms = 50\n",
            "config: limits.frame_timeout_ms: must be between 100 and 600000"},
           {"[cloud]\nurl = 7\n", "config: cloud.url: must be a string"},
           {"[cloud]\nbatch_events = 0\n",
            "config: cloud.batch_events: must be between 1 and 10000"},
           {"[cloud]\nproxy = \"x\"\n", "config: cloud.proxy: unknown key"},
           {"tcp_port = \"80\"\n", "config: tcp_port: must be an integer"},
           {"tcp_port = 70000\n", "config: tcp_port: must be between 0 and 65535"},
           {"socket_mode = \"0999\"\n", "config: socket_mode: must be an octal string"},
           {"store_id = 5\n", "config: store_id: must be a string"},
           {"limits = 3\n", "config: limits: must be a table"},
       }) {
    auto c = load(text);
    ASSERT_FALSE(c) << text;
    EXPECT_TRUE(c.error().message.starts_with(want)) << c.error().message;
  }
  auto syntax = load("store_id = \"a\"\nthis is not toml\n");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find(":2:"), std::string::npos) << syntax.error().message;
  EXPECT_EQ(load_config_file(dir_ + "/missing.toml", {}).error().code, ErrorCode::kNotFound);
}

TEST_F(ConfigTest, ValidationCatchesBadValues) {
  AgentConfig c;
  EXPECT_EQ(validate_config(c).error().message.substr(0, 17), "config: store_id:");
  c.store_id = "store 1";
  EXPECT_FALSE(validate_config(c));
  c.store_id = "store-1";
  EXPECT_TRUE(validate_config(c));
  c.default_country = "XX";
  EXPECT_EQ(validate_config(c).error().message.substr(0, 24), "config: default_country:");
  c.default_country = "DE";
  c.currency = "EURO";
  EXPECT_FALSE(validate_config(c));
  c.currency = "EUR";
  c.log_level = "loud";
  EXPECT_FALSE(validate_config(c));
  c.log_level = "info";
  c.cloud_url = "ftp://cloud";
  EXPECT_EQ(validate_config(c).error().message.substr(0, 18), "config: cloud.url:");
  c.cloud_url = "https://cloud.example";
  EXPECT_NE(validate_config(c).error().message.find("needs a credential"), std::string::npos)
      << "a cloud url without a certificate or a token";
  c.cloud_cert_file = "/etc/accrue/store.crt";
  EXPECT_EQ(validate_config(c).error().message,
            "config: cloud.cert_file: cert_file and key_file go together");
  c.cloud_key_file = "/etc/accrue/store.key";
  EXPECT_TRUE(validate_config(c));
  c.io_threads = 0;  // from a flag: no thread would serve the socket
  EXPECT_EQ(validate_config(c).error().message,
            "config: limits.io_threads: must be between 1 and 64");
  c.io_threads = 2;
  c.readers = 0;
  EXPECT_FALSE(validate_config(c));
}

TEST_F(ConfigTest, ProgramKeyIsHexOrRawAndLongEnough) {
  std::ofstream(dir_ + "/hex") << std::string(64, 'f') << "\n";
  auto hex = read_program_key(dir_ + "/hex");
  ASSERT_TRUE(hex);
  EXPECT_EQ(hex->size(), 32u);
  EXPECT_EQ((*hex)[0], 0xff);
  std::ofstream(dir_ + "/short") << "tooshort";
  EXPECT_EQ(read_program_key(dir_ + "/short").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_program_key(dir_ + "/none").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace accrue::agent
