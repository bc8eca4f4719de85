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
//   accrue-cloud expire | jobs           the expiry run by hand | the scheduler's daily jobs
//   accrue-cloud search rebuild|status   the Elasticsearch/OpenSearch read model
// Every command reads --config FILE, ACCRUE_* variables and --set key=value; each subcommand is
// one add_* function: its options, and what it runs once parsed.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include <boost/json.hpp>
#include "cloud/cache/customer_cache.h"
#include "cloud/core/app.h"
#include "cloud/core/audit.h"
#include "cloud/core/claims.h"
#include "cloud/core/expiry.h"
#include "cloud/core/generate.h"
#include "cloud/core/import.h"
#include "cloud/core/scheduler.h"
#include "cloud/sync/changes.h"
#include "common/coupon.h"
#include "common/sealed_contact.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

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

// The options every command shares, and the configuration they name.
struct Globals {
  std::optional<std::string> config_file;
  std::vector<std::string> overrides;

  Result<CloudConfig> config(std::vector<std::string> extra = {}) const {
    auto o = overrides;
    o.insert(o.end(), extra.begin(), extra.end());
    return load_cloud_config(config_file, process_environment(), o);
  }
};

// One subcommand: its parser (with its options bound) and what it does once parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int(const Globals&)> run;
};
using Commands = std::vector<Command>;

// Runs `f` with the configuration and a database connection.
int with_database(const Globals& g,
                  const std::function<int(const CloudConfig&, pg::Connection&)>& f) {
  auto config = g.config();
  if (!config) return die(config.error());
  auto conn = connect(*config);
  if (!conn) return die(conn.error());
  return f(*config, *conn);
}

void add_serve(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("serve", "run the HTTP service until SIGTERM"), [](const Globals& g) {
         auto config = g.config();
         return config ? serve(*config) : die(config.error());
       }});
}

void add_migrate(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("migrate", "apply pending schema migrations"), [](const Globals& g) {
         return with_database(g, [](const CloudConfig&, pg::Connection& c) {
           auto r = pg::migrate(c, pg::shipped_migrations());
           if (!r) return die(r.error());
           if (auto p = pg::ensure_ledger_partitions(c); !p) return die(p.error());
           std::printf("schema %d -> %d (%d applied)\n", r->from_version, r->to_version,
                       r->applied);
           return 0;
         });
       }});
}

void add_program(CLI::App& cli, Commands& out) {
  auto* program = cli.add_subcommand("program", "programme versions");
  program->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* publish = program->add_subcommand("publish", "publish a programme version (JSON)");
  publish->add_option("file", *file, "programme JSON")->required();
  out.push_back({publish, [file](const Globals& g) {
                   return with_database(g, [&](const CloudConfig&, pg::Connection& c) {
                     std::ifstream in(*file);
                     if (!in) return die({ErrorCode::kNotFound, "cannot read " + *file});
                     std::stringstream ss;
                     ss << in.rdbuf();
                     auto p = ProgramCatalog::publish(c, ss.str());
                     if (!p) return die(p.error());
                     std::printf("published program %s version %u\n", p->program_id.c_str(),
                                 p->version);
                     return 0;
                   });
                 }});
}

