// Upload: the outbox drains to the cloud's ledger once, rejected events land in the quarantine,
// an unreachable or busy cloud leaves every event queued, lost answers and cut uploads are
// applied once, and stores upload with their own certificate only.
#include "agent/sync/uploader.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/sync/fault_proxy.h"
#include "tests/sync/sync_fixture.h"

namespace accrue::sync_testing {
namespace {

TEST_F(UploadTest, AcknowledgedAccrualsReachTheCloudLedgerOnceAndTheOutboxDrains) {
  start_agent(cloud_url());
  std::vector<std::string> events;
  int64_t points = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = accrue(i % 40 == 13 ? 14 : i % 40, "sale-" + std::to_string(i));  // 13 is blocked
    ASSERT_TRUE(r.has_accrue()) << r.DebugString();
    events.push_back(r.accrue().event_id());
    points += r.accrue().points_earned();
  }
  ASSERT_TRUE(drained()) << "outbox still holds " << status().outbox_depth();
  EXPECT_EQ(cloud_rows("store_id = 'S1' AND kind = 1"), 40);
  EXPECT_EQ(db_.scalar("SELECT sum(points) FROM ledger WHERE store_id = 'S1' AND kind = 1"),
            std::to_string(points))
      << "the cloud recomputes the same points (same engine, same programme version)";
  for (const auto& id : events) {
    EXPECT_EQ(cloud_rows("event_id = '" + id + "'"), 1) << id;
  }
  const auto st = status();
  EXPECT_TRUE(st.online()) << "the last round trip succeeded";
  EXPECT_GT(st.last_sync_ms(), 0);
  EXPECT_EQ(st.quarantined(), 0u);
  const auto stats = agent_->uploader()->stats();
  EXPECT_EQ(stats.applied, 40u);
  EXPECT_EQ(stats.rejected, 0u);
  // The agent's own ledger knows the cloud has them.
  auto reader = agent::Replica::open_reader(agent_dir_ + "/data/replica.db");
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->begin_read());
  auto unconfirmed = reader->db().prepare("SELECT count(*) FROM ledger WHERE confirmed = 0");
  ASSERT_TRUE(unconfirmed);
  auto n = unconfirmed->first([](const agent::sqlite::Stmt& s) { return s.int64(0); });
  reader->end_read();
  ASSERT_TRUE(n && *n);
  EXPECT_EQ(**n, 0);
}

TEST_F(UploadTest, TheAgentReportsItsSyncHealthWithItsFeedPolls) {
  start_agent(cloud_url());
  ASSERT_TRUE(accrue(1, "health-1").has_accrue());
  ASSERT_TRUE(drained());
  const auto until = Steady::now() + std::chrono::seconds(15);
  std::string program;
  while (Steady::now() < until) {
    program = db_.scalar("SELECT coalesce(program, '') FROM agent WHERE agent_id = 'S1-agent'");
    if (!program.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(program, program_.program_id + ":" + std::to_string(program_.version));
  EXPECT_EQ(db_.scalar("SELECT outbox_depth IS NOT NULL AND quarantined = 0 FROM agent WHERE "
                       "agent_id = 'S1-agent'"),
            "t");
}

TEST_F(UploadTest, ARejectedEventGoesToQuarantineAndTheQueueKeepsMoving) {
  start_agent(cloud_url());
  // Member 55 is in the store's replica but not in the cloud: its sale is refused there.
  ASSERT_TRUE(accrue(1, "a").has_accrue());
  ASSERT_TRUE(accrue(55, "b").has_accrue());
  ASSERT_TRUE(accrue(2, "c").has_accrue());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 2);
  const auto st = status();
  EXPECT_EQ(st.quarantined(), 1u);
  EXPECT_TRUE(st.online()) << "a refused event is not an outage";
  // Later sales still flow.
  ASSERT_TRUE(accrue(3, "d").has_accrue());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 3);
  EXPECT_EQ(agent_->uploader()->stats().rejected, 1u);

  // The operator sees why, fixes the cause in the cloud and resubmits: the same event goes up.
  pb::Request list;
  list.mutable_list_quarantine();
  auto denied = call(list);
  ASSERT_TRUE(denied.has_error());
  EXPECT_EQ(denied.error().code(), pb::ERROR_CODE_PERMISSION_DENIED) << "tills may not";
  auto listed = call(list, {.operator_rights = true});
  ASSERT_TRUE(listed.has_quarantine()) << listed.DebugString();
  ASSERT_EQ(listed.quarantine().events_size(), 1);
  const auto& q = listed.quarantine().events(0);
  EXPECT_EQ(q.kind(), "accrual");
  EXPECT_EQ(q.reject_code(), "unknown_customer");
  auto conn = db_.connect();
  ASSERT_TRUE(conn);
  ZoneinfoSource zones;
  ProgramCatalog catalog(zones);
  GenerateOptions g;
  g.first = 55;
  g.customers = 1;
  g.receipts_per_customer = 0;
  ASSERT_TRUE(generate(*conn, catalog, g, {}));
  auto drop_without_reason = quarantine_action(pb::QuarantineActionRequest::ACTION_DROP, {q.seq()});
  EXPECT_EQ(drop_without_reason.error().code(), pb::ERROR_CODE_INVALID_ARGUMENT);
  auto resubmitted =
      quarantine_action(pb::QuarantineActionRequest::ACTION_RESUBMIT, {q.seq(), 999});
  ASSERT_TRUE(resubmitted.has_quarantine_action()) << resubmitted.DebugString();
  EXPECT_EQ(resubmitted.quarantine_action().affected(), 1u) << "unknown seqs are skipped";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + q.event_id() + "'"), 1);
  EXPECT_EQ(status().quarantined(), 0u);
}

