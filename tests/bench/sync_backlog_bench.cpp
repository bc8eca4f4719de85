// Backlog drain (docs/performance.md targets: 100k events queued during an outage uploaded in <= 20
// s).
//
//   1. accrue-cloud in this process on a throwaway database, with the store's members;
//   2. the real accrue-agent binary, its cloud url pointing at a closed port (an outage),
//      takes `--events` accruals from 16 tills over its socket;
//   3. the agent restarts with the right url; the clock runs until its outbox is empty, while
//      tills keep validating members over the socket (their latency is printed).
// Prints events/s, the agent's peak RSS and the validate p50/p99 during the drain.
//
// In a store the cloud and its database are elsewhere. On a machine with two cores or more the
// store side (the agent and the validating till) runs on CPU 0, and the cloud (this process's
// other threads) and PostgreSQL on the rest, so the tills' latency is not the cloud's CPU
// time; --shared-cpus lets everything share every core.
// Usage: sync_backlog_bench [--events N] [--customers N] [--shared-cpus].
// Needs ACCRUE_TEST_PG_DSN. Never fails on speed.
#include <dirent.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "agent/store/seed.h"
#include "cloud/core/app.h"
#include "cloud/core/generate.h"
#include "cloud/core/store_auth.h"
#include "common/synthetic.h"
#include "tests/agent/agent_process.h"
#include "tests/cloud/cloud_fixture.h"

namespace {

using namespace accrue;
using namespace accrue::cloud;
namespace pb = accrue::pos::v1;
using Steady = std::chrono::steady_clock;

pb::Request accrue_request(int64_t member, const std::string& tx) {
  pb::Request req;
  req.set_till_id("till-" + std::to_string(member % 16));
  auto* a = req.mutable_accrue();
  a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  a->mutable_identifier()->set_value(agent::seed_card_number(member));
  a->set_pos_tx_id(tx);
  auto* b = a->mutable_basket();
  b->set_currency("EUR");
  b->set_occurred_at_ms(SystemClock().now_ms());
  auto* l = b->add_lines();
  l->set_line_no(1);
  l->set_sku("SKU-1");
  l->add_categories("apparel");
  l->set_quantity_milli(1000);
  l->set_amount_minor(1999 + member % 5000);
  return req;
}

// The CPUs of the calling thread (threads and processes it starts inherit them).
void pin_thread(const cpu_set_t& cpus) { sched_setaffinity(0, sizeof cpus, &cpus); }

cpu_set_t cpus_from(int first, int last) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = first; c <= last; ++c) CPU_SET(c, &set);
  return set;
}

// PostgreSQL's postmaster and every process it has started (the cloud's connections among
// them); later backends inherit the postmaster's CPUs. From the services' pid file.
void pin_postgres(const cpu_set_t& cpus) {
  const char* dir = std::getenv("ACCRUE_TEST_SERVICES_DIR");
  if (!dir) return;
  std::ifstream pidfile(std::string(dir) + "/pg/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pidfile >> postmaster) || postmaster <= 0) return;
  sched_setaffinity(postmaster, sizeof cpus, &cpus);
  DIR* proc = opendir("/proc");
  if (!proc) return;
  while (auto* e = readdir(proc)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == postmaster) {
      sched_setaffinity(pid, sizeof cpus, &cpus);
    }
  }
  closedir(proc);
}

