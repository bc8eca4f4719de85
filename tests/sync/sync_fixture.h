// The fixture of the store <-> cloud sync tests: a real agent (replica, group-commit writer,
// uploader and online client on libcurl) and the real accrue-cloud on PostgreSQL, in one process.
// Tills call the agent's service directly; helpers wait (bounded) for the outbox to drain and
// for the feed to bring a member's balance back.
#pragma once

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/agent.h"
#include "agent/store/seed.h"
#include "cloud/core/generate.h"
#include "common/wire/loyalty_codec.h"
#include "tests/cloud/cloud_app_fixture.h"

namespace accrue::sync_testing {

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
  // Waits (bounded) until the agent's last round trip to the cloud succeeded (after its start:
  // the first one), so that what follows is decided online.
  bool online(std::chrono::seconds within = std::chrono::seconds(15)) {
    const auto until = Steady::now() + within;
    while (Steady::now() < until) {
      if (status().online()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
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

}  // namespace accrue::sync_testing
