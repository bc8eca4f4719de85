// Upload, end to end in one process: a real agent (replica, group-commit writer, uploader on
// libcurl) and the real accrue-cloud on PostgreSQL. Tills accrue through the agent's service;
// the outbox drains to the cloud's ledger, rejected events land in the quarantine, and an
// unreachable cloud leaves every event queued and the agent offline.
#include "agent/sync/uploader.h"

#include "agent/sync/downloader.h"
#include "tests/sync/fault_proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <future>

#include "agent/core/agent.h"
#include "agent/store/seed.h"
#include "cloud/core/generate.h"
#include "common/wire/loyalty_codec.h"
#include "tests/cloud/cloud_app_fixture.h"

namespace accrue {
namespace {

using namespace cloud;
using namespace cloud::testing_support;
namespace pb = accrue::pos::v1;
using Steady = std::chrono::steady_clock;

class UploadTest : public CloudAppTest {
 protected:
  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    agent_dir_ = (dir_ / "agent").string();
    std::filesystem::create_directories(agent_dir_ + "/data");
    std::ofstream(agent_dir_ + "/program.key") << std::string(64, 'a') << "\n";
    std::ofstream(agent_dir_ + "/store.token") << token_ << "\n";
    auto program = wire::program_from_json(program_json_);
    ASSERT_TRUE(program);
    auto key = read_key_file(agent_dir_ + "/program.key", "program key");
    ASSERT_TRUE(key);
    agent::SeedOptions so;
    so.database_path = agent_dir_ + "/data/replica.db";
    so.store_id = kStore;
    so.customers = kAgentMembers;
    auto hasher = IdentifierHasher::create(*key);
    ASSERT_TRUE(hasher);
    ASSERT_TRUE(agent::seed_replica(so, *program, *hasher));
    // The cloud knows the first kCloudMembers of them.
    auto conn = db_.connect();
    ASSERT_TRUE(conn);
    ZoneinfoSource zones;
    ProgramCatalog catalog(zones);
    GenerateOptions g;
    g.customers = kCloudMembers;
    g.receipts_per_customer = 0;
    g.program_key = *key;  // the cloud knows their cards too (for lookups)
    ASSERT_TRUE(generate(*conn, catalog, g, {}));
  }
  void TearDown() override {
    if (agent_) agent_->stop();
    agent_.reset();
    CloudAppTest::TearDown();
  }

  agent::AgentConfig agent_config(const std::string& url) {
    agent::AgentConfig c;
    c.store_id = kStore;
    c.agent_id = "S1-agent";
    c.data_dir = agent_dir_ + "/data";
    c.socket = agent_dir_ + "/agent.sock";
    c.program_key_file = agent_dir_ + "/program.key";
    c.cloud_url = url;
    c.cloud_token_file = agent_dir_ + "/store.token";
    c.cloud_timeout_ms = 5000;
    c.cloud_connect_timeout_ms = 500;
    c.upload_backoff_max_ms = 500;
    c.download_interval_ms = 100;
    c.lookup_timeout_ms = lookup_timeout_ms_;
    return c;
  }
  // How long a till waits for a member lookup. The product's 300 ms is too short for a test
  // under ASan on two cores shared with other tests (a lookup that succeeds must not time out);
  // the test of the deadline itself sets it back.
  uint32_t lookup_timeout_ms_ = 3000;
  void start_agent(const std::string& url) {
    auto a = agent::Agent::start(agent_config(url));
    ASSERT_TRUE(a) << a.error().message;
    agent_ = std::move(*a);
  }
  std::string cloud_url() { return "http://127.0.0.1:" + std::to_string(app_->port()); }

