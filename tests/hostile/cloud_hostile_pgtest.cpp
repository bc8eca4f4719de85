// Hostile and broken clients against the cloud service: the whole CloudApp (the one
// `accrue-cloud serve` runs) on its real HTTP server and a throwaway PostgreSQL database, in
// this process. Each attack runs beside a head-office client reading a member's status; the
// attacker gets the documented answer or a closed connection within its deadline, the reader's
// latency is printed, and the process's peak memory (service and attackers together) is checked.
// Every loop is bounded in count and time; all traffic stays on 127.0.0.1.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <deque>

#include "common/base64url.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/common/child_process.h"
#include "tests/hostile/hostile.h"

namespace accrue::cloud::testing_support {
namespace {

using accrue::testing::LegitClient;
using accrue::testing::peak_rss_kib;
using accrue::testing::raise_fd_limit;
using Steady = std::chrono::steady_clock;

constexpr double kReaderP99CeilingMs = 1000;     // catches starvation, not slowness
constexpr long kPeakRssCeilingKib = 768 * 1024;  // service + attackers in one process
constexpr int kReadTimeoutMs = 1500;             // server.read_timeout_ms in this suite
constexpr int kMaxConnections = 1000;            // server.max_connections in this suite

// A raw TCP connection to the service: what a misbehaving client sends, byte by byte.
class Raw {
 public:
  explicit Raw(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  Raw(Raw&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view bytes) {
    return fd_ >= 0 && ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(bytes.size());
  }
  // Everything until the server closes (or `within` passes); `closed` tells which.
  std::string read_until_closed(std::chrono::milliseconds within, bool* closed = nullptr) {
    std::string out;
    const auto until = Steady::now() + within;
    char buf[8192];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Steady::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed) *closed = false;
    return out;
  }
  // True when the server has closed the connection (waits up to `within`).
  bool closed_by_server(std::chrono::milliseconds within) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  int fd_ = -1;
};

// gzip of `n` zero bytes, compressed as it goes (never holding the zeros).
std::string gzip_of_zeros(size_t n) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::vector<unsigned char> zeros(1 << 20, 0);
  std::string out;
  std::vector<unsigned char> buf(1 << 16);
  size_t left = n;
  int flush = Z_NO_FLUSH;
  do {
    const size_t take = std::min(left, zeros.size());
    zs.next_in = zeros.data();
    zs.avail_in = static_cast<uInt>(take);
    left -= take;
    flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = buf.data();
      zs.avail_out = static_cast<uInt>(buf.size());
      deflate(&zs, flush);
      out.append(reinterpret_cast<char*>(buf.data()), buf.size() - zs.avail_out);
    } while (zs.avail_out == 0);
  } while (flush != Z_FINISH);
  deflateEnd(&zs);
  return out;
}

class CloudHostileTest : public CloudAppTest {
 protected:
  std::vector<std::string> extra_settings() override {
    raise_fd_limit(12000);
    return {"server.read_timeout_ms=" + std::to_string(kReadTimeoutMs),
            "server.idle_timeout_ms=3000",
            "server.max_connections=" + std::to_string(kMaxConnections)};
  }
  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure()) return;
    add_customers(50);
    reader_token_ = hq_token({"hq-analyst"});
  }

  // A head-office reader on a keep-alive connection (a new one when the service has closed it:
  // an idle connection may be closed to make room at the cap). An error is a read that failed
  // on a fresh connection too, or answered other than 200.
  LegitClient reader() {
    return LegitClient([this, c = std::shared_ptr<HttpClient>(), n = 0]() mutable {
      ++n;
      const std::string target = "/v1/customers/c" + std::to_string(n % 50) + "/status";
      for (int attempt = 0; attempt < 2; ++attempt) {
        try {
          if (!c) c = std::make_shared<HttpClient>(app_->port());
          auto r = c->request(bhttp::verb::get, target, "",
                              {{"Authorization", "Bearer " + reader_token_}});
          return r.result_int() == 200;
        } catch (const std::exception&) {
          c.reset();
          if (attempt == 0) ++reconnects_;
        }
      }
      return false;
    });
  }

  void finish(const std::string& attack, LegitClient& legit) {
    const auto s = legit.stop();
    const long rss = peak_rss_kib(::getpid());
    accrue::testing::report("cloud", attack, s, rss);
    std::printf("[hostile] cloud %-46s reader reconnected %d times\n", attack.c_str(),
                reconnects_.load());
    EXPECT_GT(s.calls, 0u);
    EXPECT_EQ(s.errors, 0u) << attack << ": the head-office reader was refused or not answered";
    EXPECT_LT(s.p99_ms, kReaderP99CeilingMs) << attack;
    EXPECT_LT(rss, kPeakRssCeilingKib * accrue::testing::kRssAllowance) << attack;
  }

  // The status line of what a raw exchange got back ("" when closed without an answer).
  static std::string status_line(const std::string& raw) { return raw.substr(0, raw.find('\r')); }

  std::string reader_token_;
  std::atomic<int> reconnects_{0};
};

