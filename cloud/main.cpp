// accrue-cloud: the cloud service and its operator commands.
//   accrue-cloud serve                   run the HTTP service
//   accrue-cloud migrate                 apply pending schema migrations
//   accrue-cloud program publish FILE    publish a programme version (JSON)
//   accrue-cloud store-token --store ID  print a signed store token
//   accrue-cloud audit                   prove balance == sum(ledger) for every customer
//   accrue-cloud prune-feed              delete change-feed rows older than the retention
//   accrue-cloud dev-keys / dev-token    a local key pair and head-office tokens signed with it
//   accrue-cloud generate                synthetic customers and a year of receipts (COPY)
//   accrue-cloud import customers|receipts FILE   bulk import from CSV (resumable)
//   accrue-cloud expire                  the points expiry run
//   accrue-cloud search rebuild|status   the Elasticsearch/OpenSearch read model
// Every command reads the same configuration: --config FILE, ACCRUE_* variables, --set key=value.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include "cloud/cache/customer_cache.h"
#include "cloud/core/app.h"
#include "cloud/core/audit.h"
#include "cloud/core/expiry.h"
#include "cloud/core/generate.h"
#include "cloud/core/import.h"
#include "cloud/sync/changes.h"
#include "common/sys/log.h"

using namespace accrue;
using namespace accrue::cloud;

