#include "agent/config/config.h"

#include "common/sys/system.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "common/identifier.h"
#include "common/money.h"

namespace accrue::agent {
namespace {

Error bad(const std::string& key, const std::string& what) {
  return {ErrorCode::kInvalidArgument, "config: " + key + ": " + what};
}

// `name` is the key as the user wrote it, e.g. "limits.readers".
template <typename T>
Result<void> get_uint(const toml::table& t, const std::string& key, T& out, uint64_t lo,
                      uint64_t hi, const std::string& name) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  auto v = n->value<int64_t>();
  if (!v || !n->is_integer()) return std::unexpected(bad(name, "must be an integer"));
  if (*v < static_cast<int64_t>(lo) || static_cast<uint64_t>(*v) > hi) {
    return std::unexpected(
        bad(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi)));
  }
  out = static_cast<T>(*v);
  return {};
}

Result<void> get_string(const toml::table& t, const std::string& key, std::string& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if (!n->is_string()) return std::unexpected(bad(key, "must be a string"));
  out = *n->value<std::string>();
  return {};
}

}  // namespace

Result<AgentConfig> load_config_file(const std::string& path, AgentConfig c) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kNotFound, "config: cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (1u << 20)) return std::unexpected(bad(path, "larger than 1 MiB"));
  toml::table t;
  try {
    t = toml::parse(ss.str(), path);
  } catch (const toml::parse_error& e) {
    return fail(ErrorCode::kInvalidArgument, "config: " + path + ":" +
                                                 std::to_string(e.source().begin.line) + ": " +
                                                 std::string(e.description()));
  }
  static const std::set<std::string> kKnown = {
      "store_id",         "agent_id",     "data_dir",        "socket",   "socket_mode", "tcp_port",
      "program_key_file", "program_file", "default_country", "currency", "time_zone",   "log_level",
      "limits",           "cloud"};
  static const std::set<std::string> kLimits = {
      "max_connections", "max_frame_bytes", "idle_timeout_s", "frame_timeout_ms", "max_deadline_ms",
      "io_threads",      "readers",         "write_queue",    "max_group"};
  for (const auto& [k, v] : t) {
    if (!kKnown.contains(std::string(k.str()))) {
      return std::unexpected(bad(std::string(k.str()), "unknown key"));
    }
  }
  const std::pair<const char*, std::string*> strings[] = {{"store_id", &c.store_id},
                                                          {"agent_id", &c.agent_id},
                                                          {"data_dir", &c.data_dir},
                                                          {"socket", &c.socket},
                                                          {"program_key_file", &c.program_key_file},
                                                          {"program_file", &c.program_file},
                                                          {"default_country", &c.default_country},
                                                          {"currency", &c.currency},
                                                          {"time_zone", &c.time_zone},
                                                          {"log_level", &c.log_level}};
  for (const auto& [key, target] : strings) ACCRUE_TRY(get_string(t, key, *target));
  if (const toml::node* n = t.get("socket_mode")) {
    auto s = n->value<std::string>();
    if (!s || s->empty() || s->size() > 4 ||
        s->find_first_not_of("01234567") != std::string::npos) {
      return std::unexpected(bad("socket_mode", "must be an octal string like \"0660\""));
    }
    c.socket_mode = static_cast<unsigned>(std::stoul(*s, nullptr, 8));
  }
  ACCRUE_TRY(get_uint(t, "tcp_port", c.tcp_port, 0, 65535, "tcp_port"));
  if (const toml::node* n = t.get("limits")) {
    const toml::table* lt = n->as_table();
    if (!lt) return std::unexpected(bad("limits", "must be a table"));
    for (const auto& [k, v] : *lt) {
      if (!kLimits.contains(std::string(k.str()))) {
        return std::unexpected(bad("limits." + std::string(k.str()), "unknown key"));
      }
    }
    auto lim = [&](const char* key, uint32_t& out, uint64_t lo, uint64_t hi) {
      return get_uint(*lt, key, out, lo, hi, std::string("limits.") + key);
    };
    ACCRUE_TRY(lim("max_connections", c.max_connections, 1, 10000));
    ACCRUE_TRY(lim("max_frame_bytes", c.max_frame_bytes, 1024, 1 << 20));
    ACCRUE_TRY(lim("idle_timeout_s", c.idle_timeout_s, 1, 86400));
    ACCRUE_TRY(lim("frame_timeout_ms", c.frame_timeout_ms, 100, 600000));
    ACCRUE_TRY(lim("max_deadline_ms", c.max_deadline_ms, 10, 600000));
    ACCRUE_TRY(lim("io_threads", c.io_threads, 1, 64));
    ACCRUE_TRY(lim("readers", c.readers, 1, 64));
    ACCRUE_TRY(lim("write_queue", c.write_queue, 1, 1000000));
    ACCRUE_TRY(lim("max_group", c.max_group, 1, 100000));
  }
  if (const toml::node* n = t.get("cloud")) {
    const toml::table* ct = n->as_table();
    if (!ct) return std::unexpected(bad("cloud", "must be a table"));
    static const std::set<std::string> kCloud = {"url",
                                                 "token_file",
                                                 "ca_file",
                                                 "cert_file",
                                                 "key_file",
                                                 "pinned_public_key",
                                                 "connect_timeout_ms",
                                                 "timeout_ms",
                                                 "batch_events",
                                                 "batch_bytes",
                                                 "backoff_max_ms",
                                                 "download_interval_ms",
                                                 "backlog_download_interval_ms",
                                                 "lookup_timeout_ms",
                                                 "redeem_timeout_ms"};
    for (const auto& [k, v] : *ct) {
      if (!kCloud.contains(std::string(k.str()))) {
        return std::unexpected(bad("cloud." + std::string(k.str()), "unknown key"));
      }
    }
    const std::pair<const char*, std::string*> cloud_strings[] = {
        {"url", &c.cloud_url},           {"token_file", &c.cloud_token_file},
        {"ca_file", &c.cloud_ca_file},   {"cert_file", &c.cloud_cert_file},
        {"key_file", &c.cloud_key_file}, {"pinned_public_key", &c.cloud_pinned_public_key}};
    for (const auto& [key, target] : cloud_strings) {
      const toml::node* v = ct->get(key);
      if (!v) continue;
      if (!v->is_string())
        return std::unexpected(bad(std::string("cloud.") + key, "must be a string"));
      *target = *v->value<std::string>();
    }
    auto num = [&](const char* key, uint32_t& out, uint64_t lo, uint64_t hi) {
      return get_uint(*ct, key, out, lo, hi, std::string("cloud.") + key);
    };
    ACCRUE_TRY(num("connect_timeout_ms", c.cloud_connect_timeout_ms, 100, 60000));
    ACCRUE_TRY(num("timeout_ms", c.cloud_timeout_ms, 100, 600000));
    ACCRUE_TRY(num("batch_events", c.upload_batch_events, 1, 10000));
    ACCRUE_TRY(num("batch_bytes", c.upload_batch_bytes, 1024, 16u << 20));
    ACCRUE_TRY(num("backoff_max_ms", c.upload_backoff_max_ms, 100, 3600000));
    ACCRUE_TRY(num("download_interval_ms", c.download_interval_ms, 100, 3600000));
    ACCRUE_TRY(num("backlog_download_interval_ms", c.backlog_download_interval_ms, 100, 3600000));
    ACCRUE_TRY(num("lookup_timeout_ms", c.lookup_timeout_ms, 50, 10000));
    ACCRUE_TRY(num("redeem_timeout_ms", c.redeem_timeout_ms, 100, 10000));
  }
  return c;
}

