// accrue-cloud's configuration. Every key has one name ("section.key"), one type, one range and
// one line of help; it can be set in the TOML file, overridden by the environment
// (ACCRUE_SECTION_KEY, for Kubernetes) and then by `--set section.key=value` on the command line.
// Unknown keys and bad values are errors naming the key and where it came from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace accrue::cloud {

struct CloudConfig {
  // [server]
  std::string listen_address = "0.0.0.0";
  uint64_t port = 8080;
  uint64_t io_threads = 2;
  uint64_t workers = 32;
  uint64_t max_connections = 10000;
  uint64_t max_in_flight = 4096;
  uint64_t header_limit_bytes = 16 * 1024;
  uint64_t body_limit_bytes = 8 * 1024 * 1024;
  uint64_t read_timeout_ms = 30'000;
  uint64_t idle_timeout_ms = 75'000;
  uint64_t write_timeout_ms = 30'000;
  uint64_t drain_grace_ms = 20'000;
  bool access_log = true;
  // [postgres]
  std::string pg_dsn;
  uint64_t pg_pool_size = 16;
  uint64_t pg_acquire_timeout_ms = 2000;
  uint64_t pg_connect_timeout_s = 5;
  uint64_t pg_answer_timeout_ms = 10'000;
  uint64_t pg_down_cooldown_ms = 1000;
  bool migrate_at_start = false;
  bool pg_prepared_statements = true;
  // [redis]
  std::string redis_host;
  uint64_t redis_port = 6379;
  uint64_t redis_timeout_ms = 50;
  uint64_t cache_ttl_s = 300;
  std::string cache_key_prefix = "accrue:";
  // [sync]
  uint64_t max_batch_events = 2000;
  uint64_t max_inflated_bytes = 64 * 1024 * 1024;
  uint64_t scope_days = 90;
  uint64_t feed_retention_days = 30;  // change-feed rows older than this are pruned
  // [tls]
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::string tls_client_crl_file;
  // [auth]
  std::string store_token_key_file;
  std::string jwks_file;
  std::string jwt_issuer;
  std::string jwt_audience = "accrue";
  std::string identifier_key_file;
  std::string contact_key_file;
  std::string coupon_key_file;
  uint64_t coupon_key_id = 1;
  // [member_auth]: members signing in with the chain's OpenID Connect provider (member API)
  std::string member_issuer;
  std::string member_audience;
  uint64_t member_jwks_refresh_s = 3600;
  uint64_t member_jwks_min_refresh_s = 30;
  uint64_t member_rate_limit_per_minute = 120;
  uint64_t member_write_rate_limit_per_minute = 20;
  // [hq]
  uint64_t hq_rate_limit_per_minute = 60'000;
  uint64_t hq_write_rate_limit_per_minute = 6'000;
  uint64_t hq_idempotency_ttl_s = 86'400;
  bool hq_webhooks_allow_http = false;
  uint64_t hq_webhook_backoff_base_ms = 10'000;
  uint64_t hq_webhook_max_attempts = 15;
  uint64_t hq_webhook_poll_ms = 500;
  // [search]
  std::string search_backend = "postgres";  // postgres | elasticsearch
  std::string search_url;
  std::string search_alias = "accrue-customers";
  std::string search_api_key_file;
  std::string search_ca_file;
  uint64_t search_timeout_ms = 5000;
  uint64_t search_batch = 500;
  uint64_t search_poll_ms = 1000;
  // [scheduler]
  bool scheduler_enabled = true;
  std::string scheduler_run_at = "02:00";  // programme-local HH:MM
  uint64_t scheduler_poll_ms = 60'000;
  // [log]
  std::string log_level = "info";
};

// scheduler.run_at as minutes after local midnight ("02:00" -> 120); -1 when malformed.
int run_at_minute(std::string_view hh_mm);

// The documentation of every key, for --help: "key (type, default): help".
std::string describe_config_keys();

using Environment = std::map<std::string, std::string>;
Environment process_environment();

// file (optional) -> environment -> overrides ("key=value"), then validated.
// Errors: kNotFound (no such file), kInvalidArgument naming the key and its source.
Result<CloudConfig> load_cloud_config(const std::optional<std::string>& file,
                                      const Environment& env,
                                      const std::vector<std::string>& overrides);

}  // namespace accrue::cloud