TEST_F(UploadTest, ADroppedEventLeavesTheQuarantineAndNeverReachesTheCloud) {
  start_agent(cloud_url());
  ASSERT_TRUE(accrue(56, "x").has_accrue());
  const auto until = Steady::now() + std::chrono::seconds(10);
  while (status().quarantined() == 0 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pb::Request list;
  list.mutable_list_quarantine();
  auto listed = call(list, {.operator_rights = true});
  ASSERT_EQ(listed.quarantine().events_size(), 1);
  auto dropped = quarantine_action(pb::QuarantineActionRequest::ACTION_DROP,
                                   {listed.quarantine().events(0).seq()}, "test sale, void");
  ASSERT_TRUE(dropped.has_quarantine_action()) << dropped.DebugString();
  EXPECT_EQ(dropped.quarantine_action().affected(), 1u);
  const auto st = status();
  EXPECT_EQ(st.quarantined(), 0u);
  EXPECT_EQ(st.outbox_depth(), 0u);
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 0);
}

TEST_F(UploadTest, AnUnreachableCloudKeepsEveryEventQueuedAndTheAgentOffline) {
  // A port nothing listens on: connections are refused at once.
  start_agent("http://127.0.0.1:" + std::to_string(accrue::testing::free_loopback_port()));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(accrue(i, "off-" + std::to_string(i)).has_accrue());
  const auto until = Steady::now() + std::chrono::seconds(10);
  while (agent_->uploader()->stats().failures < 2 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(agent_->uploader()->stats().failures, 2u) << "it keeps retrying";
  const auto st = status();
  EXPECT_FALSE(st.online());
  EXPECT_EQ(st.outbox_depth(), 5u);
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 0);

  // The same replica with the right address: everything goes up, once.
  agent_->stop();
  agent_.reset();
  start_agent(cloud_url());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 5);
  EXPECT_TRUE(status().online());
}