Result<void> validate_config(const AgentConfig& c) {
  auto id_ok = [](const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char ch : s) {
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'))
        return false;
    }
    return true;
  };
  if (!id_ok(c.store_id)) {
    return std::unexpected(
        bad("store_id", "is required: 1 to 64 letters, digits, '-', '_' or '.'"));
  }
  if (!c.agent_id.empty() && !id_ok(c.agent_id)) {
    return std::unexpected(bad("agent_id", "1 to 64 letters, digits, '-', '_' or '.'"));
  }
  if (c.data_dir.empty()) return std::unexpected(bad("data_dir", "is required"));
  if (c.socket.size() >= 108) return std::unexpected(bad("socket", "path longer than 107 bytes"));
  if (c.socket.empty() && c.tcp_port == 0) {
    return std::unexpected(
        bad("socket", "set a socket path or a tcp_port, or there is nothing to listen on"));
  }
  if (!c.default_country.empty() && !calling_code(c.default_country)) {
    return std::unexpected(bad("default_country", "not a supported ISO 3166-1 alpha-2 code"));
  }
  if (!Currency::from_code(c.currency)) {
    return std::unexpected(bad("currency", "not an active ISO 4217 code"));
  }
  // The same bounds as the file's [limits] table, for values that came from flags.
  const struct {
    const char* name;
    uint32_t value, lo, hi;
  } limits[] = {{"limits.max_connections", c.max_connections, 1, 10000},
                {"limits.max_frame_bytes", c.max_frame_bytes, 1024, 1 << 20},
                {"limits.idle_timeout_s", c.idle_timeout_s, 1, 86400},
                {"limits.frame_timeout_ms", c.frame_timeout_ms, 100, 600000},
                {"limits.max_deadline_ms", c.max_deadline_ms, 10, 600000},
                {"limits.io_threads", c.io_threads, 1, 64},
                {"limits.readers", c.readers, 1, 64},
                {"limits.write_queue", c.write_queue, 1, 1000000},
                {"limits.max_group", c.max_group, 1, 100000}};
  for (const auto& l : limits) {
    if (l.value < l.lo || l.value > l.hi) {
      return std::unexpected(
          bad(l.name, "must be between " + std::to_string(l.lo) + " and " + std::to_string(l.hi)));
    }
  }
  if (!c.cloud_url.empty()) {
    if (!c.cloud_url.starts_with("https://") && !c.cloud_url.starts_with("http://")) {
      return std::unexpected(bad("cloud.url", "must start with https:// (or http://)"));
    }
    if (c.cloud_cert_file.empty() != c.cloud_key_file.empty()) {
      return std::unexpected(bad("cloud.cert_file", "cert_file and key_file go together"));
    }
    if (c.cloud_cert_file.empty() && c.cloud_token_file.empty()) {
      return std::unexpected(
          bad("cloud.url", "the store needs a credential: cert_file + key_file, or token_file"));
    }
  }
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    return std::unexpected(bad("log_level", "debug, info, warn or error"));
  }
  return {};
}