// The same reader for two seconds with nobody attacking: the figure the others compare with.
TEST_F(CloudHostileTest, Baseline) {
  auto legit = reader();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  finish("no attack (baseline)", legit);
}

// Slowloris: a header that never ends, and a body sent a byte at a time. The read deadline
// covers the whole request, whatever the pace: both are closed after read_timeout_ms.
TEST_F(CloudHostileTest, SlowClientsAreClosedAtTheReadDeadline) {
  auto legit = reader();
  auto slow = [&](std::string first, char filler) {
    Raw c(app_->port());
    EXPECT_TRUE(c.ok());
    const auto t0 = Steady::now();
    c.send(first);
    bool closed = false;
    // A byte every 200 ms, at most 40 (8 s), until the server closes.
    for (int i = 0; i < 40 && !closed; ++i) {
      c.read_until_closed(std::chrono::milliseconds(200), &closed);
      if (!closed && !c.send(std::string(1, filler))) closed = true;
    }
    EXPECT_TRUE(closed) << "still open after 8 s: " << first;
    return std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
  };
  const double header_ms = slow("GET /v1/customers/c1/status HTTP/1.1\r\nX-Slow: ", 'a');
  const double body_ms = slow(
      "POST /v1/sync/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
      "Authorization: Bearer " +
          token_ + "\r\nContent-Length: 1000\r\n\r\n",
      '\x08');
  // And one that connects and never says anything.
  Raw silent(app_->port());
  const auto t0 = Steady::now();
  EXPECT_TRUE(silent.closed_by_server(std::chrono::milliseconds(kReadTimeoutMs + 1500)));
  const double silent_ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
  std::printf(
      "[hostile] cloud closed: endless header after %.0f ms, 1-byte body after %.0f ms, "
      "silent connection after %.0f ms (read_timeout_ms %d)\n",
      header_ms, body_ms, silent_ms, kReadTimeoutMs);
  for (double ms : {header_ms, body_ms, silent_ms}) {
    EXPECT_LT(ms, kReadTimeoutMs + 1000);
    EXPECT_GT(ms, kReadTimeoutMs - 300);
  }
  finish("slow clients (1 byte / 200 ms)", legit);
}

