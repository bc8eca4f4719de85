// accrue-agent's configuration: a TOML file, then command-line flags on top. Every key is
// documented in packaging/agent/accrue-agent.toml and in `accrue-agent --help`. Unknown keys and
// bad values are errors that name the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace accrue::agent {

struct AgentConfig {
  std::string store_id;
  std::string agent_id;  // default: "<store_id>-agent"
  std::string data_dir = "/var/lib/accrue";
  std::string socket = "/run/accrue/agent.sock";
  unsigned socket_mode = 0660;
  uint16_t tcp_port = 0;  // 0 = no TCP listener; always 127.0.0.1
  std::string program_key_file = "/etc/accrue/program.key";
  std::string program_file;        // installed at start when newer than the replica's
  std::string default_country;     // ISO 3166-1 alpha-2, the store's: national phone numbers
                                   // and per-country rates, until the first sync (from then on
                                   // the cloud's store registry decides, through the feed)
  std::string currency = "EUR";    // the store's currency
  std::string time_zone;           // the store's, until the first sync (then the registry's);
                                   // empty: the programme's
  std::string log_level = "info";  // debug | info | warn | error
  uint32_t max_connections = 256;
  uint32_t max_frame_bytes = 1 << 20;
  uint32_t idle_timeout_s = 300;
  uint32_t frame_timeout_ms = 10000;  // a frame, once begun, must arrive whole within this
  uint32_t max_deadline_ms = 10000;
  uint32_t io_threads = 2;
  uint32_t readers = 4;
  uint32_t write_queue = 4096;
  uint32_t max_group = 512;

  // [cloud]: where events go. Empty url = no upload (the agent runs offline, its normal mode).
  std::string cloud_url;
  std::string cloud_token_file;         // store token (behind an ingress), sent as a bearer token
  std::string cloud_ca_file;            // CA bundle for the cloud's certificate (default: system)
  std::string cloud_cert_file;          // the store's client certificate (mutual TLS)
  std::string cloud_key_file;           // and its key
  std::string cloud_pinned_public_key;  // "sha256//<base64>", optional
  uint32_t cloud_connect_timeout_ms = 3000;
  uint32_t cloud_timeout_ms = 30000;
  uint32_t upload_batch_events = 1000;
  uint32_t upload_batch_bytes = 1 << 20;
  uint32_t upload_backoff_max_ms = 60000;
  uint32_t download_interval_ms = 5000;
  uint32_t backlog_download_interval_ms = 30000;  // while a backlog drains: uploads go first
  uint32_t lookup_timeout_ms = 300;   // an unknown identifier: the till waits this long at most
  uint32_t redeem_timeout_ms = 2000;  // an online redemption: then the offline rules decide
  // How often long-undecided online redemptions are looked for (not in the file: tests).
  uint32_t online_sweep_interval_ms = 10000;

  std::string database_path() const { return data_dir + "/replica.db"; }
};

// Reads `path` over `base`. Errors: kNotFound (no file), kInvalidArgument naming the key or the
// line of a syntax error.
Result<AgentConfig> load_config_file(const std::string& path, AgentConfig base);
// The keys (as written in the file: "limits.readers", "cloud.url") whose values differ.
std::vector<std::string> changed_keys(const AgentConfig& before, const AgentConfig& after);
// Checks the whole configuration (after flags were applied).
Result<void> validate_config(const AgentConfig& config);
// The program key: a file of at least 32 raw bytes, or 64+ hexadecimal digits.
Result<std::vector<uint8_t>> read_program_key(const std::string& path);

}  // namespace accrue::agent