namespace {

int die(const Error& e) {
  std::fprintf(stderr, "accrue-cloud: %s\n", e.message.c_str());
  return exit_code(e.code);
}

Result<pg::Connection> connect(const CloudConfig& c) {
  return pg::Connection::connect(c.pg_dsn, std::chrono::seconds(c.pg_connect_timeout_s));
}

int serve(const CloudConfig& config) {
  // Signals are taken synchronously on this thread; every other thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  auto app = CloudApp::create(config);
  if (!app) return die(app.error());
  if (auto s = (*app)->start(); !s) return die(s.error());
  int sig = 0;
  for (;;) {
    sigwait(&set, &sig);
    if (sig != SIGHUP) break;
    // SIGHUP: the TLS files again (a new CRL: revoked stores are refused from now on).
    if (auto r = (*app)->reload_tls(); !r) {
      log(LogLevel::kError, "tls_reload_failed", {{"reason", r.error().message}});
    } else {
      log(LogLevel::kInfo, "tls_reloaded");
    }
  }
  log(LogLevel::kInfo, "draining", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
  (*app)->drain();
  (*app)->stop();
  log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"accrue-cloud: the Accrue cloud service (system of record, sync, HQ reads)"};
  cli.require_subcommand(1);
  std::optional<std::string> config_file;
  std::vector<std::string> overrides;
  cli.add_option("--config", config_file, "TOML configuration file");
  cli.add_option("--set", overrides, "key=value, overriding the file and the environment")
      ->type_name("KEY=VALUE");
  cli.footer("Configuration keys (file section.key, environment, --set):\n" +
             describe_config_keys());

  auto* serve_cmd = cli.add_subcommand("serve", "run the HTTP service until SIGTERM");
  auto* migrate_cmd = cli.add_subcommand("migrate", "apply pending schema migrations");
  auto* program_cmd = cli.add_subcommand("program", "programme versions");
  program_cmd->require_subcommand(1);
  std::string program_file;
  auto* publish_cmd = program_cmd->add_subcommand("publish", "publish a programme version (JSON)");
  publish_cmd->add_option("file", program_file, "programme JSON")->required();
  auto* token_cmd = cli.add_subcommand("store-token", "print a signed token for one store");
  std::string store_id;
  int days = 365;
  token_cmd->add_option("--store", store_id, "store id")->required();
  token_cmd->add_option("--days", days, "validity in days")->check(CLI::Range(1, 3650));
  auto* dev_keys_cmd = cli.add_subcommand(
      "dev-keys", "write a P-256 key pair for local head-office tokens (jwks.json + hq-dev.pem)");
  std::string keys_dir = ".";
  dev_keys_cmd->add_option("--dir", keys_dir, "where to write the two files");
  auto* dev_token_cmd =
      cli.add_subcommand("dev-token", "print a head-office token signed with a dev key");
  std::string dev_key_file, issuer, audience = "accrue", subject = "dev";
  std::vector<std::string> roles;
  int minutes = 60;
  dev_token_cmd->add_option("--key", dev_key_file, "hq-dev.pem from dev-keys")->required();
  dev_token_cmd->add_option("--role", roles, "hq-admin | hq-support | hq-analyst")->required();
  dev_token_cmd->add_option("--issuer", issuer, "iss (default: auth.issuer)");
  dev_token_cmd->add_option("--audience", audience, "aud");
  dev_token_cmd->add_option("--subject", subject, "sub");
  dev_token_cmd->add_option("--minutes", minutes, "validity")->check(CLI::Range(1, 1440));
  auto* gen_cmd = cli.add_subcommand(
      "generate", "load synthetic customers with a year of receipts (COPY) and write their ids");
  GenerateOptions gen;
  std::string gen_key_file;
  gen_cmd->add_option("--customers", gen.customers, "how many")->check(CLI::Range(1, 50'000'000));
  gen_cmd->add_option("--first", gen.first, "index of the first synthetic member");
  gen_cmd->add_option("--receipts-per-customer", gen.receipts_per_customer, "sales each")
      ->check(CLI::Range(0, 1000));
  gen_cmd->add_option("--stores", gen.stores, "home stores S0..S(n-1)")
      ->check(CLI::Range(1, 100000));
  gen_cmd->add_option("--program-key", gen_key_file,
                      "programme key file: also link each member's card (hashed)");
  gen_cmd->add_option("--csv", gen.csv_path, "write the customer ids here (load generator input)");
  gen_cmd->add_option("--workers", gen.workers, "connections loading in parallel")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  auto* import_cmd = cli.add_subcommand("import", "bulk import from CSV (resumable)");
  import_cmd->require_subcommand(1);
  auto* import_customers_cmd = import_cmd->add_subcommand(
      "customers",
      "members from a CSV file: customer_id, display_name, email, phone, country, "
      "currency, home_store_id, enrolled_at, card, points (opening balance)");
  auto* import_receipts_cmd = import_cmd->add_subcommand(
      "receipts",
      "sales history from a CSV file: receipt_id, store_id, till_id, customer_id, occurred_at, "
      "amount_minor, currency, points (what the sale earned; booked with its lot)");
  ImportOptions import_options;
  std::string rejects_file;
  for (auto* sub : {import_customers_cmd, import_receipts_cmd}) {  // the same options for both
    sub->add_option("file", import_options.file, "the CSV file")->required();
    sub->add_option("--job", import_options.job,
                    "the job's name (resume key; default: the file's name)");
    sub->add_option("--batch", import_options.batch, "rows per transaction")
        ->check(CLI::Range(100, 100'000));
    sub->add_option("--workers", import_options.workers, "connections writing batches in parallel")
        ->check(CLI::Range(1, 16));
    sub->add_option("--rejects", rejects_file,
                    "write the rejected rows (line, key, reason) to this CSV file");
  }
  auto* expire_cmd = cli.add_subcommand(
      "expire", "the points expiry run: expired lots give up their points (run daily)");
  auto* audit_cmd = cli.add_subcommand(
      "audit", "check balance == sum(ledger) for every customer; exit 1 on any mismatch");
  auto* prune_cmd = cli.add_subcommand(
      "prune-feed",
      "delete change-feed rows older than sync.feed_retention_days (run it daily, e.g. as a "
      "CronJob; a second run at the same time does nothing)");

  auto* search_cmd = cli.add_subcommand(
      "search", "the Elasticsearch/OpenSearch read model (search.backend = elasticsearch)");
  search_cmd->require_subcommand(1);
  auto* search_rebuild_cmd = search_cmd->add_subcommand(
      "rebuild",
      "fill a fresh index from the customer table and move the alias onto it (the serving "
      "replicas' projection pauses meanwhile and then replays the feed from the start)");
  auto* search_status_cmd =
      search_cmd->add_subcommand("status", "the projection's cursor, index, lease and lag");

  CLI11_PARSE(cli, argc, argv);

  if (dev_keys_cmd->parsed()) {
    auto keys = auth::make_dev_keys("hq-dev");
    if (!keys) return die(keys.error());
    std::ofstream(keys_dir + "/jwks.json") << keys->jwks_json << "\n";
    std::ofstream pem(keys_dir + "/hq-dev.pem");
    pem << keys->private_pem;
    if (!pem) return die({ErrorCode::kUnavailable, "cannot write " + keys_dir + "/hq-dev.pem"});
    std::printf("wrote %s/jwks.json (set auth.jwks_file) and %s/hq-dev.pem (keep it local)\n",
                keys_dir.c_str(), keys_dir.c_str());
    return 0;
  }
  if (dev_token_cmd->parsed()) {
    std::ifstream in(dev_key_file);
    if (!in) return die({ErrorCode::kNotFound, "cannot read " + dev_key_file});
    std::stringstream pem;
    pem << in.rdbuf();
    if (issuer.empty()) {
      auto c = load_cloud_config(config_file, process_environment(), overrides);
      if (c) issuer = c->jwt_issuer;
    }
    if (issuer.empty()) return die({ErrorCode::kInvalidArgument, "--issuer: required"});
    boost::json::object claims;
    claims["iss"] = issuer;
    claims["aud"] = audience;
    claims["sub"] = subject;
    claims["exp"] = SystemClock().now_ms() / 1000 + int64_t{minutes} * 60;
    boost::json::array r;
    for (const auto& role : roles) r.push_back(boost::json::value(role));
    claims["roles"] = r;
    auto token = auth::sign_es256(pem.str(), "hq-dev", boost::json::serialize(claims));
    if (!token) return die(token.error());
    std::printf("%s\n", token->c_str());
    return 0;
  }
  auto config = load_cloud_config(config_file, process_environment(), overrides);
  if (!config && !(token_cmd->parsed() && config.error().message.starts_with("postgres.dsn"))) {
    return die(config.error());
  }
  if (serve_cmd->parsed()) return serve(*config);
  if (token_cmd->parsed()) {
    // Needs only the signing key, not the database.
    CloudConfig c = config ? *config : CloudConfig{};
    if (!config) {
      auto relaxed = load_cloud_config(config_file, process_environment(), [&] {
        auto o = overrides;
        o.push_back("postgres.dsn=unused");
        return o;
      }());
      if (!relaxed) return die(relaxed.error());
      c = *relaxed;
    }
    if (c.store_token_key_file.empty()) {
      return die({ErrorCode::kInvalidArgument, "auth.store_token_key_file is not set"});
    }
    if (!valid_store_id(store_id)) {
      return die({ErrorCode::kInvalidArgument, "--store: 1 to 64 of A-Z a-z 0-9 _ -"});
    }
    auto key = read_key_file(c.store_token_key_file, "auth.store_token_key_file");
    if (!key) return die(key.error());
    StoreTokens tokens(std::move(*key));
    SystemClock clock;
    std::printf("%s\n",
                tokens.issue(store_id, clock.now_ms() / 1000 + int64_t{days} * 86400).c_str());
    return 0;
  }
  auto conn = connect(*config);
  if (!conn) return die(conn.error());
  if (migrate_cmd->parsed()) {
    auto r = pg::migrate(*conn, pg::shipped_migrations());
    if (!r) return die(r.error());
    if (auto p = pg::ensure_ledger_partitions(*conn); !p) return die(p.error());
    std::printf("schema %d -> %d (%d applied)\n", r->from_version, r->to_version, r->applied);
    return 0;
  }
  if (publish_cmd->parsed()) {
    std::ifstream in(program_file);
    if (!in) return die({ErrorCode::kNotFound, "cannot read " + program_file});
    std::stringstream ss;
    ss << in.rdbuf();
    auto p = ProgramCatalog::publish(*conn, ss.str());
    if (!p) return die(p.error());
    std::printf("published program %s version %u\n", p->program_id.c_str(), p->version);
    return 0;
  }
  if (gen_cmd->parsed()) {
    if (!gen_key_file.empty()) {
      auto key = read_key_file(gen_key_file, "--program-key");
      if (!key) return die(key.error());
      gen.program_key = std::move(*key);
    }
    gen.connect_more = [&] { return connect(*config); };
    ZoneinfoSource zones;
    ProgramCatalog programs(zones);
    auto started = std::chrono::steady_clock::now();
    auto r = generate(*conn, programs, gen, [&](int64_t done, int64_t total) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      const int bar = static_cast<int>(30 * done / std::max<int64_t>(1, total));
      std::fprintf(stderr, "\r[%-30.*s] %3lld%%  %lld/%lld customers  %.0f s", bar,
                   "##############################", static_cast<long long>(100 * done / total),
                   static_cast<long long>(done), static_cast<long long>(total), s);
      std::fflush(stderr);
    });
    std::fprintf(stderr, "\n");
    if (!r) return die(r.error());
    std::printf("generated %lld customers and %lld receipts in %.1f s%s%s\n",
                static_cast<long long>(r->customers), static_cast<long long>(r->receipts),
                r->seconds, gen.csv_path.empty() ? "" : "; ids in ", gen.csv_path.c_str());
    return 0;
  }
  if (import_customers_cmd->parsed() || import_receipts_cmd->parsed()) {
    if (!config->identifier_key_file.empty()) {
      auto key = read_key_file(config->identifier_key_file, "auth.identifier_key_file");
      if (!key) return die(key.error());
      import_options.identifier_key = std::move(*key);
    }
    import_options.connect_more = [&] { return connect(*config); };
    // Balances a receipts import changes leave the serving replicas' cache at once.
    std::unique_ptr<cache::Redis> redis;
    std::unique_ptr<cache::CustomerCache> customer_cache;
    if (!config->redis_host.empty()) {
      cache::RedisOptions ro;
      ro.host = config->redis_host;
      ro.port = static_cast<uint16_t>(config->redis_port);
      ro.timeout = std::chrono::milliseconds(config->redis_timeout_ms);
      redis = std::make_unique<cache::Redis>(std::move(ro));
      customer_cache = std::make_unique<cache::CustomerCache>(
          *redis, std::chrono::seconds(config->cache_ttl_s), config->cache_key_prefix);
      import_options.on_commit = [&](const std::vector<std::string>& ids) {
        if (!customer_cache->invalidate(ids)) {
          std::fprintf(stderr,
                       "\nwarning: the cache could not be told about %zu changed members; "
                       "their cached reads end with the cache TTL\n",
                       ids.size());
        }
      };
    }
    ZoneinfoSource zones;
    ProgramCatalog programs(zones);
    auto started = std::chrono::steady_clock::now();
    auto run = import_customers_cmd->parsed() ? import_customers : import_receipts;
    auto r = run(*conn, programs, import_options, [&](int64_t lines) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::fprintf(stderr, "\r%lld lines  %.0f s", static_cast<long long>(lines), s);
      std::fflush(stderr);
    });
    std::fprintf(stderr, "\n");
    if (!r) return die(r.error());
    std::printf(
        "import %s: %lld lines read (%lld done before), %lld imported, %lld rejected, "
        "%.1f s\n",
        r->job.c_str(), static_cast<long long>(r->lines), static_cast<long long>(r->skipped),
        static_cast<long long>(r->imported), static_cast<long long>(r->rejected), r->seconds);
    if (!rejects_file.empty()) {
      auto rejects = import_rejects(*conn, r->job);
      if (!rejects) return die(rejects.error());
      std::ofstream out(rejects_file);
      out << "line,key,reason\n";
      for (const auto& x : *rejects) {
        auto quote = [](const std::string& v) {
          std::string q = "\"";
          for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
          return q + "\"";
        };
        out << x.line << "," << quote(x.key) << "," << quote(x.reason) << "\n";
      }
      if (!out) return die({ErrorCode::kUnavailable, "cannot write " + rejects_file});
      std::printf("rejected rows in %s\n", rejects_file.c_str());
    }
    return r->rejected > 0 ? 2 : 0;
  }
  if (expire_cmd->parsed()) {
    SystemClock clock;
    SystemRandom random;
    auto r = run_expiry(*conn, clock, random);
    if (!r) return die(r.error());
    std::printf("expire: %lld points from %lld lots of %lld customers\n",
                static_cast<long long>(r->points), static_cast<long long>(r->lots),
                static_cast<long long>(r->customers));
    return 0;
  }
  if (prune_cmd->parsed()) {
    const auto retention = std::chrono::hours(24 * config->feed_retention_days);
    auto r = ChangeFeed::prune(*conn, std::chrono::duration_cast<std::chrono::seconds>(retention));
    if (!r) return die(r.error());
    if (r->skipped) {
      std::printf("prune-feed: another prune is running; nothing done\n");
    } else {
      std::printf("prune-feed: deleted %lld change-feed rows older than %llu days\n",
                  static_cast<long long>(r->deleted),
                  static_cast<unsigned long long>(config->feed_retention_days));
    }
    return 0;
  }
  if (search_rebuild_cmd->parsed() || search_status_cmd->parsed()) {
    if (config->search_backend != "elasticsearch") {
      return die({ErrorCode::kFailedPrecondition,
                  "search.backend is postgres: the search reads the system of record itself and "
                  "has no index to rebuild (set search.backend = elasticsearch and search.url)"});
    }
    auto eo = elastic_options(*config);
    if (!eo) return die(eo.error());
    search::ElasticClient client(std::move(*eo));
    pg::PoolOptions po;
    po.dsn = config->pg_dsn;
    po.size = 2;
    po.connect_timeout = std::chrono::seconds(config->pg_connect_timeout_s);
    pg::Pool pool(std::move(po));
    search::ProjectorOptions so;
    so.batch = static_cast<int>(config->search_batch);
    search::SearchProjector projector(pool, client, so);
    if (search_status_cmd->parsed()) {
      auto r = conn->exec(
          "SELECT index_name, cursor_xid::text, cursor_id, epoch, coalesce(rebuilt_at::text, ''), "
          "coalesce(projected_at::text, ''), coalesce(lease_owner, ''), "
          "coalesce(lease_until::text, '') FROM search_projection WHERE name = 'customers'");
      if (!r) return die(r.error());
      auto lag = projector.lag();
      if (!lag) return die(lag.error());
      if (r->rows() == 0 || r->text(0, 0).empty()) {
        std::printf(
            "index      never built (the first serving replica, or `search rebuild`, "
            "builds it)\n");
      } else {
        std::printf("index      %s (alias %s)\n", std::string(r->text(0, 0)).c_str(),
                    config->search_alias.c_str());
        std::printf("cursor     xid %s, row %lld; epoch %lld\n", std::string(r->text(0, 1)).c_str(),
                    static_cast<long long>(r->int64(0, 2)), static_cast<long long>(r->int64(0, 3)));
        std::printf("rebuilt    %s\nprojected  %s\n", std::string(r->text(0, 4)).c_str(),
                    std::string(r->text(0, 5)).c_str());
        std::printf("lease      %s until %s\n", std::string(r->text(0, 6)).c_str(),
                    std::string(r->text(0, 7)).c_str());
      }
      std::printf("lag        %.1f s\n", static_cast<double>(lag->count()) / 1000.0);
      return 0;
    }
    auto r = projector.rebuild([](int64_t done) {
      std::fprintf(stderr, "\r%lld customers indexed", static_cast<long long>(done));
      std::fflush(stderr);
    });
    std::fprintf(stderr, "\n");
    if (!r) return die(r.error());
    if (!*r) {
      std::printf(
          "search rebuild: a serving replica holds the projection; it rebuilds on its "
          "next batch (watch `accrue-cloud search status`)\n");
      return 0;
    }
    std::printf("search rebuild: %lld customers in %s (alias %s moved) in %.1f s\n",
                static_cast<long long>((*r)->documents), (*r)->index.c_str(),
                config->search_alias.c_str(), static_cast<double>((*r)->took.count()) / 1000.0);
    return 0;
  }
  if (audit_cmd->parsed()) {
    auto r = audit(*conn);
    if (!r) return die(r.error());
    std::printf("audit: %lld customers, %lld ledger rows, %lld mismatches\n",
                static_cast<long long>(r->customers), static_cast<long long>(r->ledger_rows),
                static_cast<long long>(r->mismatches));
    for (const auto& m : r->examples) {
      std::printf("  customer %s: balance %lld, ledger sum %lld\n", m.customer_id.c_str(),
                  static_cast<long long>(m.balance), static_cast<long long>(m.ledger_sum));
    }
    return r->ok() ? 0 : 1;
  }
  return 0;
}