TEST_F(UploadTest, AStoreTokenRotatedOnDiskIsUsedAfterAReload) {
  std::ofstream(agent_dir_ + "/store.token", std::ios::trunc) << "revoked-token\n";
  start_agent(cloud_url());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(accrue(i, "rot-" + std::to_string(i)).has_accrue());
  const auto until = Steady::now() + std::chrono::seconds(10);
  while (agent_->uploader()->stats().failures < 2 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(agent_->uploader()->stats().failures, 2u) << "the cloud refuses the old token";
  EXPECT_EQ(status().outbox_depth(), 3u);

  // The new token lands in the same file; SIGHUP (reload) reads it, no restart.
  std::ofstream(agent_dir_ + "/store.token", std::ios::trunc) << token_ << "\n";
  auto outcome = agent_->reload(agent_config(cloud_url()));
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_NE(std::ranges::find(outcome->applied, "cloud.credentials"), outcome->applied.end());
  EXPECT_TRUE(outcome->need_restart.empty());
  ASSERT_TRUE(drained()) << status().outbox_depth() << " left";
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 3);

  // A token file that cannot be read changes nothing: the running token stays.
  auto broken = agent_config(cloud_url());
  broken.cloud_token_file = agent_dir_ + "/missing.token";
  auto refused = agent_->reload(broken);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("cloud.token_file"), std::string::npos)
      << refused.error().message;
  ASSERT_TRUE(accrue(7, "rot-after").has_accrue());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 4);
}

// A stand-in cloud that answers every request with 503 and Retry-After: 1, and notes when each
// request came. Plain sockets: it must be nothing like the real service.
class BusyCloud {
 public:
  BusyCloud() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { run(); });
  }
  ~BusyCloud() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<Steady::time_point> posts() {
    std::lock_guard lock(mu_);
    return posts_;
  }
  std::vector<Steady::time_point> gets() {
    std::lock_guard lock(mu_);
    return gets_;
  }
  std::string requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string in;
      char buf[65536];
      while (!stop_) {  // keep-alive: answer each request on this connection
        auto head = in.find("\r\n\r\n");
        if (head != std::string::npos) {
          size_t body = 0;
          if (auto cl = in.find("Content-Length: "); cl != std::string::npos && cl < head) {
            body = std::stoul(in.substr(cl + 16));
          }
          if (in.size() >= head + 4 + body) {
            {
              std::lock_guard lock(mu_);
              seen_ += in.substr(0, in.find(' ')) + " ";
              if (in.starts_with("POST")) posts_.push_back(Steady::now());
              if (in.starts_with("GET /v1/sync/changes")) gets_.push_back(Steady::now());
            }
            in.erase(0, head + 4 + body);
            const std::string res =
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";
            ::send(c, res.data(), res.size(), MSG_NOSIGNAL);
            continue;
          }
        }
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      ::close(c);
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Steady::time_point> posts_, gets_;
  std::string seen_;
  std::thread thread_;
};

TEST_F(UploadTest, ABusyCloudsRetryAfterIsHonouredOverTheShortBackoff) {
  BusyCloud busy;
  start_agent("http://127.0.0.1:" + std::to_string(busy.port()));  // backoff_max_ms = 500
  ASSERT_TRUE(accrue(1, "ra").has_accrue());
  const auto until = Steady::now() + std::chrono::seconds(10);
  while (busy.posts().size() < 3 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto posts = busy.posts();
  ASSERT_GE(posts.size(), 3u) << busy.requests() << " requests in all";
  for (size_t i = 1; i < posts.size(); ++i) {
    EXPECT_GE(posts[i] - posts[i - 1], std::chrono::milliseconds(990))
        << "retry " << i << " came before the cloud's Retry-After";
  }
  // Downloads too: never sooner than the cloud asked.
  const auto gets = busy.gets();
  ASSERT_GE(gets.size(), 1u);
  for (size_t i = 1; i < gets.size(); ++i) {
    EXPECT_GE(gets[i] - gets[i - 1], std::chrono::milliseconds(990))
        << "download " << i << " came before the cloud's Retry-After";
  }
  EXPECT_FALSE(status().online()) << "a 503 is not a successful round trip";
  EXPECT_EQ(status().outbox_depth(), 1u);
}

// Faults on the wire (the fault proxy between agent and cloud): every acknowledged event still
// reaches the cloud's ledger exactly once and every balance equals its ledger.
class FaultTest : public UploadTest {
 protected:
  void accrue_and_drain(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(accrue(i % 40 == 13 ? 14 : i % 40, "f" + std::to_string(i)).has_accrue());
    }
    ASSERT_TRUE(drained(std::chrono::seconds(30))) << status().outbox_depth() << " left";
    EXPECT_EQ(cloud_rows("store_id = 'S1'"), n);
    EXPECT_EQ(db_.scalar("SELECT count(*) FROM (SELECT event_id FROM ledger GROUP BY event_id "
                         "HAVING count(*) > 1) d"),
              "0");
    EXPECT_EQ(db_.scalar("SELECT count(*) FROM balance b WHERE b.points <> (SELECT "
                         "coalesce(sum(g.points), 0) FROM ledger g WHERE g.customer_id = "
                         "b.customer_id)"),
              "0")
        << "every balance equals the sum of its ledger";
    EXPECT_TRUE(status().online());
  }
};