  pb::Response call(const pb::Request& req, agent::Caller caller = {}) {
    std::promise<pb::Response> p;
    auto f = p.get_future();
    agent_->service().handle(
        req, [&p](pb::Response r) { p.set_value(std::move(r)); }, caller);
    return f.get();
  }
  pb::Response quarantine_action(pb::QuarantineActionRequest::Action action,
                                 std::vector<int64_t> seqs, std::string reason = "") {
    pb::Request req;
    auto* a = req.mutable_quarantine_action();
    a->set_action(action);
    for (auto s : seqs) a->add_seqs(s);
    a->set_reason(reason);
    return call(req, {.operator_rights = true});
  }
  pb::Response accrue(int64_t member, const std::string& tx) {
    pb::Request req;
    req.set_till_id("till-1");
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
    l->set_amount_minor(4999);
    return call(req);
  }
  pb::Response redeem(int64_t member, int64_t points, const std::string& tx) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* r = req.mutable_redeem();
    r->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    r->mutable_identifier()->set_value(agent::seed_card_number(member));
    r->set_pos_tx_id(tx);
    r->set_points(points);
    return call(req);
  }
  pb::ValidateResult validate(int64_t member) {
    pb::Request req;
    req.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    req.mutable_validate()->mutable_identifier()->set_value(agent::seed_card_number(member));
    return call(req).validate();
  }
  // Waits (bounded, 15 s) until member `m`'s validate satisfies `ok`, and returns the last
  // answer. The feed holds rows back while any older transaction of the database cluster is
  // open (other tests' too), so catching up is waited for rather than counted in pages.
  pb::ValidateResult validate_until(int64_t m,
                                    const std::function<bool(const pb::ValidateResult&)>& ok) {
    const auto until = Steady::now() + std::chrono::seconds(15);
    auto v = validate(m);
    while (!ok(v) && Steady::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      v = validate(m);
    }
    return v;
  }
  pb::AgentStatus status() {
    pb::Request req;
    req.mutable_get_agent_status();
    return call(req).agent_status();
  }
  // Waits (bounded) until the agent's outbox is empty.
  bool drained(std::chrono::seconds within = std::chrono::seconds(15)) {
    const auto until = Steady::now() + within;
    while (Steady::now() < until) {
      if (status().outbox_depth() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  int64_t cloud_rows(const std::string& where) {
    return std::stoll(db_.scalar("SELECT count(*) FROM ledger WHERE " + where));
  }

  static constexpr int64_t kAgentMembers = 60;
  static constexpr int64_t kCloudMembers = 50;
  std::string agent_dir_;
  std::unique_ptr<agent::Agent> agent_;
};

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

TEST_F(UploadTest, ADownloadedBalanceReplacesTheLocalViewWithoutCountingAnEventTwice) {
  start_agent(cloud_url());
  // Member 5 is not in the store's scope yet: the seeded replica says 185 available.
  EXPECT_EQ(validate(5).available_points(), 185);
  const int64_t seeded_pending = validate(5).pending_points();
  auto sale = accrue(5, "s-1");
  ASSERT_TRUE(sale.has_accrue());
  const int64_t earned = sale.accrue().points_earned();
  ASSERT_GT(earned, 0);
  EXPECT_EQ(validate(5).pending_points(), seeded_pending + earned)
      << "the local lot, before any upload";
  ASSERT_TRUE(drained());
  // The sale put member 5 in the store's scope: its snapshot comes down with the next pages.
  const auto v = validate_until(5, [&](const pb::ValidateResult& r) {
    return r.available_points() == 0 && r.pending_points() == earned;
  });
  EXPECT_EQ(v.pending_points(), earned) << "the cloud's pending lot, not it plus the local one";
  EXPECT_EQ(v.available_points(), 0) << "the cloud's figure (generated with no history)";
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = '" +
                       agent::seed_customer_id(5) + "'"),
            std::to_string(earned));
  EXPECT_FALSE(v.offline());
}

// The heart of invariant "local events stay on top", without a network: pages built by hand,
// applied by the writer.
class RebaseTest : public UploadTest {
 protected:
  void SetUp() override {
    UploadTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    start_agent("");  // no cloud: the events stay local, as in an outage
  }
  void apply(const sync::v1::ChangesPage& page) {
    std::promise<Result<void>> done;
    auto f = done.get_future();
    agent::WriteJob job;
    job.apply = [&page](agent::Replica& w) {
      return agent::apply_changes_page(w, page, SystemClock().now_ms(), nullptr);
    };
    job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
    ASSERT_TRUE(agent_->writer().submit(std::move(job)));
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message;
  }
  // A lookup's answer for a member (no identifiers: the test reads it by customer id).
  void apply_lookup_of(int64_t member, int64_t available) {
    sync::v1::LookupResponse found;
    found.set_found(true);
    *found.mutable_customer() = snapshot(member, available, 0, 0).changes(0).customer();
    std::promise<Result<void>> done;
    auto f = done.get_future();
    agent::WriteJob job;
    job.apply = [&found](agent::Replica& w) {
      return agent::apply_lookup(w, found, SystemClock().now_ms());
    };
    job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
    ASSERT_TRUE(agent_->writer().submit(std::move(job)));
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().message;
  }
  sync::v1::ChangesPage snapshot(int64_t member, int64_t available, int64_t pending,
                                 uint64_t processed_seq) {
    sync::v1::ChangesPage page;
    page.set_agent_processed_seq(processed_seq);
    auto* c = page.add_changes()->mutable_customer();
    c->set_customer_id(agent::seed_customer_id(member));
    c->set_status(loyalty::v1::CUSTOMER_STATUS_ACTIVE);
    c->set_tier_id("bronze");
    c->set_available_points(available);
    c->set_pending_points(pending);
    c->set_as_of_ms(SystemClock().now_ms());
    return page;
  }
};

TEST_F(RebaseTest, EventsAfterTheWatermarkStayOnTopOfTheDownloadedBalance) {
  // Member 20: seeded with 740 available. Two sales, seqs 1 and 2.
  ASSERT_EQ(validate(20).available_points(), 740);
  const int64_t seeded_pending = validate(20).pending_points();
  const int64_t first = accrue(20, "a").accrue().points_earned();
  const int64_t second = accrue(20, "b").accrue().points_earned();
  ASSERT_EQ(validate(20).pending_points(), seeded_pending + first + second);
  // The cloud had processed seq 1 when it read the balance: 740 available, the first sale
  // pending. The second sale must stay on top; the first must not count twice.
  apply(snapshot(20, 740, first, 1));
  auto v = validate(20);
  EXPECT_EQ(v.available_points(), 740);
  EXPECT_EQ(v.pending_points(), first + second);
  // A later page that has both.
  apply(snapshot(20, 740, first + second, 2));
  v = validate(20);
  EXPECT_EQ(v.pending_points(), first + second);
  // An old page (read before seq 2 was processed) does not resurrect the local lot twice
  // nor drop it: the member's watermark never moves back.
  apply(snapshot(20, 740, first + second, 1));
  EXPECT_EQ(validate(20).pending_points(), first + second);
}

TEST_F(RebaseTest, ARedemptionAfterTheWatermarkIsReplayedAgainstTheNewBalance) {
  // Member 21: 777 available. Redeem 500 (seq 1), then the cloud's page, read before seq 1
  // was processed, says 900 available (the member earned elsewhere).
  ASSERT_EQ(validate(21).available_points(), 777);
  ASSERT_TRUE(redeem(21, 500, "r1").has_redeem());
  EXPECT_EQ(validate(21).available_points(), 277);
  apply(snapshot(21, 900, 0, 0));
  EXPECT_EQ(validate(21).available_points(), 400) << "900 from the cloud - 500 not yet counted";
  // The cloud processes the redemption: its balance is 400, watermark 1.
  apply(snapshot(21, 400, 0, 1));
  EXPECT_EQ(validate(21).available_points(), 400) << "not 400 - 500";
}

TEST_F(RebaseTest, AnOnlineRedemptionInTheSnapshotBeforeItsUploadIsNotCountedTwice) {
  // Member 22: 1000 available here. A redemption of 300 the cloud applied online (seq 1 here,
  // not uploaded yet), then a page read after it: 700 available, watermark 0, and the event
  // listed as already inside the balance.
  const int64_t before = validate(22).available_points();
  auto r = redeem(22, 300, "on-1");
  ASSERT_TRUE(r.has_redeem());
  auto page = snapshot(22, before - 300, 0, 0);
  page.add_online_applied_event_ids(r.redeem().event_id());
  apply(page);
  EXPECT_EQ(validate(22).available_points(), before - 300) << "not before - 600";
  // Without the list the same page would count it twice: the list is what prevents it.
  apply(snapshot(22, before - 300, 0, 0));
  EXPECT_EQ(validate(22).available_points(), before - 600);
}

// A voided online redemption (its outcome unknown: uploaded as sent, then given back) never
// shows its points missing, whichever page arrives: one read before the cloud applied it, one
// with it applied online but not yet given back, one with the redemption uploaded and the
// give-back not, and one with both.
TEST_F(RebaseTest, AVoidedOnlineRedemptionNeverShowsItsPointsMissing) {
  const int64_t before = validate(23).available_points();
  ASSERT_GE(before, 300);
  auto e = envelope(0);
  auto* red = e.mutable_redemption();
  red->set_customer_id(agent::seed_customer_id(23));
  red->set_till_id("till-1");
  red->set_pos_tx_id("void-1");
  red->set_points(300);
  red->mutable_value()->set_currency("EUR");
  red->mutable_value()->set_minor_units(300);
  {  // what a stop between asking the cloud and recording its answer leaves
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    auto id = Uuid::parse(e.event_id(), "id");
    ASSERT_TRUE(id);
    ASSERT_TRUE(w->insert_online_redemption(
        {"till-1", "void-1", std::string(reinterpret_cast<const char*>(id->bytes().data()), 16),
         "fingerprint", red->customer_id(), e.SerializeAsString(), 1}));
  }
  auto voided = agent_->service().recover_online_redemptions();
  ASSERT_TRUE(voided) << voided.error().message;
  ASSERT_EQ(*voided, 1);  // the redemption is seq 1 here, its give-back seq 2
  EXPECT_EQ(validate(23).available_points(), before);
  apply(snapshot(23, before, 0, 0));  // read before the cloud applied anything
  EXPECT_EQ(validate(23).available_points(), before);
  auto applied_online = snapshot(23, before - 300, 0, 0);
  applied_online.add_online_applied_event_ids(e.event_id());
  apply(applied_online);
  EXPECT_EQ(validate(23).available_points(), before) << "the give-back is still on its way";
  apply(snapshot(23, before - 300, 0, 1));  // the redemption uploaded, the give-back not yet
  EXPECT_EQ(validate(23).available_points(), before);
  apply(snapshot(23, before, 0, 2));  // both in the cloud
  EXPECT_EQ(validate(23).available_points(), before);
}

TEST_F(RebaseTest, AResetRebuildsTheReplicaWithoutEverShowingItHalfBuilt) {
  // The seeded replica knows members 0..59. The cloud resets the store: its scope is now
  // members 30 and 31 only, in two pages. Member 40 has a sale the cloud has not confirmed.
  ASSERT_TRUE(accrue(40, "keep-1").has_accrue());
  auto first = snapshot(30, 100, 0, 0);
  first.set_reset(true);
  first.set_has_more(true);
  first.set_next_cursor("b1");
  apply(first);
  EXPECT_EQ(validate(30).available_points(), 100);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_ACTIVE)
      << "mid-rebuild, tills still see every member";
  auto last = snapshot(31, 200, 0, 0);
  last.set_next_cursor("f1");
  apply(last);
  EXPECT_EQ(validate(31).available_points(), 200);
  EXPECT_EQ(validate(30).available_points(), 100);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_UNKNOWN) << "swept with the last page";
  EXPECT_EQ(validate(40).status(), pb::MEMBER_STATUS_ACTIVE)
      << "kept: it has a sale the cloud has not confirmed";
  // A later ordinary page does not sweep anything.
  apply(snapshot(30, 150, 0, 0));
  EXPECT_EQ(validate(31).available_points(), 200);
}

