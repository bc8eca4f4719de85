// The store agent under load, each figure beside its ceiling measured in the same run:
//   1. validate over the unix socket, N members, 32 concurrent clients
//      vs raw prepared SQLite lookups (same query, same file) in this process;
//   2. durable accruals from 16 concurrent tills (group commit)
//      vs raw one-row-per-transaction inserts with synchronous=FULL on the same disk;
//   3. the agent's resident memory with N members.
// Usage: agent_bench [--customers N] [--seconds S] [--clients C] [--tills T]
//                    [--only validate|accrue]
// Not a test: it never fails on speed. All traffic stays on this machine (a unix socket).
#include <signal.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "agent/ctl/client.h"
#include "agent/store/seed.h"
#include "common/identifier.h"
#include "tests/agent/agent_process.h"

namespace {

using namespace accrue;
using Steady = std::chrono::steady_clock;
namespace pb = accrue::pos::v1;

struct Args {
  int64_t customers = 1'000'000;
  double seconds = 10;
  int clients = 32;
  int tills = 16;
  int io_threads = 2;    // the agent's socket threads
  int load_threads = 2;  // this generator's epoll threads
  std::string only;      // "validate" or "accrue": run one phase (for profiling)
};

// Latencies in microseconds; percentiles by sorting (a run holds at most a few million).
class Histogram {
 public:
  void add(int64_t us) { samples_.push_back(us); }
  void merge(const Histogram& o) {
    samples_.insert(samples_.end(), o.samples_.begin(), o.samples_.end());
  }
  double percentile(double p) {
    if (samples_.empty()) return 0;
    if (!sorted_) {
      std::sort(samples_.begin(), samples_.end());
      sorted_ = true;
    }
    size_t i = std::min(samples_.size() - 1,
                        static_cast<size_t>(p / 100.0 * static_cast<double>(samples_.size())));
    return static_cast<double>(samples_[i]) / 1000.0;  // ms
  }
  int64_t count() const { return static_cast<int64_t>(samples_.size()); }

 private:
  std::vector<int64_t> samples_;
  bool sorted_ = false;
};

long rss_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field) + 1));
  }
  return -1;
}

pid_t pid_of_agent(const std::string& socket) {
  // The agent process is our child; find it by its command line holding the socket path.
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmd(e.path() / "cmdline");
    std::string s((std::istreambuf_iterator<char>(cmd)), {});
    if (s.find("accrue-agent") != std::string::npos && s.find(socket) != std::string::npos &&
        s.find("seed") == std::string::npos) {
      try {
        return static_cast<pid_t>(std::stol(e.path().filename().string()));
      } catch (...) {
      }
    }
  }
  return -1;
}

// Ceiling 1: the agent's validate query, prepared, straight on SQLite, `threads` connections.
double raw_lookups_per_s(const std::string& db_path, int64_t customers, int threads,
                         double seconds) {
  // AgentProcess's key file holds 64 hex digits 'a': 32 bytes of 0xaa.
  std::string hexkey(64, 'a');
  std::vector<uint8_t> k;
  for (size_t i = 0; i < hexkey.size(); i += 2)
    k.push_back(static_cast<uint8_t>(std::stoul(hexkey.substr(i, 2), nullptr, 16)));
  auto hasher = IdentifierHasher::create(k);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      sqlite3* db = nullptr;
      sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db,
                         "SELECT c.customer_id, c.status, c.tier_id, c.display_name, "
                         "c.confirmed_available, c.confirmed_pending, c.local_debit "
                         "FROM identifier i JOIN customer c ON c.customer_id = i.customer_id "
                         "WHERE i.hash = ?",
                         -1, &st, nullptr);
      int64_t n = 0;
      auto end = Steady::now() + std::chrono::duration<double>(seconds);
      uint64_t x = 88172645463325252ull + static_cast<uint64_t>(t);
      while (Steady::now() < end) {
        for (int k2 = 0; k2 < 100; ++k2) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          auto h =
              hasher->hash({IdentifierKind::kCard, agent::seed_card_number(static_cast<int64_t>(
                                                       x % static_cast<uint64_t>(customers)))});
          sqlite3_bind_blob(st, 1, h.data(), 32, SQLITE_STATIC);
          if (sqlite3_step(st) == SQLITE_ROW) ++n;
          sqlite3_reset(st);
        }
      }
      sqlite3_finalize(st);
      sqlite3_close(db);
      total += n;
    });
  }
  for (auto& t : ts) t.join();
  return static_cast<double>(total.load()) / seconds;
}

// Ceiling 2: one row per transaction, WAL + synchronous=FULL, one writer.
double raw_full_txn_per_s(const std::string& dir, double seconds) {
  std::string path = dir + "/ceiling.db";
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
               "CREATE TABLE t (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t (body) VALUES (?)", -1, &st, nullptr);
  std::string body(300, 'x');
  int64_t n = 0;
  auto end = Steady::now() + std::chrono::duration<double>(seconds);
  while (Steady::now() < end) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_blob(st, 1, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    ++n;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return static_cast<double>(n) / seconds;
}

