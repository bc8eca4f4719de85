// accrue-agent: the store daemon. `accrue-agent --config FILE` runs it; `accrue-agent seed`
// fills a replica with synthetic members for tests and demos.
#include <signal.h>
#include <sqlite3.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "agent/core/agent.h"
#include "agent/store/seed.h"
#include "common/sys/log.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"

namespace {

using namespace accrue;
using namespace accrue::agent;

int report(const Error& e) {
  log(LogLevel::kError, "fatal",
      {{"code", std::string(to_string(e.code))}, {"message", e.message}});
  std::cerr << "accrue-agent: " << e.message << "\n";
  return exit_code(e.code);
}

void add_config_flags(CLI::App& app, AgentConfig& c, std::string& config_file) {
  app.add_option("-c,--config", config_file, "TOML configuration file (flags override it)");
  app.add_option("--store-id", c.store_id, "This store's id (required)");
  app.add_option("--agent-id", c.agent_id, "This agent's id (default: <store-id>-agent)");
  app.add_option("--data-dir", c.data_dir, "Directory of the replica (replica.db)")
      ->capture_default_str();
  app.add_option("--socket", c.socket, "Unix socket path; empty to disable")->capture_default_str();
  app.add_option("--tcp-port", c.tcp_port, "Also listen on 127.0.0.1:PORT (0 = off)")
      ->capture_default_str();
  app.add_option("--program-key-file", c.program_key_file,
                 "Secret key for identifier hashes (32+ bytes or 64+ hex digits)")
      ->capture_default_str();
  app.add_option("--program-file", c.program_file,
                 "Program (protobuf JSON) to install when newer than the replica's");
  app.add_option("--default-country", c.default_country,
                 "ISO 3166-1 alpha-2 country for national phone numbers");
  app.add_option("--currency", c.currency, "The store's ISO 4217 currency")->capture_default_str();
  app.add_option("--time-zone", c.time_zone, "IANA time zone overriding the program's");
  app.add_option("--log-level", c.log_level, "debug, info, warn or error")->capture_default_str();
  app.add_option("--max-connections", c.max_connections, "Concurrent connections")
      ->capture_default_str();
  app.add_option("--idle-timeout", c.idle_timeout_s, "Seconds before an idle connection closes")
      ->capture_default_str();
  app.add_option("--frame-timeout-ms", c.frame_timeout_ms,
                 "Milliseconds a request may take to arrive once its first byte has")
      ->capture_default_str();
  app.add_option("--io-threads", c.io_threads, "Socket threads")->capture_default_str();
  app.add_option("--readers", c.readers, "Read-only replica connections")->capture_default_str();
}

// Flags beat the file: parse the file into a fresh config, then re-apply what was given.
Result<AgentConfig> effective_config(CLI::App& app, const AgentConfig& flags,
                                     const std::string& config_file) {
  if (config_file.empty()) return flags;
  auto from_file = load_config_file(config_file, AgentConfig{});
  if (!from_file) return from_file;
  AgentConfig c = *from_file;
  auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
  if (given("--store-id")) c.store_id = flags.store_id;
  if (given("--agent-id")) c.agent_id = flags.agent_id;
  if (given("--data-dir")) c.data_dir = flags.data_dir;
  if (given("--socket")) c.socket = flags.socket;
  if (given("--tcp-port")) c.tcp_port = flags.tcp_port;
  if (given("--program-key-file")) c.program_key_file = flags.program_key_file;
  if (given("--program-file")) c.program_file = flags.program_file;
  if (given("--default-country")) c.default_country = flags.default_country;
  if (given("--currency")) c.currency = flags.currency;
  if (given("--time-zone")) c.time_zone = flags.time_zone;
  if (given("--log-level")) c.log_level = flags.log_level;
  if (given("--max-connections")) c.max_connections = flags.max_connections;
  if (given("--idle-timeout")) c.idle_timeout_s = flags.idle_timeout_s;
  if (given("--frame-timeout-ms")) c.frame_timeout_ms = flags.frame_timeout_ms;
  if (given("--io-threads")) c.io_threads = flags.io_threads;
  if (given("--readers")) c.readers = flags.readers;
  return c;
}

int run(CLI::App& app, const AgentConfig& flags, const std::string& config_file) {
  auto config = effective_config(app, flags, config_file);
  if (!config) return report(config.error());
  if (auto v = validate_config(*config); !v) return report(v.error());
  LogLevel level;
  parse_log_level(config->log_level, level);
  set_log_level(level);

  // Signals are taken synchronously by this thread; every other thread has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  (void)::signal(SIGPIPE, SIG_IGN);  // fails only for an invalid signal number

  auto agent = Agent::start(*config);
  if (!agent) return report(agent.error());
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      // The file is read again (flags still win); what can change under running connections
      // does, the rest waits for a restart and is named in the log. A bad file changes nothing.
      auto reloaded = effective_config(app, flags, config_file);
      auto outcome = reloaded ? (*agent)->reload(*reloaded)
                              : Result<ReloadOutcome>(std::unexpected(reloaded.error()));
      if (!outcome) {
        log(LogLevel::kWarn, "config_reload_failed", {{"message", outcome.error().message}});
        continue;
      }
      auto join = [](const std::vector<std::string>& keys) {
        std::string s;
        for (const auto& k : keys) s += (s.empty() ? "" : ",") + k;
        return s;
      };
      log(LogLevel::kInfo, "config_reloaded", {{"applied", join(outcome->applied)}});
      if (!outcome->need_restart.empty()) {
        log(LogLevel::kWarn, "config_change_needs_restart",
            {{"keys", join(outcome->need_restart)}});
      }
      continue;
    }
    log(LogLevel::kInfo, "stopping", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
    (*agent)->stop();
    return 0;
  }
}

int seed(const AgentConfig& flags, const std::string& program_path, int64_t customers) {
  std::ifstream in(program_path);
  if (!in) return report({ErrorCode::kNotFound, "cannot open " + program_path});
  std::stringstream ss;
  ss << in.rdbuf();
  auto program = wire::program_from_json(ss.str());
  if (!program) return report({program.error().code, "program: " + program.error().message});
  auto key = read_program_key(flags.program_key_file);
  if (!key) return report(key.error());
  auto hasher = IdentifierHasher::create(*key);
  if (!hasher) return report(hasher.error());
  std::error_code ec;
  std::filesystem::create_directories(flags.data_dir, ec);
  auto r = seed_replica({flags.data_dir + "/replica.db", flags.store_id, customers, 0}, *program,
                        *hasher);
  if (!r) return report(r.error());
  std::cout << "seeded " << r->customers << " members into " << flags.data_dir << "/replica.db in "
            << r->seconds << " s\n";
  return 0;
}

int run(int argc, char** argv) {
  // SQLite's memory statistics take a global mutex on every allocation, which every reader and
  // the writer would share; nothing here reads them.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  CLI::App app{"accrue-agent — the Accrue store daemon"};
  AgentConfig flags;
  std::string config_file;
  add_config_flags(app, flags, config_file);

  auto* seed_cmd = app.add_subcommand("seed", "Fill a replica with synthetic members");
  seed_cmd->fallthrough();  // --store-id, --data-dir ... may follow "seed"
  std::string program_path;
  int64_t customers = 1000;
  seed_cmd->add_option("--program", program_path, "Program file (protobuf JSON)")->required();
  seed_cmd->add_option("--customers", customers, "How many members")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (seed_cmd->parsed()) return seed(flags, program_path, customers);
  return run(app, flags, config_file);
}

}  // namespace

int main(int argc, char** argv) { return run_guarded("accrue-agent", run, argc, argv); }