TEST_F(FaultTest, TheCloudCommitsButTheAnswerIsLostAndTheRetryIsADuplicate) {
  testing::FaultProxy proxy(app_->port());
  proxy.lose_upload_responses(2);
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  accrue_and_drain(20);
  EXPECT_EQ(proxy.lost(), 2);
  EXPECT_GE(agent_->uploader()->stats().duplicates, 1u)
      << "the retried batch was answered duplicate for what the cloud already had";
}

TEST_F(FaultTest, OnASlowTrickleAnUploadThatTimedOutAfterTheCommitIsAppliedOnce) {
  testing::FaultProxy proxy(app_->port());
  proxy.trickle(true);
  // The agent gives up after 5 s (cloud_timeout_ms here); the cloud has committed by then.
  proxy.delay_upload_responses(1, std::chrono::milliseconds(5500));
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  accrue_and_drain(10);
  EXPECT_GE(agent_->uploader()->stats().failures, 1u) << "the slow answer timed out";
  EXPECT_GE(agent_->uploader()->stats().duplicates, 1u) << "and its retry was a duplicate";
}

TEST_F(FaultTest, AnUploadCutOffHalfWayIsSentAgainWhole) {
  testing::FaultProxy proxy(app_->port());
  proxy.reset_uploads(2);
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  accrue_and_drain(20);
  EXPECT_EQ(proxy.resets(), 2);
  EXPECT_EQ(agent_->uploader()->stats().duplicates, 0u) << "the cloud never saw a cut batch";
}

// After an outage, the change feed would mostly bring back the members of the batches just
// sent: while events are pending behind the batch in flight, uploads go first and the feed
// waits for backlog_download_interval_ms; once drained, it is read on the normal interval.
TEST_F(FaultTest, WhileABacklogDrainsUploadsGoFirstAndTheFeedWaits) {
  testing::FaultProxy proxy(app_->port());
  proxy.set_down(true);
  auto c = agent_config("http://127.0.0.1:" + std::to_string(proxy.port()));
  c.upload_batch_events = 10;
  c.backlog_download_interval_ms = 3600000;
  auto a = agent::Agent::start(c);
  ASSERT_TRUE(a) << a.error().message;
  agent_ = std::move(*a);
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(accrue(i % 40 == 13 ? 14 : i % 40, "bl" + std::to_string(i)).has_accrue());
  }
  proxy.set_latency(std::chrono::milliseconds(100));  // six batches take 600 ms at least
  const int gets_before = proxy.requests("GET /v1/sync/changes");
  proxy.set_down(false);
  const auto until = Steady::now() + std::chrono::seconds(30);
  while (status().outbox_depth() > 0 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(status().outbox_depth(), 0u);
  const int during = proxy.requests("GET /v1/sync/changes") - gets_before;
  EXPECT_LE(during, 1) << "the feed was read between the batches of a backlog";
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 60);
  const auto again = Steady::now() + std::chrono::seconds(5);
  while (proxy.requests("GET /v1/sync/changes") - gets_before <= during && Steady::now() < again) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(proxy.requests("GET /v1/sync/changes") - gets_before, during)
      << "drained: the feed is read on the normal interval again";
}