// Thousands of connections that never send a request, three times the cap: the longest-idle make
// room for newcomers, the reader keeps being served, and all are gone after the read deadline.
TEST_F(CloudHostileTest, ThousandsOfIdleConnectionsNeitherLockOutNorLinger) {
  const int n = std::min<int>(3 * kMaxConnections, static_cast<int>(raise_fd_limit(12000)) - 300);
  auto legit = reader();
  std::vector<Raw> idle;
  idle.reserve(static_cast<size_t>(n));
  const auto t0 = Steady::now();
  for (int i = 0; i < n && Steady::now() - t0 < std::chrono::seconds(20); ++i) {
    idle.emplace_back(app_->port());
  }
  const double open_s = std::chrono::duration<double>(Steady::now() - t0).count();
  // The kernel completes connects before the service accepts them: wait until it has (bounded).
  for (int i = 0; i < 250 && app_->server().stats().accepted < idle.size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last evictions land
  size_t closed = 0;
  for (auto& c : idle) closed += c.closed_by_server(std::chrono::milliseconds(0)) ? 1 : 0;
  std::printf(
      "[hostile] cloud %zu idle connections opened in %.2f s; %zu already closed to make "
      "room (cap %d)\n",
      idle.size(), open_s, closed, kMaxConnections);
  EXPECT_GE(closed + kMaxConnections + 64, idle.size());
  // After the read deadline none is left.
  std::this_thread::sleep_for(std::chrono::milliseconds(kReadTimeoutMs + 1000));
  size_t still_open = 0;
  for (auto& c : idle) still_open += c.closed_by_server(std::chrono::milliseconds(0)) ? 0 : 1;
  EXPECT_EQ(still_open, 0u) << "connections that never sent a request outlived read_timeout_ms";
  finish(std::to_string(idle.size()) + " idle connections (cap " + std::to_string(kMaxConnections) +
             ")",
         legit);
}

// Connections opened as fast as four threads can (10,000 at most), some held, some dropped,
// past the cap. The reader holds its keep-alive connection (served once before the flood) and is
// never the one evicted.
TEST_F(CloudHostileTest, AConnectionFloodPastTheCapLeavesTheReaderServed) {
  auto legit = reader();
  ASSERT_TRUE(legit.wait_until_served()) << "the reader was not served before the flood";
  std::atomic<int> opened{0};
  std::vector<std::thread> flood;
  const auto until = Steady::now() + std::chrono::seconds(5);
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&] {
      std::deque<Raw> held;  // each thread holds up to 400 at a time
      // At most 2,500 per thread: loopback ports are shared with the tests running beside.
      for (int i = 0; i < 2'500 && Steady::now() < until; ++i) {
        Raw c(app_->port());
        if (!c.ok()) continue;
        ++opened;
        if (i % 2 == 0) {
          held.push_back(std::move(c));
          if (held.size() > 400) held.pop_front();
        }
      }
    });
  }
  for (auto& t : flood) t.join();
  const auto st = app_->server().stats();
  std::printf(
      "[hostile] cloud flood: %d connections in 5 s; %llu evicted, %llu refused "
      "(cap %d)\n",
      opened.load(), static_cast<unsigned long long>(st.evicted_connections),
      static_cast<unsigned long long>(st.refused_connections), kMaxConnections);
  finish("connection flood past the cap", legit);
}

