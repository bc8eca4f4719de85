// The case study's three hot reads against the real accrue-cloud (in this process, HTTP on
// 127.0.0.1), many keep-alive connections, closed loop, beside a ceiling measured the same way in
// the same run: the same server answering GET /healthz (no database, no cache, no auth).
//   data:  `generate` (synthetic members with receipts), one HQ token
//   mix:   status 40%, profile 30%, transactions 30%, customers drawn at random
// Usage: cloud_reads_bench [--customers N] [--receipts R] [--connections C] [--seconds S]
//                          [--redis 0|1]
// Needs ACCRUE_TEST_PG_DSN (and ACCRUE_TEST_REDIS_* with --redis 1). Never fails on speed.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "cloud/core/app.h"
#include "cloud/core/generate.h"
#include "common/synthetic.h"
#include "tests/cloud/cloud_fixture.h"

namespace {

using namespace accrue;
using namespace accrue::cloud;
using Steady = std::chrono::steady_clock;

struct Result {
  std::vector<int64_t> us;
  int64_t errors = 0;
  double seconds = 0;
  double per_s() const { return static_cast<double>(us.size()) / seconds; }
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    size_t i =
        std::min(us.size() - 1, static_cast<size_t>(p / 100 * static_cast<double>(us.size())));
    return static_cast<double>(us[i]) / 1000.0;
  }
};

