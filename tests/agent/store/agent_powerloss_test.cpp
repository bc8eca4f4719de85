// The agent itself over the power-loss VFS (powerloss_vfs.h, registered as the process's default
// so the agent's own replica, writer and checkpointer use it): a till's accruals, redemptions
// and returns through the service, the disk stopped at write k, power lost, the agent started
// again on what survived. For every crash point: the agent starts, PRAGMA integrity_check is ok,
// every operation the till was told succeeded is in the ledger, and every ledger event is in the
// outbox and nothing else is (the outbox matches the ledger). And the same workload on a disk
// that fills up (or fails) at write k: the till gets a clear, retryable error, nothing is half
// written, reads keep being served, and writes resume when the disk does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "agent/core/agent.h"
#include "agent/store/seed.h"
#include "common/wire/loyalty_codec.h"
#include "tests/agent/store/powerloss_vfs.h"

namespace accrue::agent {
namespace {

namespace pb = accrue::pos::v1;
namespace fs = std::filesystem;

std::string scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out = "(no database)";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    out = "(error)";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
  return out;
}

class AgentPowerLossTest : public ::testing::Test {
 protected:
  static constexpr int kMembers = 60;
  static constexpr int kOps = 24;

  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("accrue-agent-powerloss-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "template");
    std::ofstream(dir_ / "key") << std::string(64, 'a');
    std::ifstream in("packaging/demo/program.json");
    const std::string json((std::istreambuf_iterator<char>(in)), {});
    auto program = wire::program_from_json(json);
    ASSERT_TRUE(program) << program.error().message;
    auto key = read_program_key((dir_ / "key").string());
    ASSERT_TRUE(key);
    auto hasher = IdentifierHasher::create(*key);
    ASSERT_TRUE(hasher);
    ASSERT_TRUE(seed_replica({(dir_ / "template" / "replica.db").string(), "S1", kMembers, 0},
                             *program, *hasher));
    // Active members for the sales, and those with points enough for the redemptions.
    for (int i = 0; i < kMembers; ++i) {
      const std::string where =
          " FROM customer WHERE status = 1 AND customer_id = '" + seed_customer_id(i) + "'";
      if (scalar((dir_ / "template" / "replica.db").string(), "SELECT count(*)" + where) != "1") {
        continue;
      }
      active_.push_back(i);
      if (std::stoll(scalar((dir_ / "template" / "replica.db").string(),
                            "SELECT confirmed_available" + where)) >= 400) {
        rich_.push_back(i);
      }
    }
    ASSERT_GE(active_.size(), 3u);
    ASSERT_GE(rich_.size(), 2u);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A data dir holding a copy of the seeded replica.
  fs::path fresh(const std::string& name) {
    const fs::path data = dir_ / name;
    fs::create_directories(data);
    fs::copy_file(dir_ / "template" / "replica.db", data / "replica.db");
    return data;
  }
  AgentConfig config(const fs::path& data) {
    AgentConfig c;
    c.store_id = "S1";
    c.agent_id = "S1-agent";
    c.data_dir = data.string();
    c.socket = (data / "agent.sock").string();
    c.program_key_file = (dir_ / "key").string();
    return c;
  }
  static pb::Response call(Agent& a, const pb::Request& req) {
    std::promise<pb::Response> p;
    auto f = p.get_future();
    a.service().handle(req, [&p](pb::Response r) { p.set_value(std::move(r)); }, {});
    return f.get();
  }
  static pb::Request accrue(int member, const std::string& tx) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* a = req.mutable_accrue();
    a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    a->mutable_identifier()->set_value(seed_card_number(member));
    a->set_pos_tx_id(tx);
    auto* b = a->mutable_basket();
    b->set_currency("EUR");
    b->set_occurred_at_ms(SystemClock().now_ms());
    auto* l = b->add_lines();
    l->set_line_no(1);
    l->set_sku("SKU-1");
    l->add_categories("apparel");
    l->set_quantity_milli(2000);
    l->set_amount_minor(4999);
    return req;
  }
  static pb::Request redeem(int member, const std::string& tx) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* r = req.mutable_redeem();
    r->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    r->mutable_identifier()->set_value(seed_card_number(member));
    r->set_pos_tx_id(tx);
    r->set_points(100);  // the demo programme's minimum
    return req;
  }
  static pb::Request give_back(const std::string& tx, const std::string& original) {
    pb::Request req;
    req.set_till_id("till-1");
    auto* r = req.mutable_return_();
    r->set_pos_tx_id(tx);
    r->set_original_pos_tx_id(original);
    auto* l = r->add_lines();
    l->set_line_no(1);
    l->set_quantity_milli(1000);
    return req;
  }