// Oversized headers and bodies get 431 / 413 at once (the body is never read in full), deeply
// nested and invalid-UTF-8 JSON gets 400, and nothing is written.
TEST_F(CloudHostileTest, OversizedAndPoisonedRequestsAreRefusedAndWriteNothing) {
  auto legit = reader();
  const std::string admin = hq_token({"hq-admin"});
  const auto customers_before = db_.scalar("SELECT count(*) FROM customer");
  {
    Raw c(app_->port());
    c.send("GET /v1/customers/c1/status HTTP/1.1\r\nHost: x\r\nX-Big: " +
           std::string(20 * 1024, 'a') + "\r\n\r\n");
    EXPECT_EQ(status_line(c.read_until_closed(std::chrono::seconds(3))),
              "HTTP/1.1 431 Request Header Fields Too Large");
  }
  {
    // Declares 100 MiB; the answer comes before any of it is sent.
    Raw c(app_->port());
    const auto t0 = Steady::now();
    c.send(
        "POST /v1/sync/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        "Authorization: Bearer " +
        token_ + "\r\nContent-Length: 104857600\r\n\r\n");
    EXPECT_EQ(status_line(c.read_until_closed(std::chrono::seconds(3))),
              "HTTP/1.1 413 Payload Too Large");
    EXPECT_LT(Steady::now() - t0, std::chrono::seconds(1));
  }
  {
    // Chunked, with no length announced: cut at the limit.
    Raw c(app_->port());
    c.send(
        "POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer " +
        admin + "\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk(64 * 1024, 'x');
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    for (int i = 0; i < 8; ++i) {
      if (!c.send(std::string(size_line) + chunk + "\r\n")) break;
    }
    EXPECT_EQ(status_line(c.read_until_closed(std::chrono::seconds(3))),
              "HTTP/1.1 413 Payload Too Large");
  }
  auto post_json = [&](const std::string& body) {
    HttpClient c(app_->port());
    return c.request(bhttp::verb::post, "/v1/customers", body,
                     {{"Authorization", "Bearer " + admin}, {"Content-Type", "application/json"}});
  };
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  auto r = post_json(deep);
  EXPECT_EQ(r.result_int(), 400u) << r.body();
  r = post_json("{\"a\":" + std::string(10'000, '{') + std::string(10'001, '}'));
  EXPECT_EQ(r.result_int(), 400u) << r.body();
  r = post_json("{\"email\":\"ann\xff\xfe@example.com\",\"home_store_id\":\"S1\"}");
  EXPECT_EQ(r.result_int(), 400u) << r.body();
  EXPECT_NE(r.body().find("JSON"), std::string::npos) << r.body();
  r = post_json("{\"email\":\"ann\\ud800@example.com\",\"home_store_id\":\"S1\"}");
  EXPECT_EQ(r.result_int(), 400u) << r.body();
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM customer"), customers_before);
  finish("oversized, nested, invalid UTF-8", legit);
}

// A gzip bomb on the sync endpoint: 100 MiB of zeros in ~100 KiB. Inflating stops at
// sync.max_inflated_bytes (1 MiB here) with 413; memory never holds the bomb.
TEST_F(CloudHostileTest, AGzipBombIsStoppedAtTheInflateLimit) {
  auto legit = reader();
  const std::string bomb = gzip_of_zeros(size_t{100} << 20);
  std::printf("[hostile] cloud gzip bomb: %zu bytes inflating to 100 MiB\n", bomb.size());
  ASSERT_LT(bomb.size(), 262144u) << "must pass the body limit to reach the inflater";
  const long rss_before = peak_rss_kib(::getpid());
  for (int i = 0; i < 20; ++i) {
    HttpClient c(app_->port());
    auto r = c.request(bhttp::verb::post, "/v1/sync/events", bomb,
                       {{"Authorization", "Bearer " + token_},
                        {"Content-Type", "application/x-protobuf"},
                        {"Content-Encoding", "gzip"}});
    ASSERT_EQ(r.result_int(), 413u) << r.body();
    EXPECT_NE(r.body().find("inflates beyond"), std::string::npos) << r.body();
  }
  const long grew = peak_rss_kib(::getpid()) - rss_before;
  std::printf("[hostile] cloud 20 gzip bombs: peak RSS grew %.1f MiB\n",
              static_cast<double>(grew) / 1024.0);
  EXPECT_LT(grew, 64 * 1024 * accrue::testing::kRssAllowance);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger"), "0");
  finish("gzip bombs on /v1/sync/events", legit);
}

// Batches replayed, reordered and sent twice at once: every event is booked exactly once.
TEST_F(CloudHostileTest, ReplayedAndReorderedBatchesAreBookedExactlyOnce) {
  auto legit = reader();
  std::vector<sv1::EventEnvelope> first, second;
  int64_t points = 0;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    auto e = accrual(seq, "c" + std::to_string(seq % 3), 1000 * static_cast<int64_t>(seq),
                     "replay-" + std::to_string(seq));
    points += e.accrual().points();
    (seq <= 3 ? first : second).push_back(e);
  }
  const auto a = batch_of(first), b = batch_of(second);
  // The later batch first, then the earlier one, then both again twice, concurrently.
  EXPECT_EQ(results(post(b, token_)).results_size(), 3);
  EXPECT_EQ(results(post(a, token_)).results_size(), 3);
  std::vector<std::thread> again;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    again.emplace_back([&, i] {
      auto res = post(i % 2 ? a : b, token_, i >= 2);
      if (res.result_int() == 200) ++ok;
    });
  }
  for (auto& t : again) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger"), "6");
  EXPECT_EQ(db_.scalar("SELECT coalesce(sum(points), 0) FROM ledger"), std::to_string(points));
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  auto report = audit(*conn);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->mismatches, 0);
  finish("replayed and reordered batches", legit);
}