struct LoadResult {
  double per_s = 0;
  Histogram hist;
  int64_t errors = 0;
};

// Builds request n of connection c: a validate or an accrual for a random member (never one of
// the members seeded as blocked).
// Each drive() is a new run: its till transaction ids never repeat an earlier run's (a repeated
// id is answered from its receipt, without a write).
std::atomic<int> g_run{0};

pb::Request make_request(int run, int c, int64_t n, uint64_t& x, int64_t customers,
                         bool accrue_mode) {
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  int64_t who = static_cast<int64_t>(x % static_cast<uint64_t>(customers));
  if (who % 997 == 13) who = (who + 1) % customers;
  const std::string card = agent::seed_card_number(who);
  pb::Request req;
  req.set_request_id(std::to_string(n));
  req.set_till_id("bench-till-" + std::to_string(c));
  if (accrue_mode) {
    auto* a = req.mutable_accrue();
    a->set_pos_tx_id("b" + std::to_string(run) + "-" + std::to_string(c) + "-" + std::to_string(n));
    a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    a->mutable_identifier()->set_value(card);
    auto* b = a->mutable_basket();
    b->set_currency("EUR");
    auto* l = b->add_lines();
    l->set_line_no(1);
    l->set_sku("SKU-1");
    l->add_categories("tops");
    l->set_quantity_milli(1000);
    l->set_amount_minor(1999);
  } else {
    auto* v = req.mutable_validate()->mutable_identifier();
    v->set_kind(pb::IDENTIFIER_KIND_CARD);
    v->set_value(card);
  }
  return req;
}