  // The workload on a fresh copy of the seeded replica, the disk stopping at write `crash_at`
  // (0: never). Returns the till transactions the till was told succeeded.
  std::set<std::string> workload(const fs::path& data, testing::PowerLossVfs& vfs,
                                 int64_t crash_at) {
    std::set<std::string> acked;
    auto agent = Agent::start(config(data));
    EXPECT_TRUE(agent) << agent.error().message;
    if (!agent) return acked;
    vfs.crash_at_write(crash_at);
    std::vector<std::string> sales;
    for (int i = 0; i < kOps && !vfs.crashed(); ++i) {
      pb::Request req;
      const std::string tx = "tx-" + std::to_string(i);
      const auto at = static_cast<size_t>(i);
      if (i % 6 == 5 && !sales.empty()) {
        req = give_back(tx, sales[sales.size() / 2]);
      } else if (i % 4 == 3) {
        req = redeem(rich_[at % rich_.size()], tx);
      } else {
        req = accrue(active_[at % active_.size()], tx);
      }
      auto r = call(**agent, req);
      if (r.has_error() && crash_at == 0) {
        ADD_FAILURE() << tx << " failed without a crash: " << r.error().message();
      }
      if (!r.has_error()) {
        acked.insert(tx);
        if (req.has_accrue()) sales.push_back(tx);
      }
    }
    (*agent)->stop();
    return acked;
  }

  fs::path dir_;
  std::vector<int> active_, rich_;
};

TEST_F(AgentPowerLossTest, EveryAcknowledgedOperationSurvivesPowerLossAtEveryCrashPoint) {
  testing::PowerLossVfs vfs("agent-powerloss", /*make_default=*/true);
  // A clean run: how many writes the workload makes, and that every operation succeeds.
  const fs::path clean = fresh("clean");
  const int64_t before = vfs.writes();
  auto all = workload(clean, vfs, 0);
  const int64_t total = vfs.writes() - before;
  vfs.power_loss();
  ASSERT_EQ(all.size(), static_cast<size_t>(kOps)) << "the workload itself fails";
  ASSERT_GT(total, 0);

  // About 80 crash points, spread evenly over the workload's writes; every write with
  // ACCRUE_POWERLOSS_EVERY_WRITE=1 (a few minutes under the sanitizers).
  const int64_t stride =
      std::getenv("ACCRUE_POWERLOSS_EVERY_WRITE") ? 1 : std::max<int64_t>(1, total / 80);
  int points = 0, torn = 0, cut = 0;
  size_t most_acked = 0;
  for (int64_t k = 1; k <= total; k += stride) {
    const fs::path data = fresh("k" + std::to_string(k));
    const int64_t base = vfs.writes();
    auto acked = workload(data, vfs, base + k);
    const bool garble = points % 2 == 1;
    vfs.power_loss(garble);
    ++points;
    torn += garble ? 1 : 0;
    most_acked = std::max(most_acked, acked.size());
    const std::string db = (data / "replica.db").string();
    // The agent starts on what survived (its own recovery, migrations and checks).
    auto again = Agent::start(config(data));
    ASSERT_TRUE(again) << "crash at write " << k << ": " << again.error().message;
    (*again)->stop();
    again->reset();
    EXPECT_EQ(scalar(db, "PRAGMA integrity_check"), "ok") << "crash at write " << k;
    for (const auto& tx : acked) {
      EXPECT_EQ(scalar(db, "SELECT count(*) FROM ledger WHERE pos_tx_id = '" + tx + "'"), "1")
          << "crash at write " << k << ": the till was told " << tx << " succeeded";
    }
    EXPECT_EQ(scalar(db,
                     "SELECT (SELECT count(*) FROM ledger) = (SELECT count(*) FROM outbox) "
                     "AND NOT EXISTS (SELECT 1 FROM ledger l LEFT JOIN outbox o ON o.seq = "
                     "l.seq AND o.event_id = l.event_id WHERE o.seq IS NULL)"),
              "1")
        << "crash at write " << k << ": the outbox does not match the ledger";
    // The crash really cut the workload short (else the sweep proves nothing).
    if (std::stoi(scalar(db, "SELECT count(*) FROM ledger")) < kOps) ++cut;
    fs::remove_all(data);
  }
  EXPECT_GT(cut, points / 2) << "most crash points must lose the operations after them";
  std::printf(
      "agent power-loss sweep: %d crash points over %lld writes (%d with a torn write, %d "
      "cutting the workload short), %zu operations in the clean run: nothing "
      "acknowledged was lost\n",
      points, static_cast<long long>(total), torn, cut, all.size());
}