int64_t peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t events = 100000, customers = 20000;
  bool shared_cpus = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--shared-cpus") {
      shared_cpus = true;
    } else if (k == "--events" && i + 1 < argc) {
      events = std::atoll(argv[++i]);
    } else if (k == "--customers" && i + 1 < argc) {
      customers = std::atoll(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: sync_backlog_bench [--events N] [--customers N] [--shared-cpus]\n");
      return 64;
    }
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const bool split = !shared_cpus && cores >= 2;
  const cpu_set_t all_cpus = cpus_from(0, std::max(cores, 1) - 1);
  const cpu_set_t store_cpus = cpus_from(0, 0);
  const cpu_set_t cloud_cpus = cpus_from(1, std::max(cores, 2) - 1);
  if (accrue::testing::service_env("ACCRUE_TEST_PG_DSN").empty()) {
    std::fprintf(stderr, "ACCRUE_TEST_PG_DSN not set (packaging/dev/services start)\n");
    return accrue::testing::services_required() ? 1 : 77;
  }
  accrue::testing::TestDatabase db;
  if (!db.ok()) return 1;
  auto conn = db.connect();
  std::ifstream in("packaging/demo/program.json");
  std::string program((std::istreambuf_iterator<char>(in)), {});
  if (!conn || !ProgramCatalog::publish(*conn, program)) return 1;
  ZoneinfoSource zones;
  ProgramCatalog catalog(zones);
  GenerateOptions g;
  g.customers = customers;
  g.receipts_per_customer = 0;
  if (!generate(*conn, catalog, g, {})) return 1;

  accrue::testing::AgentProcess agent(customers, "packaging/demo/program.json", "S1");
  if (agent.seed_status() != 0) return 1;
  const std::string key_file = agent.dir() + "/store-token.key";
  std::ofstream(key_file) << std::string(64, 'c') << "\n";
  auto config = load_cloud_config(
      std::nullopt, {},
      {"postgres.dsn=" + db.dsn(), "server.port=0", "server.listen_address=127.0.0.1",
       "server.access_log=false", "auth.store_token_key_file=" + key_file, "log.level=warn"});
  if (!config) return 1;
  if (split) pin_thread(cloud_cpus);  // the cloud's threads start from here
  auto app = CloudApp::create(*config);
  if (!app || !(*app)->start()) return 1;
  if (split) {
    pin_postgres(cloud_cpus);
    pin_thread(store_cpus);  // the agent (a child process) and the tills
  }
  StoreTokens tokens(std::vector<uint8_t>(32, 0xcc));
  std::ofstream(agent.dir() + "/store.token")
      << tokens.issue("S1", SystemClock().now_ms() / 1000 + 3600) << "\n";
  auto write_config = [&](uint16_t port) {
    std::ofstream(agent.dir() + "/agent.toml")
        << "[cloud]\nurl = \"http://127.0.0.1:" << port << "\"\ntoken_file = \"" << agent.dir()
        << "/store.token\"\nbackoff_max_ms = 1000\n";
  };

  // A till validating members one call at a time, a millisecond apart, while `go` holds.
  auto validate_until = [&](std::atomic<bool>& go, std::vector<int64_t>& us) {
    auto c = agent.connect();
    int64_t i = 0;
    while (go.load()) {
      pb::Request v;
      v.set_till_id("till-v");
      v.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
      v.mutable_validate()->mutable_identifier()->set_value(
          agent::seed_card_number(i++ % customers));
      const auto t0 = Steady::now();
      auto r = c.call(v);
      if (r && r->has_validate()) {
        us.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - t0).count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };

  // The outage: every sale queues.
  write_config(accrue::testing::free_loopback_port());
  if (!agent.start({"--config", agent.dir() + "/agent.toml"})) return 1;
  // The baseline: the same till against the idle agent, for 2 s.
  std::vector<int64_t> idle_us;
  {
    std::atomic<bool> idle{true};
    std::thread till([&] { validate_until(idle, idle_us); });
    std::this_thread::sleep_for(std::chrono::seconds(2));
    idle = false;
    till.join();
  }
  const auto fill_started = Steady::now();
  std::atomic<int64_t> next{0}, failed{0};
  {
    std::vector<std::thread> tills;
    for (int t = 0; t < 16; ++t) {
      tills.emplace_back([&] {
        auto c = agent.connect();
        for (int64_t i = next++; i < events; i = next++) {
          int64_t member = i % customers;
          if (synthetic_blocked(member)) member = (member + 1) % customers;
          auto r = c.call(accrue_request(member, "b" + std::to_string(i)));
          if (!r || !r->has_accrue()) ++failed;
        }
      });
    }
    for (auto& t : tills) t.join();
  }
  const double fill_s = std::chrono::duration<double>(Steady::now() - fill_started).count();
  agent.stop();

  // The cloud is back.
  write_config((*app)->port());
  if (!agent.start({"--config", agent.dir() + "/agent.toml"})) return 1;
  const auto started = Steady::now();
  std::atomic<bool> draining{true};
  std::vector<int64_t> validate_us;
  std::thread till([&] { validate_until(draining, validate_us); });
  uint64_t depth = 1;
  auto c = agent.connect();
  while (Steady::now() - started < std::chrono::seconds(300)) {
    pb::Request s;
    s.mutable_get_agent_status();
    auto r = c.call(s);
    if (r && r->has_agent_status()) {
      depth = r->agent_status().outbox_depth();
      if (depth == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double drain_s = std::chrono::duration<double>(Steady::now() - started).count();
  draining = false;
  till.join();
  const int64_t rss = peak_rss_kib(agent.pid());
  const int64_t in_cloud = std::stoll(db.scalar("SELECT count(*) FROM ledger WHERE kind = 1"));
  agent.stop();
  (*app)->stop();
  if (split) pin_postgres(all_cpus);  // the services are shared with other runs

  auto pct = [](std::vector<int64_t>& v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[std::min(
               v.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(v.size())))]) /
           1000.0;
  };
  std::printf(
      "backlog drain: %lld accruals queued offline by 16 tills in %.1f s (%lld failed), %lld "
      "members\n",
      static_cast<long long>(events), fill_s, static_cast<long long>(failed.load()),
      static_cast<long long>(customers));
  std::printf(
      "  drained in %.1f s = %.0f events/s (target: 100k in <= 20 s); %lld in the cloud's "
      "ledger; outbox left %llu\n",
      drain_s, static_cast<double>(events) / drain_s, static_cast<long long>(in_cloud),
      static_cast<unsigned long long>(depth));
  std::printf(
      "  agent peak RSS %.1f MiB; validate during the drain: %zu calls, p50 %.2f ms, "
      "p99 %.2f ms\n",
      static_cast<double>(rss) / 1024.0, validate_us.size(), pct(validate_us, 50),
      pct(validate_us, 99));
  std::printf("  baseline, the same till against the idle agent: p50 %.2f ms, p99 %.2f ms\n",
              pct(idle_us, 50), pct(idle_us, 99));
  std::printf("  %s\n", split ? "agent and tills on CPU 0; the cloud and PostgreSQL on the others "
                                "(they are not in the store)"
                              : "everything shares every core (--shared-cpus, or one core)");
  return depth == 0 && in_cloud == events && failed == 0 ? 0 : 1;
}