// Closed loop: every connection has one request in flight. The connections are driven by a
// couple of epoll threads (not a thread each), so the load generator leaves the cores to the
// agent as far as it can.
LoadResult drive(const std::string& socket, int clients, double seconds, int64_t customers,
                 bool accrue_mode, int threads = 2) {
  struct Conn {
    int fd = -1;
    int id = 0;
    int64_t n = 0;
    uint64_t x = 0;
    Steady::time_point sent;
    agent::FrameDecoder decoder{1 << 20};
  };
  const int run = ++g_run;
  std::atomic<int64_t> errors{0};
  std::vector<Histogram> hists(static_cast<size_t>(threads));
  const auto end = Steady::now() + std::chrono::duration_cast<Steady::duration>(
                                       std::chrono::duration<double>(seconds));
  auto start = Steady::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      int ep = epoll_create1(0);
      std::vector<std::unique_ptr<Conn>> conns;
      auto send_next = [&](Conn& c) {
        auto bytes = agent::encode_request(
            agent::Framing::kBinary, make_request(run, c.id, c.n++, c.x, customers, accrue_mode));
        c.sent = Steady::now();
        return ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(bytes.size());
      };
      for (int c = t; c < clients; c += threads) {
        auto conn = std::make_unique<Conn>();
        conn->id = c;
        conn->x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(c + 1);
        conn->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
        if (::connect(conn->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
          ++errors;
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = conn.get();
        epoll_ctl(ep, EPOLL_CTL_ADD, conn->fd, &ev);
        conns.push_back(std::move(conn));
      }
      for (auto& c : conns) send_next(*c);
      std::array<epoll_event, 64> events;
      char buf[65536];
      while (Steady::now() < end) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
          Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
          ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
          if (got <= 0) {
            ++errors;
            epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            continue;
          }
          c.decoder.feed(std::string_view(buf, static_cast<size_t>(got)));
          for (;;) {
            auto frame = c.decoder.next();
            if (!frame || !*frame) break;
            auto resp = agent::decode_response(agent::Framing::kBinary, **frame);
            if (!resp || resp->has_error()) {
              if (errors++ == 0 && resp) {
                std::fprintf(stderr, "first error: %s\n", resp->error().message().c_str());
              }
            } else {
              hists[static_cast<size_t>(t)].add(
                  std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - c.sent)
                      .count());
            }
            if (Steady::now() < end) send_next(c);
          }
        }
      }
      for (auto& c : conns) ::close(c->fd);
      ::close(ep);
    });
  }
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  LoadResult r;
  for (auto& h : hists) r.hist.merge(h);
  r.per_s = static_cast<double>(r.hist.count()) / elapsed;
  r.errors = errors;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--customers")
      a.customers = std::stoll(argv[i + 1]);
    else if (k == "--seconds")
      a.seconds = std::stod(argv[i + 1]);
    else if (k == "--clients")
      a.clients = std::stoi(argv[i + 1]);
    else if (k == "--tills")
      a.tills = std::stoi(argv[i + 1]);
    else if (k == "--io-threads")
      a.io_threads = std::stoi(argv[i + 1]);
    else if (k == "--load-threads")
      a.load_threads = std::stoi(argv[i + 1]);
    else if (k == "--only" &&
             (std::string(argv[i + 1]) == "validate" || std::string(argv[i + 1]) == "accrue"))
      a.only = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: agent_bench [--customers N] [--seconds S] [--clients C] [--tills T] "
                   "[--only validate|accrue]\n");
      return 64;
    }
  }
  auto t0 = Steady::now();
  testing::AgentProcess agent(a.customers);
  if (agent.seed_status() != 0) {
    std::fprintf(stderr, "seeding failed; see %s\n", agent.log_path().c_str());
    return 1;
  }
  double seed_s = std::chrono::duration<double>(Steady::now() - t0).count();
  if (!agent.start({"--readers", "4", "--io-threads", std::to_string(a.io_threads),
                    "--max-connections", "1024"})) {
    std::fprintf(stderr, "agent did not start; see %s\n", agent.log_path().c_str());
    return 1;
  }
  pid_t pid = pid_of_agent(agent.socket());
  std::printf(
      "accrue agent benchmark: %lld members (seeded in %.1f s), %.0f s per phase, %u cores\n\n",
      static_cast<long long>(a.customers), seed_s, a.seconds, std::thread::hardware_concurrency());

  if (a.only != "accrue") {
    double raw1 = raw_lookups_per_s(agent.db_path(), a.customers, 1, std::min(a.seconds, 3.0));
    double raw2 = raw_lookups_per_s(agent.db_path(), a.customers, 2, std::min(a.seconds, 3.0));
    auto v = drive(agent.socket(), a.clients, a.seconds, a.customers, false, a.load_threads);
    std::printf("validate, %d connections over the unix socket (closed loop, 2 load threads)\n",
                a.clients);
    std::printf(
        "  agent             %10.0f req/s   p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %lld\n",
        v.per_s, v.hist.percentile(50), v.hist.percentile(99), v.hist.percentile(99.9),
        static_cast<long long>(v.errors));
    std::printf(
        "  ceiling: raw SQLite prepared lookups (hash -> member), 1 thread %10.0f/s, 2 threads "
        "%10.0f/s\n",
        raw1, raw2);
    std::printf("  agent / ceiling (2 threads): %.0f%%   (target >= 40%%, p99 <= 1 ms)\n\n",
                100.0 * v.per_s / raw2);
  }

  double accrual_rate = 0;
  if (a.only != "validate") {
    double raw_full = raw_full_txn_per_s(agent.dir(), std::min(a.seconds, 3.0));
    auto w = drive(agent.socket(), a.tills, a.seconds, a.customers, true, a.load_threads);
    std::printf(
        "durable accruals, %d tills, one sale in flight each (WAL, synchronous=FULL, group "
        "commit)\n",
        a.tills);
    std::printf("  agent             %10.0f accruals/s   p50 %.3f ms  p99 %.3f ms  errors %lld\n",
                w.per_s, w.hist.percentile(50), w.hist.percentile(99),
                static_cast<long long>(w.errors));
    std::printf("  ceiling: raw one-row transactions, synchronous=FULL  %10.0f txn/s\n", raw_full);
    std::printf("  agent / ceiling: %.1fx   (target >= 5x, p99 <= 20 ms)\n\n", w.per_s / raw_full);
    accrual_rate = w.per_s;
  }

  if (pid > 0) {
    std::printf(
        "agent memory with %lld members: RSS %ld KiB now, peak %ld KiB   (target <= 65536 KiB)\n",
        static_cast<long long>(a.customers), rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
  }
  agent.stop(SIGTERM);

  if (a.only != "validate") {
    // What group commit itself buys: the same agent, the same tills, one transaction (and one
    // fsync) per accrual.
    const std::string config = agent.dir() + "/one-per-txn.toml";
    std::ofstream(config) << "[limits]\nmax_group = 1\n";
    if (!agent.start({"--readers", "4", "--io-threads", std::to_string(a.io_threads),
                      "--max-connections", "1024", "--config", config})) {
      std::fprintf(stderr, "agent did not restart; see %s\n", agent.log_path().c_str());
      return 1;
    }
    auto one =
        drive(agent.socket(), a.tills, std::min(a.seconds, 5.0), a.customers, true, a.load_threads);
    std::printf(
        "\nthe same agent with group commit off (limits.max_group = 1: a transaction and an fsync "
        "per accrual)\n");
    std::printf("  agent             %10.0f accruals/s   p50 %.3f ms  p99 %.3f ms  errors %lld\n",
                one.per_s, one.hist.percentile(50), one.hist.percentile(99),
                static_cast<long long>(one.errors));
    if (accrual_rate > 0 && one.per_s > 0) {
      std::printf("  group commit gain: %.1fx\n", accrual_rate / one.per_s);
    }
    agent.stop(SIGTERM);
  }
  return 0;
}