// A lookup puts the store in the member's scope after the cloud may already have written the
// rebuild's pages: the member a till was just told about must survive the sweep, whether the
// lookup lands during the rebuild or just before its first page.
TEST_F(RebaseTest, AMemberLookedUpWhileTheReplicaIsRebuiltIsNotSwept) {
  apply_lookup_of(kAgentMembers + 1, 50);  // before the reset page arrives
  auto first = snapshot(30, 100, 0, 0);
  first.set_reset(true);
  first.set_has_more(true);
  first.set_next_cursor("b1");
  apply(first);
  apply_lookup_of(kAgentMembers + 2, 60);  // between the pages
  auto last = snapshot(31, 200, 0, 0);
  last.set_next_cursor("f1");
  apply(last);
  EXPECT_EQ(validate(20).status(), pb::MEMBER_STATUS_UNKNOWN) << "swept with the last page";
  auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
  ASSERT_TRUE(w);
  for (int64_t m : {kAgentMembers + 1, kAgentMembers + 2}) {
    auto c = w->customer(agent::seed_customer_id(m));
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->has_value()) << "member " << m << " was swept";
  }
}

TEST_F(RebaseTest, AProvisionalSaleTheCloudCreditedIsNotCountedTwiceOnceTheCardIsLinked) {
  // Card 70 is unknown here: the sale is kept against the card's hash (seq 1).
  auto sale = accrue(70, "p1");
  ASSERT_TRUE(sale.accrue().provisional());
  const int64_t earned = sale.accrue().points_earned();
  // The cloud credited it to member 70 and says so: its snapshot (watermark 1) has the points,
  // and the card's link comes after it in the same page.
  auto page = snapshot(70, 0, earned, 1);
  auto key = read_key_file(agent_dir_ + "/program.key", "program key");
  ASSERT_TRUE(key);
  auto hasher = IdentifierHasher::create(*key);
  ASSERT_TRUE(hasher);
  auto hash = hasher->hash({IdentifierKind::kCard, agent::seed_card_number(70)});
  auto* link = page.add_changes()->mutable_identifier();
  link->mutable_identifier()->set_kind("card");
  link->mutable_identifier()->set_hash(std::string(hash.begin(), hash.end()));
  link->set_customer_id(agent::seed_customer_id(70));
  apply(page);
  auto v = validate(70);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(v.pending_points(), earned) << "the cloud's figure, not it plus the local lot";
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
class OnlineTest : public UploadTest {
 protected:
  // Events as another agent of the store would send them (its own seq), straight to the cloud.
  sync::v1::EventEnvelope other_agent_event() {
    auto e = envelope(++other_seq_);
    e.set_agent_id("S1-other");
    return e;
  }
  void give_cloud_points(int64_t member, int64_t points) {
    auto e = other_agent_event();
    auto* a = e.mutable_adjustment();
    a->set_customer_id(agent::seed_customer_id(member));
    a->set_points(points);
    a->set_reason("test credit");
    a->set_actor("test");
    sync::v1::EventBatch b;
    b.set_store_id(kStore);
    b.set_agent_id("S1-other");
    *b.add_events() = e;
    auto r = results(post(b, token_));
    ASSERT_EQ(r.results(0).status(), sync::v1::EVENT_STATUS_APPLIED) << r.DebugString();
  }
  // Another till of the chain spends points online, straight through the cloud.
  sync::v1::OnlineRedeemResponse spend_elsewhere(int64_t member, int64_t points) {
    auto e = other_agent_event();
    e.set_seq(0);
    auto* r = e.mutable_redemption();
    r->set_customer_id(agent::seed_customer_id(member));
    r->set_till_id("till-9");
    r->set_pos_tx_id("elsewhere-" + std::to_string(other_seq_));
    r->set_points(points);
    sync::v1::OnlineRedeemRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    sync::v1::OnlineRedeemResponse out;
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_TRUE(out.ParseFromString(res.body()));
    return out;
  }
  // Member `m` with `points` in the cloud and in the store's view: credited in the cloud, then
  // seen in the store (a sale) so that its snapshot comes down.
  void member_with_points(int64_t m, int64_t points) {
    give_cloud_points(m, points);
    auto sale = accrue(m, "seen-" + std::to_string(m));
    ASSERT_TRUE(sale.has_accrue());
    pending_ = sale.accrue().points_earned();  // pending in the cloud's balance row
    ASSERT_TRUE(drained());
    ASSERT_EQ(validate_until(
                  m, [&](const pb::ValidateResult& r) { return r.available_points() == points; })
                  .available_points(),
              points);
  }
  // The member's points in the cloud, without the pending points of the sale in
  // member_with_points().
  int64_t cloud_balance(int64_t member) {
    return std::stoll(db_.scalar("SELECT points FROM balance WHERE customer_id = '" +
                                 agent::seed_customer_id(member) + "'")) -
           pending_;
  }
  void expect_ledger_sums_balances() {
    EXPECT_EQ(db_.scalar("SELECT count(*) FROM balance b WHERE b.points <> (SELECT "
                         "coalesce(sum(g.points), 0) FROM ledger g WHERE g.customer_id = "
                         "b.customer_id)"),
              "0")
        << "every balance equals the sum of its ledger";
  }
  // Removes member `m` from the store's replica (before the agent starts): the store has never
  // seen it, the cloud knows it.
  void forget_locally(int64_t m) {
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->remove_customer(agent::seed_customer_id(m)));
  }
  // An online redemption of this agent the cloud applied (POST /v1/sync/redeem) and the
  // intent the agent had written before asking, as if the answer had never been recorded.
  sync::v1::EventEnvelope cloud_applied_online_redemption(int64_t member, int64_t points,
                                                          const std::string& pos_tx_id) {
    auto e = other_agent_event();
    e.set_agent_id("S1-agent");
    e.set_seq(0);
    auto* red = e.mutable_redemption();
    red->set_customer_id(agent::seed_customer_id(member));
    red->set_till_id("till-1");
    red->set_pos_tx_id(pos_tx_id);
    red->set_points(points);
    red->mutable_value()->set_currency("EUR");
    red->mutable_value()->set_minor_units(points);
    sync::v1::OnlineRedeemRequest req;
    *req.mutable_event() = e;
    HttpClient client(app_->port());
    auto res = client.request(
        bhttp::verb::post, "/v1/sync/redeem", req.SerializeAsString(),
        {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/x-protobuf"}});
    EXPECT_EQ(res.result_int(), 200u);
    return e;
  }
  void leave_intent(const sync::v1::EventEnvelope& e, TimestampMs created_at) {
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    auto id = Uuid::parse(e.event_id(), "id");
    ASSERT_TRUE(id);
    ASSERT_TRUE(w->insert_online_redemption(
        {e.redemption().till_id(), e.redemption().pos_tx_id(),
         std::string(reinterpret_cast<const char*>(id->bytes().data()), 16), "fingerprint",
         e.redemption().customer_id(), e.SerializeAsString(), created_at}));
  }
  uint64_t other_seq_ = 0;
  int64_t pending_ = 0;
};

TEST_F(OnlineTest, TheCloudDecidesSoTwoStoresCannotSpendTheSamePoints) {
  start_agent(cloud_url());
  member_with_points(5, 1000);
  // Another store spends 700 of them online; this store's replica still says 1000.
  auto elsewhere = spend_elsewhere(5, 700);
  ASSERT_EQ(elsewhere.result().status(), sync::v1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(elsewhere.available_points(), 300);
  ASSERT_EQ(validate(5).available_points(), 1000) << "not downloaded yet";
  auto refused = redeem(5, 500, "r-1");
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), pb::ERROR_CODE_INSUFFICIENT_POINTS);
  EXPECT_NE(refused.error().message().find("300 available"), std::string::npos)
      << refused.error().message();
  // Within what the cloud has: applied there at once, and the upload is a duplicate.
  auto ok = redeem(5, 300, "r-2");
  ASSERT_TRUE(ok.has_redeem()) << ok.DebugString();
  EXPECT_FALSE(ok.redeem().offline());
  EXPECT_EQ(cloud_balance(5), 0);
  EXPECT_EQ(cloud_rows("event_id = '" + ok.redeem().event_id() + "'"), 1);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + ok.redeem().event_id() + "'"), 1) << "uploaded once more "
                                                                             "as a duplicate";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM agent_online_event WHERE agent_id = 'S1-agent'"), "0")
      << "the upload settled the online event";
  // The same till transaction again: the same answer, not a second redemption.
  auto again = redeem(5, 300, "r-2");
  ASSERT_TRUE(again.has_redeem());
  EXPECT_TRUE(again.redeem().replayed());
  EXPECT_EQ(cloud_balance(5), 0);
  // Once the feed has caught up the store sees the cloud's figure, the online redemption not
  // counted twice (it is in the snapshot and was this store's own event).
  EXPECT_EQ(validate_until(5, [](const pb::ValidateResult& r) { return r.available_points() == 0; })
                .available_points(),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // later pages change nothing
  EXPECT_EQ(validate(5).available_points(), 0) << "the online redemption counted twice";
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, ALostAnswerFallsBackToTheOfflineRulesWithTheSameEventId) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(6, 1000);
  // Two: libcurl sends a request once more on a fresh connection when a reused one dies
  // without an answer (harmless here: the same event id).
  proxy.lose_redeem_responses(2);
  auto r = redeem(6, 400, "lost-1");
  proxy.stop_losing();
  ASSERT_TRUE(r.has_redeem()) << r.DebugString();
  EXPECT_TRUE(r.redeem().offline()) << "decided by the offline rules";
  EXPECT_GE(proxy.lost(), 1);
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + r.redeem().event_id() + "'"), 1)
      << "applied online, uploaded later as a duplicate: once";
  EXPECT_EQ(cloud_balance(6), 600);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AnUnknownOutcomeBeyondTheOfflineLimitsIsVoidedAndNoPointIsLost) {
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  member_with_points(7, 5000);
  proxy.lose_redeem_responses(2);  // and libcurl's own retry on a fresh connection
  // 2500 points: above the programme's 2000 per redemption offline.
  auto r = redeem(7, 2500, "void-1");
  proxy.stop_losing();
  ASSERT_TRUE(r.has_error()) << r.DebugString();
  EXPECT_EQ(r.error().code(), pb::ERROR_CODE_UNAVAILABLE);
  EXPECT_NE(r.error().message().find("No points were redeemed"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(validate(7).available_points(), 5000) << "the till's view never moved";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(7), 5000) << "the cloud applied it, then the void gave it back";
  EXPECT_EQ(cloud_rows("kind = 2 AND customer_id = '" + agent::seed_customer_id(7) + "'"), 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 5 AND points = 2500 AND reason "
                       "LIKE 'void of online redemption%'"),
            "1");
  // A retry of the same till transaction is a new attempt, decided online this time.
  auto retry = redeem(7, 2500, "void-1");
  ASSERT_TRUE(retry.has_redeem()) << retry.DebugString();
  EXPECT_FALSE(retry.redeem().offline());
  EXPECT_EQ(cloud_balance(7), 2500);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AnOnlineRedemptionLeftUndecidedByAStopIsVoidedAtTheNextStart) {
  start_agent(cloud_url());
  member_with_points(8, 1000);
  agent_->stop();
  agent_.reset();
  // What a stop between "asked the cloud" and "recorded the answer" leaves: the intent. The
  // cloud did apply it.
  auto e = cloud_applied_online_redemption(8, 300, "cut-1");
  ASSERT_EQ(cloud_balance(8), 700);
  leave_intent(e, 1);
  start_agent(cloud_url());
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_balance(8), 1000) << "voided: the points are back";
  EXPECT_EQ(cloud_rows("event_id = '" + e.event_id() + "'"), 1);
  expect_ledger_sums_balances();
}