// Store identity by certificate: the PKI script's CA, server and store certificates, accrue-cloud
// on HTTPS requiring them, the agent uploading with its own; rotation with overlap, revocation
// through the CRL, and a certificate of another store.
class PkiUploadTest : public UploadTest {
 protected:
  std::vector<std::string> extra_settings() override {
    pki_ = (dir_ / "pki").string();
    auto run = [&](const std::string& args) {
      const std::string cmd = "bash packaging/pki/accrue-pki " + args + " >>" + pki_ + ".log 2>&1";
      return std::system(cmd.c_str());
    };
    EXPECT_EQ(run("init " + pki_), 0);
    EXPECT_EQ(run("server " + pki_ + " localhost 127.0.0.1"), 0);
    EXPECT_EQ(run("store " + pki_ + " S1"), 0);  // serial 1001
    EXPECT_EQ(run("store " + pki_ + " S1"), 0);  // 1002: the rotation's new certificate
    EXPECT_EQ(run("store " + pki_ + " S2"), 0);  // 1003
    return tls_settings();
  }
  std::vector<std::string> tls_settings() {
    return {"tls.cert_file=" + pki_ + "/server/localhost.crt",
            "tls.key_file=" + pki_ + "/server/localhost.key",
            "tls.client_ca_file=" + pki_ + "/ca.crt", "tls.client_crl_file=" + pki_ + "/crl.pem"};
  }
  void start_agent_with(const std::string& cert) {
    auto c = agent_config("https://127.0.0.1:" + std::to_string(app_->port()));
    c.cloud_token_file.clear();
    c.cloud_cert_file = pki_ + "/stores/" + cert + ".crt";
    c.cloud_key_file = pki_ + "/stores/" + cert + ".key";
    c.cloud_ca_file = pki_ + "/ca.crt";
    auto a = agent::Agent::start(c);
    ASSERT_TRUE(a) << a.error().message;
    agent_ = std::move(*a);
  }
  void restart_agent_with(const std::string& cert) {
    agent_->stop();
    agent_.reset();
    start_agent_with(cert);
  }
  bool refused(uint64_t failures = 2) {
    const auto until = Steady::now() + std::chrono::seconds(10);
    while (agent_->uploader()->stats().failures < failures && Steady::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return agent_->uploader()->stats().failures >= failures && !status().online();
  }
  std::string pki_;
};

TEST_F(PkiUploadTest, StoresUploadWithTheirCertificateRotateAndAreRefusedOnceRevoked) {
  start_agent_with("S1-1001");
  ASSERT_TRUE(accrue(1, "m1").has_accrue());
  ASSERT_TRUE(drained()) << "mutual TLS with the store's certificate";
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 1);

  // Rotation: the new certificate works while the old one is still valid.
  restart_agent_with("S1-1002");
  ASSERT_TRUE(accrue(2, "m2").has_accrue());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 2);

  // The old one is revoked; the running service reads the new CRL (SIGHUP in the binary).
  ASSERT_EQ(std::system(("bash packaging/pki/accrue-pki revoke " + pki_ + " " + pki_ +
                         "/stores/S1-1001.crt >/dev/null 2>&1")
                            .c_str()),
            0);
  ASSERT_TRUE(app_->reload_tls());
  restart_agent_with("S1-1001");
  ASSERT_TRUE(accrue(3, "m3").has_accrue());
  EXPECT_TRUE(refused()) << "a revoked certificate is refused in the handshake";
  EXPECT_EQ(status().outbox_depth(), 1u) << "and nothing is lost: the event waits";
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 2);

  // The current certificate takes the waiting event up.
  restart_agent_with("S1-1002");
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("store_id = 'S1'"), 3);
}

TEST_F(PkiUploadTest, AStoreCannotUploadForAnother) {
  start_agent_with("S2-1003");  // the agent says it is S1; its certificate says S2
  ASSERT_TRUE(accrue(1, "x1").has_accrue());
  EXPECT_TRUE(refused());
  EXPECT_EQ(cloud_rows("true"), 0);
}

// Online redemption and lookup: the cloud decides a redemption while it can be reached, and
// tells the store about members it has never seen.
}  // namespace
}  // namespace accrue::sync_testing