TEST_F(AgentPowerLossTest, ADiskThatFillsUpOrFailsAtAnyWriteRefusesCleanlyAndWritesResume) {
  testing::PowerLossVfs vfs("agent-diskfull", /*make_default=*/true);
  const fs::path clean = fresh("clean");
  const int64_t before = vfs.writes();
  ASSERT_EQ(workload(clean, vfs, 0).size(), static_cast<size_t>(kOps));
  const int64_t total = vfs.writes() - before;
  const int64_t stride =
      std::getenv("ACCRUE_POWERLOSS_EVERY_WRITE") ? 1 : std::max<int64_t>(1, total / 10);
  int points = 0, refusals = 0;
  for (int rc : {SQLITE_FULL, SQLITE_IOERR_WRITE}) {
    for (int64_t k = 1; k <= total; k += stride) {
      const fs::path data = fresh((rc == SQLITE_FULL ? "full" : "ioerr") + std::to_string(k));
      auto agent = Agent::start(config(data));
      ASSERT_TRUE(agent) << agent.error().message;
      vfs.fail_writes_from(vfs.writes() + k, rc);
      std::set<std::string> acked, refused;
      for (int i = 0; i < kOps; ++i) {
        const std::string tx = "tx-" + std::to_string(i);
        auto r = call(**agent, accrue(active_[static_cast<size_t>(i) % active_.size()], tx));
        if (!r.has_error()) {
          acked.insert(tx);
          continue;
        }
        refused.insert(tx);
        EXPECT_TRUE(r.error().retryable()) << r.error().message();
        EXPECT_FALSE(r.error().message().empty());
        // Reads keep being served from the replica meanwhile.
        pb::Request v;
        v.set_till_id("till-1");
        v.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
        v.mutable_validate()->mutable_identifier()->set_value(seed_card_number(active_[0]));
        auto read = call(**agent, v);
        EXPECT_TRUE(read.has_validate()) << "k " << k << ": " << read.DebugString();
      }
      // The disk comes back: the refused sales go through on retry.
      vfs.heal();
      for (const auto& tx : refused) {
        const int i = std::stoi(tx.substr(3));
        auto r = call(**agent, accrue(active_[static_cast<size_t>(i) % active_.size()], tx));
        EXPECT_FALSE(r.has_error())
            << "k " << k << " " << tx << " after the disk came back: " << r.error().message();
      }
      (*agent)->stop();
      agent->reset();
      ++points;
      refusals += static_cast<int>(refused.size());
      const std::string db = (data / "replica.db").string();
      EXPECT_EQ(scalar(db, "PRAGMA integrity_check"), "ok") << "k " << k;
      EXPECT_EQ(scalar(db, "SELECT count(*) FROM ledger"), std::to_string(kOps))
          << "k " << k << ": each sale exactly once, refused or not";
      EXPECT_EQ(scalar(db, "SELECT count(DISTINCT pos_tx_id) FROM ledger"), std::to_string(kOps));
      EXPECT_EQ(scalar(db, "SELECT (SELECT count(*) FROM ledger) = (SELECT count(*) FROM outbox)"),
                "1")
          << "k " << k;
      vfs.power_loss();  // forget the files (nothing is lost: every sale was synced)
      fs::remove_all(data);
    }
  }
  EXPECT_GT(refusals, points / 2) << "the injected failures must refuse sales";
  std::printf(
      "disk full and write errors: %d injection points (every %lld of %lld writes, both "
      "kinds), %d sales refused and then accepted on retry, nothing half-written\n",
      points, static_cast<long long>(stride), static_cast<long long>(total), refusals);
}

}  // namespace
}  // namespace accrue::agent