std::vector<std::string> changed_keys(const AgentConfig& a, const AgentConfig& b) {
  std::vector<std::string> out;
  auto cmp = [&](const char* key, const auto& x, const auto& y) {
    if (x != y) out.emplace_back(key);
  };
  cmp("store_id", a.store_id, b.store_id);
  cmp("agent_id", a.agent_id, b.agent_id);
  cmp("data_dir", a.data_dir, b.data_dir);
  cmp("socket", a.socket, b.socket);
  cmp("socket_mode", a.socket_mode, b.socket_mode);
  cmp("tcp_port", a.tcp_port, b.tcp_port);
  cmp("program_key_file", a.program_key_file, b.program_key_file);
  cmp("program_file", a.program_file, b.program_file);
  cmp("default_country", a.default_country, b.default_country);
  cmp("currency", a.currency, b.currency);
  cmp("time_zone", a.time_zone, b.time_zone);
  cmp("log_level", a.log_level, b.log_level);
  cmp("limits.max_connections", a.max_connections, b.max_connections);
  cmp("limits.max_frame_bytes", a.max_frame_bytes, b.max_frame_bytes);
  cmp("limits.idle_timeout_s", a.idle_timeout_s, b.idle_timeout_s);
  cmp("limits.frame_timeout_ms", a.frame_timeout_ms, b.frame_timeout_ms);
  cmp("limits.max_deadline_ms", a.max_deadline_ms, b.max_deadline_ms);
  cmp("limits.io_threads", a.io_threads, b.io_threads);
  cmp("limits.readers", a.readers, b.readers);
  cmp("limits.write_queue", a.write_queue, b.write_queue);
  cmp("limits.max_group", a.max_group, b.max_group);
  cmp("cloud.url", a.cloud_url, b.cloud_url);
  cmp("cloud.token_file", a.cloud_token_file, b.cloud_token_file);
  cmp("cloud.ca_file", a.cloud_ca_file, b.cloud_ca_file);
  cmp("cloud.cert_file", a.cloud_cert_file, b.cloud_cert_file);
  cmp("cloud.key_file", a.cloud_key_file, b.cloud_key_file);
  cmp("cloud.pinned_public_key", a.cloud_pinned_public_key, b.cloud_pinned_public_key);
  cmp("cloud.connect_timeout_ms", a.cloud_connect_timeout_ms, b.cloud_connect_timeout_ms);
  cmp("cloud.timeout_ms", a.cloud_timeout_ms, b.cloud_timeout_ms);
  cmp("cloud.batch_events", a.upload_batch_events, b.upload_batch_events);
  cmp("cloud.batch_bytes", a.upload_batch_bytes, b.upload_batch_bytes);
  cmp("cloud.backoff_max_ms", a.upload_backoff_max_ms, b.upload_backoff_max_ms);
  cmp("cloud.download_interval_ms", a.download_interval_ms, b.download_interval_ms);
  cmp("cloud.backlog_download_interval_ms", a.backlog_download_interval_ms,
      b.backlog_download_interval_ms);
  cmp("cloud.lookup_timeout_ms", a.lookup_timeout_ms, b.lookup_timeout_ms);
  cmp("cloud.redeem_timeout_ms", a.redeem_timeout_ms, b.redeem_timeout_ms);
  return out;
}

Result<std::vector<uint8_t>> read_program_key(const std::string& path) {
  return read_key_file(path, "program key");
}

}  // namespace accrue::agent