// Credentials that must not work: each is refused with its status, and changes nothing.
TEST_F(CloudHostileTest, ForgedExpiredAndMisusedCredentialsAreRefused) {
  auto legit = reader();
  auto batch = batch_of({accrual(1, "c1", 5000, "cred-1")});
  // Store tokens: expired, signed with another key, another store's token for this batch.
  EXPECT_EQ(post(batch, expired_token_).result_int(), 401u);
  StoreTokens forger(std::vector<uint8_t>(32, 0x42));
  EXPECT_EQ(post(batch, forger.issue(kStore, SystemClock().now_ms() / 1000 + 3600)).result_int(),
            401u);
  auto other = post(batch, other_token_);
  EXPECT_EQ(other.result_int(), 403u) << other.body();
  EXPECT_EQ(post(batch, token_ + "x").result_int(), 401u);
  // Head-office tokens: expired, signed by a stranger under our key id, alg none, too few roles.
  auto status = [&](const std::string& token) {
    return get("/v1/customers/c1/status", token).result_int();
  };
  EXPECT_EQ(status(hq_token({"hq-analyst"}, -120)), 401u);
  auto stranger = auth::make_dev_keys("test-key");
  ASSERT_TRUE(stranger);
  boost::json::object claims{{"iss", "https://hq.test"},
                             {"aud", "accrue"},
                             {"sub", "mallory"},
                             {"exp", clock_.now_ms() / 1000 + 3600},
                             {"roles", boost::json::array{"hq-admin"}}};
  EXPECT_EQ(
      status(*auth::sign_es256(stranger->private_pem, "test-key", boost::json::serialize(claims))),
      401u);
  const std::string none = base64url_encode(R"({"alg":"none","kid":"test-key"})") + "." +
                           base64url_encode(boost::json::serialize(claims)) + ".";
  EXPECT_EQ(status(none), 401u);
  EXPECT_EQ(status("not-a-token"), 401u);
  {
    HttpClient c(app_->port());
    EXPECT_EQ(c.request(bhttp::verb::post, "/v1/stores", R"({"store_id":"S9"})",
                        {{"Authorization", "Bearer " + reader_token_},
                         {"Content-Type", "application/json"}})
                  .result_int(),
              403u)
        << "an analyst cannot create stores";
  }
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger"), "0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM store WHERE store_id = 'S9'"), "0");
  finish("forged, expired and misused credentials", legit);
}