// Closed loop over `connections` keep-alive connections on 2 epoll threads; `next(rng)` gives
// the request bytes. Counts a response when its headers and Content-Length body have arrived.
// Stops after `seconds`, or earlier once `finished()` says so.
Result drive(uint16_t port, int connections, double seconds,
             const std::function<std::string(std::mt19937_64&)>& next,
             const std::function<bool()>& finished = {}) {
  struct Conn {
    int fd = -1;
    std::string in;
    Steady::time_point sent;
  };
  const int threads = 2;
  std::vector<Result> parts(threads);
  std::vector<std::thread> ts;
  auto start = Steady::now();
  auto end = start + std::chrono::duration<double>(seconds);
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      int ep = epoll_create1(0);
      std::vector<std::unique_ptr<Conn>> conns;
      auto send_next = [&](Conn& c) {
        std::string req = next(rng);
        c.sent = Steady::now();
        return ::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(req.size());
      };
      for (int i = t; i < connections; i += threads) {
        auto c = std::make_unique<Conn>();
        c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
          ++parts[static_cast<size_t>(t)].errors;
          ::close(c->fd);
          continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = c.get();
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        conns.push_back(std::move(c));
      }
      for (auto& c : conns) send_next(*c);
      std::vector<epoll_event> events(256);
      char buf[65536];
      while (Steady::now() < end && !(finished && finished())) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
        for (int i = 0; i < n; ++i) {
          Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
          ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
          if (got <= 0) {
            ++parts[static_cast<size_t>(t)].errors;
            epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
            continue;
          }
          c.in.append(buf, static_cast<size_t>(got));
          for (;;) {
            auto hdr_end = c.in.find("\r\n\r\n");
            if (hdr_end == std::string::npos) break;
            auto cl = c.in.find("Content-Length: ");
            if (cl == std::string::npos || cl > hdr_end) cl = c.in.find("content-length: ");
            size_t len =
                cl == std::string::npos ? 0 : std::strtoull(c.in.c_str() + cl + 16, nullptr, 10);
            if (c.in.size() < hdr_end + 4 + len) break;
            const bool ok = c.in.compare(0, 12, "HTTP/1.1 200") == 0;
            c.in.erase(0, hdr_end + 4 + len);
            auto& part = parts[static_cast<size_t>(t)];
            if (ok) {
              part.us.push_back(
                  std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - c.sent)
                      .count());
            } else {
              ++part.errors;
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
  Result r;
  for (auto& p : parts) {
    r.us.insert(r.us.end(), p.us.begin(), p.us.end());
    r.errors += p.errors;
  }
  r.seconds = std::chrono::duration<double>(Steady::now() - start).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t customers = 100000;
  int receipts = 5, connections = 1500, redis = 1;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--customers")
      customers = std::atoll(argv[i + 1]);
    else if (k == "--receipts")
      receipts = std::atoi(argv[i + 1]);
    else if (k == "--connections")
      connections = std::atoi(argv[i + 1]);
    else if (k == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (k == "--redis")
      redis = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: cloud_reads_bench [--customers N] [--receipts R] "
                   "[--connections C] [--seconds S] [--redis 0|1]\n");
      return 64;
    }
  }
  if (accrue::testing::service_env("ACCRUE_TEST_PG_DSN").empty() ||
      (redis && accrue::testing::service_env("ACCRUE_TEST_REDIS_PORT").empty())) {
    std::fprintf(
        stderr,
        "ACCRUE_TEST_PG_DSN / ACCRUE_TEST_REDIS_* not set (packaging/dev/services start)\n");
    return accrue::testing::services_required() ? 1 : 77;
  }
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 20000);
  setrlimit(RLIMIT_NOFILE, &nofile);

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
  g.receipts_per_customer = receipts;
  auto t0 = Steady::now();
  auto gen = generate(*conn, catalog, g, {});
  if (!gen) {
    std::fprintf(stderr, "generate: %s\n", gen.error().message.c_str());
    return 1;
  }
  const double gen_s = std::chrono::duration<double>(Steady::now() - t0).count();

  const std::string dir = "/tmp/accrue-reads-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto keys = auth::make_dev_keys("bench");
  std::ofstream(dir + "/jwks.json") << keys->jwks_json;
  std::vector<std::string> settings = {"postgres.dsn=" + db.dsn(),
                                       "server.port=0",
                                       "server.listen_address=127.0.0.1",
                                       "server.access_log=false",
                                       "auth.jwks_file=" + dir + "/jwks.json",
                                       "hq.rate_limit_per_minute=100000000",
                                       "auth.issuer=https://bench",
                                       "server.max_connections=20000",
                                       "log.level=warn"};
  if (redis) {
    settings.push_back("redis.host=" + accrue::testing::service_env("ACCRUE_TEST_REDIS_HOST"));
    settings.push_back("redis.port=" + accrue::testing::service_env("ACCRUE_TEST_REDIS_PORT"));
    // A prefix of this run's own: entries left in Redis by an earlier run (another database,
    // the same customer ids) must not make the cold phase warm.
    settings.push_back("redis.key_prefix=bench" + std::to_string(::getpid()) + ":");
  }
  auto config = load_cloud_config(std::nullopt, {}, settings);
  auto app = CloudApp::create(*config);
  if (!app || !(*app)->start()) return 1;
  const uint16_t port = (*app)->port();
  boost::json::object claims{{"iss", "https://bench"},
                             {"aud", "accrue"},
                             {"sub", "bench"},
                             {"exp", SystemClock().now_ms() / 1000 + 3600},
                             {"roles", boost::json::array{"hq-analyst"}}};
  const std::string token =
      *auth::sign_es256(keys->private_pem, "bench", boost::json::serialize(claims));

  auto path_of = [&](int64_t customer, uint64_t pick) {
    const std::string id = synthetic_customer_id(customer);
    return pick < 4   ? "/v1/customers/" + id + "/status"
           : pick < 7 ? "/v1/customers/" + id
                      : "/v1/customers/" + id + "/transactions?limit=10";
  };
  auto get = [&](const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer " + token + "\r\n\r\n";
  };
  auto read_request = [&](std::mt19937_64& rng) {
    const auto customer = static_cast<int64_t>(rng() % static_cast<uint64_t>(customers));
    return get(path_of(customer, rng() % 10));
  };
  auto health_request = [](std::mt19937_64&) {
    return std::string("GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n");
  };
  auto ceiling = drive(port, connections, seconds, health_request);
  // Cold: the cache is empty, so nearly every read goes to PostgreSQL.
  auto cold = drive(port, connections, seconds, read_request);
  // Warm: every customer's three reads once (as an hour-long run over the same CSV would), then
  // the same mix again, now answered mostly from Redis.
  std::atomic<int64_t> next_fill{0};
  const int64_t fills = customers * 3;
  auto fill_request = [&](std::mt19937_64&) {
    const int64_t k = next_fill.fetch_add(1) % fills;
    return get(path_of(k / 3, k % 3 == 0 ? 0 : k % 3 == 1 ? 5 : 9));
  };
  const auto warm_started = Steady::now();
  auto filled = drive(port, std::min(connections, 200), 300, fill_request,
                      [&] { return next_fill.load() >= fills; });
  const double warm_s = std::chrono::duration<double>(Steady::now() - warm_started).count();
  auto ours = drive(port, connections, seconds, read_request);

  std::printf(
      "cloud hot reads: %lld customers x %d receipts (generated in %.1f s), %d keep-alive "
      "connections, %.0f s, redis %s, 2 cores shared with PostgreSQL%s\n",
      static_cast<long long>(customers), receipts, gen_s, connections, seconds,
      redis ? "on" : "off", redis ? " and Redis" : "");
  std::printf(
      "  cold cache (mix: status 40%%, profile 30%%, transactions 30%%) %8.0f req/s  p50 %.1f ms  "
      "p90 %.1f ms  p99 %.1f ms  errors %lld\n",
      cold.per_s(), cold.pct(50), cold.pct(90), cold.pct(99), static_cast<long long>(cold.errors));
  std::printf("  (warming: %lld reads in %.0f s, errors %lld)\n",
              static_cast<long long>(filled.us.size()), warm_s,
              static_cast<long long>(filled.errors));
  std::printf(
      "  warm cache (the same mix)                                 %8.0f req/s  p50 %.1f ms  "
      "p90 %.1f ms  p99 %.1f ms  errors %lld\n",
      ours.per_s(), ours.pct(50), ours.pct(90), ours.pct(99), static_cast<long long>(ours.errors));
  std::printf(
      "  ceiling: the same server's /healthz                       %8.0f req/s  p50 %.1f ms  "
      "p90 %.1f ms  p99 %.1f ms  errors %lld\n",
      ceiling.per_s(), ceiling.pct(50), ceiling.pct(90), ceiling.pct(99),
      static_cast<long long>(ceiling.errors));
  std::printf(
      "  reads / ceiling: cold %.0f%%, warm %.0f%%   (the load-test target: >= 50%% of nginx "
      "static, p90 <= 60 ms)\n",
      100.0 * cold.per_s() / ceiling.per_s(), 100.0 * ours.per_s() / ceiling.per_s());
  (*app)->stop();
  std::filesystem::remove_all(dir);
  return ours.errors + cold.errors + filled.errors == 0 ? 0 : 1;
}