// A till that never comes back for a redemption whose answer was lost: the running agent voids
// it once no round trip can still be going on (60 s), without waiting for a restart.
TEST_F(OnlineTest, AnUndecidedRedemptionNoTillComesBackForIsVoidedWhileTheAgentRuns) {
  auto c = agent_config(cloud_url());
  c.online_sweep_interval_ms = 100;
  auto a = agent::Agent::start(c);
  ASSERT_TRUE(a) << a.error().message;
  agent_ = std::move(*a);
  member_with_points(8, 1000);
  auto e = cloud_applied_online_redemption(8, 300, "lost-1");
  ASSERT_EQ(cloud_balance(8), 700);
  leave_intent(e, SystemClock().now_ms() - 10'000);  // a round trip may still be going on
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(cloud_balance(8), 700) << "voided while it could still be decided";
  {  // now long undecided
    auto w = agent::Replica::open_writer(agent_dir_ + "/data/replica.db");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->db().exec("UPDATE online_redemption SET created_at = " +
                             std::to_string(SystemClock().now_ms() - 61'000)));
  }
  const auto until = Steady::now() + std::chrono::seconds(15);
  while (cloud_balance(8) != 1000 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cloud_balance(8), 1000) << "voided: the points are back";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + e.event_id() + "'"), 1);
  expect_ledger_sums_balances();
}

TEST_F(OnlineTest, AMemberTheStoreHasNeverSeenIsLookedUpAndJoinsTheReplica) {
  forget_locally(9);
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  // Wait until the agent is online (its first round trip).
  for (int i = 0; i < 200 && !status().online(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(status().online());
  auto v = validate(9);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(v.customer_id(), agent::seed_customer_id(9));
  EXPECT_EQ(v.available_points(), 0) << "the cloud's figure (generated with no history)";
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 1);
  // Kept: the next read asks nobody, and the store is in the member's scope now.
  EXPECT_EQ(validate(9).status(), pb::MEMBER_STATUS_ACTIVE);
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 1);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM store_customer WHERE store_id = 'S1' AND "
                       "customer_id = '" +
                       agent::seed_customer_id(9) + "'"),
            "1");
  // A card nobody knows: asked once, then remembered as unknown for a while.
  EXPECT_EQ(validate(kAgentMembers + 5).status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_EQ(validate(kAgentMembers + 5).status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_EQ(proxy.requests("GET /v1/sync/lookup"), 2);
}

TEST_F(OnlineTest, ASaleForAMemberTheStoreHasNeverSeenIsCreditedToTheMember) {
  forget_locally(10);
  start_agent(cloud_url());
  for (int i = 0; i < 200 && !status().online(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(status().online());
  auto sale = accrue(10, "new-1");
  ASSERT_TRUE(sale.has_accrue()) << sale.DebugString();
  EXPECT_FALSE(sale.accrue().provisional()) << "looked up first";
  ASSERT_TRUE(drained());
  EXPECT_EQ(cloud_rows("event_id = '" + sale.accrue().event_id() + "' AND customer_id = '" +
                       agent::seed_customer_id(10) + "'"),
            1);
}

// GDPR end to end: head office erases a member the store has seen; the store's replica drops the
// member and their identifiers through the change feed, and the card is unknown at the till.
TEST_F(OnlineTest, AnErasureInTheCloudReachesTheStoreReplica) {
  start_agent(cloud_url());
  for (int i = 0; i < 200 && !status().online(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(status().online());
  // A sale puts member 12 in the store's scope in the cloud, as the store has seen them.
  ASSERT_TRUE(accrue(12, "gdpr-1").has_accrue());
  ASSERT_TRUE(drained());
  ASSERT_EQ(validate(12).status(), pb::MEMBER_STATUS_ACTIVE);
  const std::string id = agent::seed_customer_id(12);
  HttpClient hq(app_->port());
  auto r = hq.request(bhttp::verb::post, "/v1/customers/" + id + "/erase",
                      R"({"reason": "the member asked"})",
                      {{"Authorization", "Bearer " + hq_token({"hq-support"})},
                       {"Content-Type", "application/json"}});
  ASSERT_EQ(r.result_int(), 200) << r.body();
  auto in_replica = [&](const std::string& table) {
    auto reader = agent::Replica::open_reader(agent_dir_ + "/data/replica.db");
    if (!reader || !reader->begin_read()) return int64_t{-1};
    auto st = reader->db().prepare("SELECT count(*) FROM " + table + " WHERE customer_id = ?");
    if (!st) return int64_t{-1};
    st->bind(1, id);
    auto n = st->first([](const agent::sqlite::Stmt& s) { return s.int64(0); });
    reader->end_read();
    return n && *n ? **n : int64_t{-1};
  };
  ASSERT_EQ(in_replica("identifier"), 1) << "the card is known before";
  const auto until = Steady::now() + std::chrono::seconds(15);
  while (in_replica("customer") != 0 && Steady::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(in_replica("customer"), 0) << "the replica dropped the member";
  EXPECT_EQ(in_replica("identifier"), 0) << "and their identifiers";
  EXPECT_EQ(validate(12).status(), pb::MEMBER_STATUS_UNKNOWN)
      << "the card is unknown at the till (and the cloud's lookup no longer finds it)";
}

TEST_F(OnlineTest, ASlowLookupGivesUpInTimeAndTheTillGoesOn) {
  lookup_timeout_ms_ = 300;
  forget_locally(11);
  testing::FaultProxy proxy(app_->port());
  start_agent("http://127.0.0.1:" + std::to_string(proxy.port()));
  for (int i = 0; i < 200 && !status().online(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  proxy.delay_lookup_responses(1, std::chrono::milliseconds(1500));
  const auto t0 = Steady::now();
  auto v = validate(11);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
  EXPECT_EQ(v.status(), pb::MEMBER_STATUS_UNKNOWN);
  EXPECT_LT(took.count(), 1000) << "the lookup gives up after 300 ms";
  EXPECT_TRUE(v.offline()) << "a failed round trip: offline until the next success";
}

}  // namespace
}  // namespace accrue