// The `accrue-cloud serve` process itself, on the same database and keys, under every connection
// attack at once: 2,000 silent connections, 50 slowloris headers, 20 gzip bombs and a connect
// flood (5,000 at most, 5 s), with the reader beside them. Its own peak RSS is measured (no
// attacker in it).
TEST_F(CloudHostileTest, TheServiceProcessUnderEveryAttackAtOnceStaysSmall) {
  const uint16_t port = accrue::testing::free_loopback_port();
  const std::string config = (dir_ / "cloud.toml").string();
  std::ofstream(config) << "[server]\nlisten_address = \"127.0.0.1\"\nport = " << port
                        << "\naccess_log = false\nread_timeout_ms = " << kReadTimeoutMs
                        << "\nmax_connections = " << kMaxConnections
                        << "\nbody_limit_bytes = 262144\n[postgres]\ndsn = \"" << db_.dsn()
                        << "\"\npool_size = 8\n[auth]\njwks_file = \""
                        << (dir_ / "jwks.json").string()
                        << "\"\nissuer = \"https://hq.test\"\naudience = \"accrue\"\n"
                        << "store_token_key_file = \"" << key_file_
                        << "\"\n[sync]\nmax_inflated_bytes = 1048576\n[log]\nlevel = \"warn\"\n";
  const pid_t pid = accrue::testing::start_child(
      accrue::testing::ChildSpec({ACCRUE_CLOUD_BINARY, "--config", config, "serve"})
          .stderr_to((dir_ / "cloud.log").string()));
  ASSERT_GT(pid, 0);
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    try {
      HttpClient c(port);
      up = c.request(bhttp::verb::get, "/readyz").result_int() == 200;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ASSERT_TRUE(up) << "accrue-cloud did not start; see " << (dir_ / "cloud.log");
  const long rss_at_start = peak_rss_kib(pid);
  LegitClient legit([&, c = std::shared_ptr<HttpClient>()]() mutable {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!c) c = std::make_shared<HttpClient>(port);
        return c->request(bhttp::verb::get, "/v1/customers/c1/status", "",
                          {{"Authorization", "Bearer " + reader_token_}})
                   .result_int() == 200;
      } catch (const std::exception&) {
        c.reset();
      }
    }
    return false;
  });
  const std::string bomb = gzip_of_zeros(size_t{100} << 20);
  std::vector<std::thread> attackers;
  std::atomic<int> bombs_refused{0};
  attackers.emplace_back([&] {  // silent connections, held to the end
    std::vector<Raw> idle;
    for (int i = 0; i < 2000; ++i) idle.emplace_back(port);
    std::this_thread::sleep_for(std::chrono::seconds(5));
  });
  attackers.emplace_back([&] {  // slowloris
    std::vector<Raw> slow;
    for (int i = 0; i < 50; ++i) {
      slow.emplace_back(port);
      slow.back().send("GET / HTTP/1.1\r\nX-Slow: ");
    }
    for (int t = 0; t < 25; ++t) {
      for (auto& c : slow) c.send("a");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  attackers.emplace_back([&] {  // gzip bombs
    for (int i = 0; i < 20; ++i) {
      try {
        HttpClient c(port);
        auto r = c.request(bhttp::verb::post, "/v1/sync/events", bomb,
                           {{"Authorization", "Bearer " + token_},
                            {"Content-Type", "application/x-protobuf"},
                            {"Content-Encoding", "gzip"}});
        if (r.result_int() == 413) ++bombs_refused;
      } catch (const std::exception&) {
        // evicted at the cap before it was read: also refused
        ++bombs_refused;
      }
    }
  });
  attackers.emplace_back([&] {  // connect flood
    const auto until = Steady::now() + std::chrono::seconds(5);
    for (int i = 0; i < 5'000 && Steady::now() < until; ++i) Raw c(port);
  });
  for (auto& t : attackers) t.join();
  const auto s = legit.stop();
  const long rss = peak_rss_kib(pid);
  accrue::testing::report("cloud", "the serve process, every attack at once", s, rss);
  std::printf(
      "[hostile] cloud serve process: peak RSS %.1f MiB at start, %.1f MiB after the "
      "attacks; %d of 20 bombs refused\n",
      static_cast<double>(rss_at_start) / 1024.0, static_cast<double>(rss) / 1024.0,
      bombs_refused.load());
  EXPECT_EQ(bombs_refused.load(), 20);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_LT(s.p99_ms, kReaderP99CeilingMs);
  EXPECT_LT(rss, 256 * 1024 * accrue::testing::kRssAllowance)
      << "the service's own memory under attack";
}

}  // namespace
}  // namespace accrue::cloud::testing_support