void add_store_token(CLI::App& cli, Commands& out) {
  struct Options {
    std::string store_id;
    int days = 365;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand("store-token", "print a signed token for one store");
  cmd->add_option("--store", o->store_id, "store id")->required();
  cmd->add_option("--days", o->days, "validity in days")->check(CLI::Range(1, 3650));
  out.push_back(
      {cmd, [o](const Globals& g) {
         // Needs only the signing key, not the database.
         auto config = g.config();
         if (!config && config.error().message.starts_with("postgres.dsn")) {
           config = g.config({"postgres.dsn=unused"});
         }
         if (!config) return die(config.error());
         if (config->store_token_key_file.empty()) {
           return die({ErrorCode::kInvalidArgument, "auth.store_token_key_file is not set"});
         }
         if (!valid_store_id(o->store_id)) {
           return die({ErrorCode::kInvalidArgument, "--store: 1 to 64 of A-Z a-z 0-9 _ -"});
         }
         if (Ingest::is_virtual_store(o->store_id)) {
           return die({ErrorCode::kInvalidArgument,
                       "--store: " + o->store_id +
                           " is the service's own (head office, web shop): no store runs there"});
         }
         auto key = read_key_file(config->store_token_key_file, "auth.store_token_key_file");
         if (!key) return die(key.error());
         StoreTokens tokens(std::move(*key));
         const int64_t expires = SystemClock().now_ms() / 1000 + int64_t{o->days} * 86400;
         std::printf("%s\n", tokens.issue(o->store_id, expires).c_str());
         return 0;
       }});
}

void add_dev_keys(CLI::App& cli, Commands& out) {
  auto dir = std::make_shared<std::string>(".");
  auto* cmd = cli.add_subcommand(
      "dev-keys",
      "write local keys: a P-256 pair for head-office tokens (jwks.json + hq-dev.pem), the "
      "X25519 key stores seal contact details to (contact.pem) and the Ed25519 key that signs "
      "coupons (coupon.pem)");
  cmd->add_option("--dir", *dir, "where to write the four files");
  out.push_back({cmd, [dir](const Globals&) {
                   auto keys = auth::make_dev_keys("hq-dev");
                   if (!keys) return die(keys.error());
                   auto contact = make_contact_key_pem();
                   if (!contact) return die(contact.error());
                   auto coupon = make_coupon_key_pem();
                   if (!coupon) return die(coupon.error());
                   std::ofstream(*dir + "/jwks.json") << keys->jwks_json << "\n";
                   for (const auto& [name, text] : {std::pair{"hq-dev.pem", &keys->private_pem},
                                                    {"contact.pem", &*contact},
                                                    {"coupon.pem", &*coupon}}) {
                     std::ofstream pem(*dir + "/" + name);
                     pem << *text;
                     if (!pem)
                       return die({ErrorCode::kUnavailable, "cannot write " + *dir + "/" + name});
                   }
                   std::printf(
                       "wrote %s/jwks.json (set auth.jwks_file), %s/contact.pem (set "
                       "auth.contact_key_file), %s/coupon.pem (set auth.coupon_key_file) and "
                       "%s/hq-dev.pem (keep them local)\n",
                       dir->c_str(), dir->c_str(), dir->c_str(), dir->c_str());
                   return 0;
                 }});
}

void add_dev_token(CLI::App& cli, Commands& out) {
  struct Options {
    std::string key_file, issuer, audience = "accrue", subject = "dev";
    std::vector<std::string> roles;
    int minutes = 60;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand("dev-token", "print a head-office token signed with a dev key");
  cmd->add_option("--key", o->key_file, "hq-dev.pem from dev-keys")->required();
  cmd->add_option("--role", o->roles, "hq-admin | hq-support | hq-analyst")->required();
  cmd->add_option("--issuer", o->issuer, "iss (default: auth.issuer)");
  cmd->add_option("--audience", o->audience, "aud");
  cmd->add_option("--subject", o->subject, "sub");
  cmd->add_option("--minutes", o->minutes, "validity")->check(CLI::Range(1, 1440));
  out.push_back({cmd, [o](const Globals& g) {
                   std::ifstream in(o->key_file);
                   if (!in) return die({ErrorCode::kNotFound, "cannot read " + o->key_file});
                   std::stringstream pem;
                   pem << in.rdbuf();
                   std::string issuer = o->issuer;
                   if (issuer.empty()) {
                     if (auto c = g.config()) issuer = c->jwt_issuer;
                   }
                   if (issuer.empty())
                     return die({ErrorCode::kInvalidArgument, "--issuer: required"});
                   boost::json::object claims;
                   claims["iss"] = issuer;
                   claims["aud"] = o->audience;
                   claims["sub"] = o->subject;
                   claims["exp"] = SystemClock().now_ms() / 1000 + int64_t{o->minutes} * 60;
                   boost::json::array roles;
                   for (const auto& role : o->roles) roles.push_back(boost::json::value(role));
                   claims["roles"] = roles;
                   auto token =
                       auth::sign_es256(pem.str(), "hq-dev", boost::json::serialize(claims));
                   if (!token) return die(token.error());
                   std::printf("%s\n", token->c_str());
                   return 0;
                 }});
}

// Seconds since it was made, for the progress lines the long commands redraw on stderr.
class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

 private:
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

int run_generate(const CloudConfig& config, pg::Connection& c, GenerateOptions gen,
                 const std::string& key_file) {
  if (!key_file.empty()) {
    auto key = read_key_file(key_file, "--program-key");
    if (!key) return die(key.error());
    gen.program_key = std::move(*key);
  }
  gen.connect_more = [&] { return connect(config); };
  ZoneinfoSource zones;
  ProgramCatalog programs(zones);
  Stopwatch progress;
  auto r = generate(c, programs, gen, [&](int64_t done, int64_t total) {
    const int bar = static_cast<int>(30 * done / std::max<int64_t>(1, total));
    std::fprintf(stderr, "\r[%-30.*s] %3lld%%  %lld/%lld customers  %.0f s", bar,
                 "##############################", static_cast<long long>(100 * done / total),
                 static_cast<long long>(done), static_cast<long long>(total), progress.seconds());
    std::fflush(stderr);
  });
  std::fprintf(stderr, "\n");
  if (!r) return die(r.error());
  std::printf("generated %lld customers and %lld receipts in %.1f s%s%s\n",
              static_cast<long long>(r->customers), static_cast<long long>(r->receipts), r->seconds,
              gen.csv_path.empty() ? "" : "; ids in ", gen.csv_path.c_str());
  return 0;
}

void add_generate(CLI::App& cli, Commands& out) {
  struct Options {
    GenerateOptions gen;
    std::string key_file;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = cli.add_subcommand(
      "generate", "load synthetic customers with a year of receipts (COPY) and write their ids");
  GenerateOptions& gen = o->gen;
  cmd->add_option("--customers", gen.customers, "how many")->check(CLI::Range(1, 50'000'000));
  cmd->add_option("--first", gen.first, "index of the first synthetic member");
  cmd->add_option("--receipts-per-customer", gen.receipts_per_customer, "sales each")
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--stores", gen.stores, "home stores S0..S(n-1)")->check(CLI::Range(1, 100000));
  cmd->add_option("--program-key", o->key_file,
                  "programme key file: also link each member's card (hashed)");
  cmd->add_option("--csv", gen.csv_path, "write the customer ids here (load generator input)");
  cmd->add_option("--workers", gen.workers, "connections loading in parallel")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  out.push_back({cmd, [o](const Globals& g) {
                   return with_database(g, [&](const CloudConfig& config, pg::Connection& c) {
                     return run_generate(config, c, o->gen, o->key_file);
                   });
                 }});
}

// The rejected rows of an import job as CSV (line, key, reason).
Result<void> write_rejects(pg::Connection& c, const std::string& job, const std::string& file) {
  ACCRUE_ASSIGN_OR_RETURN(auto rejects, import_rejects(c, job));
  std::ofstream out(file);
  out << "line,key,reason\n";
  auto quote = [](const std::string& v) {
    std::string q = "\"";
    for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  for (const auto& x : rejects) {
    out << x.line << "," << quote(x.key) << "," << quote(x.reason) << "\n";
  }
  if (!out) return fail(ErrorCode::kUnavailable, "cannot write " + file);
  return {};
}

struct ImportCommand {
  ImportOptions options;
  std::string rejects_file;
};

int run_import(const CloudConfig& config, pg::Connection& c, ImportCommand& cmd, bool customers) {
  ImportOptions& options = cmd.options;
  if (!config.identifier_key_file.empty()) {
    auto key = read_key_file(config.identifier_key_file, "auth.identifier_key_file");
    if (!key) return die(key.error());
    options.identifier_key = std::move(*key);
  }
  options.connect_more = [&] { return connect(config); };
  // Balances an import changes leave the serving replicas' cache at once.
  std::unique_ptr<cache::Redis> redis;
  std::unique_ptr<cache::CustomerCache> customer_cache;
  if (!config.redis_host.empty()) {
    cache::RedisOptions ro;
    ro.host = config.redis_host;
    ro.port = static_cast<uint16_t>(config.redis_port);
    ro.timeout = std::chrono::milliseconds(config.redis_timeout_ms);
    redis = std::make_unique<cache::Redis>(std::move(ro));
    customer_cache = std::make_unique<cache::CustomerCache>(
        *redis, std::chrono::seconds(config.cache_ttl_s), config.cache_key_prefix);
    options.on_commit = [&](const std::vector<std::string>& ids) {
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
  // Members imported with cards collect the points tills booked for those cards before (a
  // failure here is reported; the scheduler's daily claims sweep takes them up).
  pg::PoolOptions po;
  po.dsn = config.pg_dsn;
  po.size = static_cast<size_t>(options.workers);
  po.connect_timeout = std::chrono::seconds(config.pg_connect_timeout_s);
  pg::Pool pool(std::move(po));
  SystemClock clock;
  SystemRandom random;
  Ingest ingest(pool, programs, clock, random, config.max_batch_events);
  if (customers) {
    auto invalidate = std::move(options.on_commit);
    if (invalidate) ingest.on_commit(invalidate);
    options.on_commit = [&, invalidate](const std::vector<std::string>& ids) {
      if (invalidate) invalidate(ids);
      auto claimed = claim_after_import(pool, programs, ingest, ids, "import");
      if (!claimed) {
        std::fprintf(stderr, "\nwarning: provisional points not claimed yet (%s)\n",
                     claimed.error().message.c_str());
      }
    };
  }
  Stopwatch progress;
  auto run = customers ? import_customers : import_receipts;
  auto r = run(c, programs, options, [&](int64_t lines) {
    std::fprintf(stderr, "\r%lld lines  %.0f s", static_cast<long long>(lines), progress.seconds());
    std::fflush(stderr);
  });
  std::fprintf(stderr, "\n");
  if (!r) return die(r.error());
  std::printf(
      "import %s: %lld lines read (%lld done before), %lld imported, %lld rejected, %.1f s\n",
      r->job.c_str(), static_cast<long long>(r->lines), static_cast<long long>(r->skipped),
      static_cast<long long>(r->imported), static_cast<long long>(r->rejected), r->seconds);
  if (!cmd.rejects_file.empty()) {
    if (auto w = write_rejects(c, r->job, cmd.rejects_file); !w) return die(w.error());
    std::printf("rejected rows in %s\n", cmd.rejects_file.c_str());
  }
  return r->rejected > 0 ? 2 : 0;
}

void add_import(CLI::App& cli, Commands& out) {
  auto* import = cli.add_subcommand("import", "bulk import from CSV (resumable)");
  import->require_subcommand(1);
  auto o = std::make_shared<ImportCommand>();
  auto* customers = import->add_subcommand(
      "customers",
      "members from a CSV file: customer_id, display_name, email, phone, country, "
      "currency, home_store_id, enrolled_at, card, points (opening balance)");
  auto* receipts = import->add_subcommand(
      "receipts",
      "sales history from a CSV file: receipt_id, store_id, till_id, customer_id, occurred_at, "
      "amount_minor, currency, points (what the sale earned; booked with its lot)");
  for (auto* sub : {customers, receipts}) {  // the same options for both
    sub->add_option("file", o->options.file, "the CSV file")->required();
    sub->add_option("--job", o->options.job,
                    "the job's name (resume key; default: the file's name)");
    sub->add_option("--batch", o->options.batch, "rows per transaction")
        ->check(CLI::Range(100, 100'000));
    sub->add_option("--workers", o->options.workers, "connections writing batches in parallel")
        ->check(CLI::Range(1, 16));
    sub->add_option("--rejects", o->rejects_file,
                    "write the rejected rows (line, key, reason) to this CSV file");
    const bool is_customers = sub == customers;
    out.push_back({sub, [o, is_customers](const Globals& g) {
                     return with_database(g, [&](const CloudConfig& config, pg::Connection& c) {
                       return run_import(config, c, *o, is_customers);
                     });
                   }});
  }
}

void add_expire(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("expire",
                          "the points expiry run: expired lots give up their points (run daily)"),
       [](const Globals& g) {
         return with_database(g, [](const CloudConfig&, pg::Connection& c) {
           SystemClock clock;
           SystemRandom random;
           auto r = run_expiry(c, clock, random);
           if (!r) return die(r.error());
           std::printf("expire: %lld points from %lld lots of %lld customers\n",
                       static_cast<long long>(r->points), static_cast<long long>(r->lots),
                       static_cast<long long>(r->customers));
           return 0;
         });
       }});
}

void add_jobs(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("jobs",
                          "the scheduler's daily jobs (expiry, tiers, bonuses): the last day each "
                          "finished, what it did, when the next is due (JSON)"),
       [](const Globals& g) {
         return with_database(g, [](const CloudConfig& config, pg::Connection& c) {
           ZoneinfoSource zones;
           ProgramCatalog programs(zones);
           auto report = jobs_report(c, programs, SystemClock().now_ms(), config.scheduler_enabled,
                                     config.scheduler_run_at);
           if (!report) return die(report.error());
           std::printf("%s\n", boost::json::serialize(*report).c_str());
           return 0;
         });
       }});
}

void add_audit(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("audit",
                          "check balance == sum(ledger) for every customer; exit 1 on any "
                          "mismatch"),
       [](const Globals& g) {
         return with_database(g, [](const CloudConfig&, pg::Connection& c) {
           auto r = audit(c);
           if (!r) return die(r.error());
           std::printf("audit: %lld customers, %lld ledger rows, %lld mismatches\n",
                       static_cast<long long>(r->customers), static_cast<long long>(r->ledger_rows),
                       static_cast<long long>(r->mismatches));
           for (const auto& m : r->examples) {
             std::printf("  customer %s: balance %lld, ledger sum %lld\n", m.customer_id.c_str(),
                         static_cast<long long>(m.balance), static_cast<long long>(m.ledger_sum));
           }
           return r->ok() ? 0 : 1;
         });
       }});
}

void add_prune_feed(CLI::App& cli, Commands& out) {
  out.push_back(
      {cli.add_subcommand("prune-feed",
                          "delete change-feed rows older than sync.feed_retention_days (run it "
                          "daily, e.g. as a CronJob; a second run at the same time does nothing)"),
       [](const Globals& g) {
         return with_database(g, [](const CloudConfig& config, pg::Connection& c) {
           const auto retention = std::chrono::hours(24 * config.feed_retention_days);
           auto r =
               ChangeFeed::prune(c, std::chrono::duration_cast<std::chrono::seconds>(retention));
           if (!r) return die(r.error());
           if (r->skipped) {
             std::printf("prune-feed: another prune is running; nothing done\n");
           } else {
             std::printf("prune-feed: deleted %lld change-feed rows older than %llu days\n",
                         static_cast<long long>(r->deleted),
                         static_cast<unsigned long long>(config.feed_retention_days));
           }
           return 0;
         });
       }});
}

int search_status(const CloudConfig& config, pg::Connection& c,
                  search::SearchProjector& projector) {
  auto r = c.exec(
      "SELECT index_name, cursor_xid::text, cursor_id, epoch, coalesce(rebuilt_at::text, ''), "
      "coalesce(projected_at::text, ''), coalesce(lease_owner, ''), "
      "coalesce(lease_until::text, '') FROM search_projection WHERE name = 'customers'");
  if (!r) return die(r.error());
  auto lag = projector.lag();
  if (!lag) return die(lag.error());
  if (r->rows() == 0 || r->text(0, 0).empty()) {
    std::printf(
        "index      never built (the first serving replica, or `search rebuild`, builds it)\n");
  } else {
    std::printf("index      %s (alias %s)\n", std::string(r->text(0, 0)).c_str(),
                config.search_alias.c_str());
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

int search_rebuild(const CloudConfig& config, search::SearchProjector& projector) {
  auto r = projector.rebuild([](int64_t done) {
    std::fprintf(stderr, "\r%lld customers indexed", static_cast<long long>(done));
    std::fflush(stderr);
  });
  std::fprintf(stderr, "\n");
  if (!r) return die(r.error());
  if (!*r) {
    std::printf(
        "search rebuild: a serving replica holds the projection; it rebuilds on its next batch "
        "(watch `accrue-cloud search status`)\n");
    return 0;
  }
  std::printf("search rebuild: %lld customers in %s (alias %s moved) in %.1f s\n",
              static_cast<long long>((*r)->documents), (*r)->index.c_str(),
              config.search_alias.c_str(), static_cast<double>((*r)->took.count()) / 1000.0);
  return 0;
}

// Runs `status` (or the rebuild) with a projector over the configured index.
int with_projector(const Globals& g, bool status) {
  return with_database(g, [&](const CloudConfig& config, pg::Connection& c) {
    if (config.search_backend != "elasticsearch") {
      return die({ErrorCode::kFailedPrecondition,
                  "search.backend is postgres: the search reads the system of record itself and "
                  "has no index to rebuild (set search.backend = elasticsearch and search.url)"});
    }
    auto eo = elastic_options(config);
    if (!eo) return die(eo.error());
    search::ElasticClient client(std::move(*eo));
    pg::PoolOptions po;
    po.dsn = config.pg_dsn;
    po.size = 2;
    po.connect_timeout = std::chrono::seconds(config.pg_connect_timeout_s);
    pg::Pool pool(std::move(po));
    search::ProjectorOptions so;
    so.batch = static_cast<int>(config.search_batch);
    search::SearchProjector projector(pool, client, so);
    return status ? search_status(config, c, projector) : search_rebuild(config, projector);
  });
}

void add_search(CLI::App& cli, Commands& out) {
  auto* search = cli.add_subcommand(
      "search", "the Elasticsearch/OpenSearch read model (search.backend = elasticsearch)");
  search->require_subcommand(1);
  out.push_back({search->add_subcommand(
                     "rebuild",
                     "fill a fresh index from the customer table and move the alias onto it (the "
                     "serving replicas' projection pauses meanwhile and then replays the feed "
                     "from the start)"),
                 [](const Globals& g) { return with_projector(g, false); }});
  out.push_back({search->add_subcommand("status", "the projection's cursor, index, lease and lag"),
                 [](const Globals& g) { return with_projector(g, true); }});
}

int run(int argc, char** argv) {
  CLI::App cli{"accrue-cloud: the Accrue cloud service (system of record, sync, HQ reads)"};
  cli.require_subcommand(1);
  Globals globals;
  cli.add_option("--config", globals.config_file, "TOML configuration file");
  cli.add_option("--set", globals.overrides, "key=value, overriding the file and the environment")
      ->type_name("KEY=VALUE");
  cli.footer("Configuration keys (file section.key, environment, --set):\n" +
             describe_config_keys());
  Commands commands;
  for (auto add :
       {add_serve, add_migrate, add_program, add_store_token, add_dev_keys, add_dev_token,
        add_generate, add_import, add_expire, add_jobs, add_audit, add_prune_feed, add_search}) {
    add(cli, commands);
  }
  CLI11_PARSE(cli, argc, argv);
  for (const auto& c : commands) {
    if (c.app->parsed()) return c.run(globals);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_guarded("accrue-cloud", run, argc, argv); }
