// A whole Accrue system in processes, for the sync fault scenarios and the soak: accrue-cloud
// (the real binary) on a throwaway PostgreSQL database, two accrue-agent daemons (stores S0 and
// S1, empty replicas filled from the cloud) reaching it through the fault proxy, and one till
// per store driving accruals and redemptions over the agents' sockets. Every process can be
// killed with SIGKILL and started again on the same files and ports.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "accrue/sync/v1/sync.pb.h"
#include "common/identifier.h"
#include "tests/agent/agent_process.h"
#include "tests/cloud/cloud_fixture.h"
#include "tests/sync/fault_proxy.h"

namespace accrue::testing {

namespace pb = accrue::pos::v1;
using Steady = std::chrono::steady_clock;

// The accrue-cloud binary with a TOML file of its own; start() waits for /readyz.
class CloudProcess {
 public:
  CloudProcess(std::string dir, std::string config) : dir_(std::move(dir)), config_(config) {}
  ~CloudProcess() { stop(SIGKILL); }

  int run(std::vector<std::string> args) {
    std::vector<std::string> argv = {ACCRUE_CLOUD_BINARY, "--config", config_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, dir_ + "/cloud.log");
  }
  // Runs a subcommand and returns what it printed on stdout.
  std::string output_of(std::vector<std::string> args) {
    const std::string out = dir_ + "/out.txt";
    std::vector<std::string> argv = {ACCRUE_CLOUD_BINARY, "--config", config_};
    argv.insert(argv.end(), args.begin(), args.end());
    wait_child(start_child(ChildSpec(argv).stdout_to(out).stderr_to(dir_ + "/cloud.log")),
               std::chrono::minutes(5));
    std::ifstream f(out);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }

  bool start(uint16_t port) {
    pid_ = start_child(ChildSpec({ACCRUE_CLOUD_BINARY, "--config", config_, "serve"})
                           .stderr_to(dir_ + "/cloud.log"));
    if (pid_ <= 0) return false;
    for (int i = 0; i < 300; ++i) {
      try {
        HttpClient c(port);
        if (c.request(boost::beast::http::verb::get, "/readyz").result_int() == 200) return true;
      } catch (const std::exception&) {
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  int stop(int sig = SIGTERM) { return signal_and_wait(pid_, sig); }

 private:
  std::string dir_, config_;
  pid_t pid_ = -1;
};

// What one store's till saw acknowledged.
struct TillRecord {
  std::vector<std::string> accruals;     // event ids
  std::vector<std::string> redemptions;  // event ids
  int64_t points_earned = 0;
  int64_t points_redeemed = 0;
  int errors = 0;    // requests that got an error or no answer (never acknowledged)
  int refusals = 0;  // refused redemptions (offline limits, not enough points)
  std::set<int64_t> members;
};

class Cluster {
 public:
  static constexpr int kMembers = 400;
  static constexpr const char* kStores[2] = {"S0", "S1"};

  // `log_level` for every process (the privacy scan reads the most verbose logs).
  explicit Cluster(const TestDatabase& db, std::string log_level = "warn")
      : db_(db), dir_(temp_dir("accrue-cluster-")), log_level_(std::move(log_level)) {}
  ~Cluster() {
    for (auto& a : agents_) a.reset();
    proxy_.reset();
    cloud_.reset();
    if (std::getenv("ACCRUE_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // Cloud up with kMembers members (two receipts each), both agents bootstrapped and online.
  void start() {
    cloud_port_ = free_loopback_port();
    std::ofstream(dir_ + "/program.key") << std::string(64, 'a') << "\n";
    std::ofstream(dir_ + "/store-token.key") << std::string(64, 'c') << "\n";
    std::ofstream(dir_ + "/cloud.toml")
        << "[server]\nlisten_address = \"127.0.0.1\"\nport = " << cloud_port_
        << "\naccess_log = false\n[postgres]\ndsn = \"" << db_.dsn()
        << "\"\npool_size = 8\n[auth]\njwks_file = \"" << dir_
        << "/jwks.json\"\nissuer = \"https://hq.test\"\nstore_token_key_file = \"" << dir_
        << "/store-token.key\"\ncontact_key_file = \"" << dir_
        << "/contact.pem\"\ncoupon_key_file = \"" << dir_
        << "/coupon.pem\"\ncoupon_key_id = 1\n[log]\nlevel = \"" << log_level_ << "\"\n";
    write_program();
    cloud_ = std::make_unique<CloudProcess>(dir_, dir_ + "/cloud.toml");
    ASSERT_EQ(cloud_->run({"dev-keys", "--dir", dir_}), 0);
    ASSERT_EQ(cloud_->run({"program", "publish", program()}), 0);
    ASSERT_EQ(
        cloud_->run({"generate", "--customers", std::to_string(kMembers), "--receipts-per-customer",
                     "2", "--stores", "2", "--program-key", dir_ + "/program.key"}),
        0);
    ASSERT_TRUE(cloud_->start(cloud_port_)) << "accrue-cloud did not start: " << dir_;
    proxy_ = std::make_unique<FaultProxy>(cloud_port_);
    for (int s = 0; s < 2; ++s) {
      const std::string store = kStores[s];
      tokens_[s] = cloud_->output_of({"store-token", "--store", store});
      ASSERT_FALSE(tokens_[s].empty());
      std::ofstream(dir_ + "/" + store + ".token") << tokens_[s] << "\n";
      std::ofstream(dir_ + "/" + store + ".toml")
          << "[cloud]\nurl = \"http://127.0.0.1:" << proxy_->port() << "\"\ntoken_file = \"" << dir_
          << "/" << store << ".token\"\nconnect_timeout_ms = 500\ntimeout_ms = 5000\n"
          << "backoff_max_ms = 1000\ndownload_interval_ms = 200\nbatch_events = 100\n";
      agents_[s] = std::make_unique<AgentProcess>(0, program(), store);
      ASSERT_TRUE(start_agent(s)) << "agent " << store << " did not start";
    }
    for (int s = 0; s < 2; ++s) {
      ASSERT_TRUE(wait_until(std::chrono::seconds(30), [&] { return bootstrapped(s); }))
          << "agent " << kStores[s] << " did not fill its replica";
    }
  }

  bool start_agent(int s) {
    // An empty data dir the first time: the agent fills it from the cloud.
    std::filesystem::create_directories(agents_[s]->dir() + "/data");
    return agents_[s]->start({"--config", dir_ + "/" + kStores[s] + ".toml", "--program-file",
                              program(), "--log-level", log_level_});
  }
  // The programme everyone runs: the demo's, with a small rewards catalogue.
  std::string program() const { return dir_ + "/program.json"; }
  void write_program() {
    std::ifstream in("packaging/demo/program.json");
    auto p = boost::json::parse(std::string(std::istreambuf_iterator<char>(in), {})).as_object();
    p["rewards"] = boost::json::parse(R"([
      {"reward_id": "five-off", "name": "5 EUR off", "cost_points": 500,
       "fixed_discount": {"amounts": [{"currency": "EUR", "minor_units": "500"}]}},
      {"reward_id": "double-points", "name": "Double points", "cost_points": 200,
       "points_multiplier": {"basis_points": "20000"}}])");
    std::ofstream(program()) << boost::json::serialize(p);
  }
  AgentProcess& agent(int s) { return *agents_[s]; }
  CloudProcess& cloud() { return *cloud_; }
  FaultProxy& proxy() { return *proxy_; }
  uint16_t cloud_port() const { return cloud_port_; }
  const std::string& dir() const { return dir_; }

  static bool wait_until(std::chrono::milliseconds within, const std::function<bool()>& done) {
    const auto until = Steady::now() + within;
    while (Steady::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  std::optional<pb::Response> ask(int s, const pb::Request& req) {
    auto c = ctl::AgentClient::connect_unix(agents_[s]->socket());
    if (!c) return std::nullopt;
    c->set_timeout(std::chrono::seconds(5));
    auto r = c->call(req);
    if (!r) return std::nullopt;
    return *r;
  }
  std::optional<pb::AgentStatus> status(int s) {
    pb::Request req;
    req.mutable_get_agent_status();
    auto r = ask(s, req);
    if (!r || !r->has_agent_status()) return std::nullopt;
    return r->agent_status();
  }
  std::optional<pb::ValidateResult> validate(int s, int64_t member) {
    pb::Request req;
    req.mutable_validate()->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
    req.mutable_validate()->mutable_identifier()->set_value(card(member));
    auto r = ask(s, req);
    if (!r || !r->has_validate()) return std::nullopt;
    return r->validate();
  }
  bool bootstrapped(int s) {
    auto v = validate(s, s);  // member s has home store S<s>
    return v && v->status() == pb::MEMBER_STATUS_ACTIVE;
  }

  static std::string card(int64_t member) {
    std::string digits = std::to_string(member);
    return "6000" + std::string(12 - digits.size(), '0') + digits;
  }

  // One till per store: `ops` operations (every 8th a redemption of 100 points), on members of
  // both stores (mostly its own). Bounded by `ops` and by `within`.
  void run_tills(int ops, std::chrono::milliseconds within, uint32_t seed) {
    std::vector<std::thread> tills;
    for (int s = 0; s < 2; ++s) {
      tills.emplace_back([this, s, ops, within, seed] { till(s, ops, within, seed + s); });
    }
    for (auto& t : tills) t.join();
  }
  // `per_second` paces each till (0: as fast as the agent answers).
  void start_tills(int ops, std::chrono::milliseconds within, uint32_t seed, int per_second = 0) {
    for (int s = 0; s < 2; ++s) {
      running_.emplace_back(
          [this, s, ops, within, seed, per_second] { till(s, ops, within, seed + s, per_second); });
    }
  }
  void join_tills() {
    for (auto& t : running_) t.join();
    running_.clear();
  }
  std::atomic<int> acknowledged{0};

  TillRecord record(int s) {
    std::lock_guard lock(mu_);
    return records_[s];
  }

  // Waits until both outboxes are empty (bounded); false when they are not.
  bool drained(std::chrono::seconds within) {
    return wait_until(within, [&] {
      for (int s = 0; s < 2; ++s) {
        auto st = status(s);
        if (!st || st->outbox_depth() != 0) return false;
      }
      return true;
    });
  }

  // The checks every scenario ends with. Returns the seconds the agents took to converge.
  double check_everything(const std::string& scenario,
                          std::chrono::seconds drain_within = std::chrono::seconds(60)) {
    const auto drain_start = Steady::now();
    EXPECT_TRUE(drained(drain_within)) << scenario << ": outboxes did not drain";
    std::printf("[scenario] %-34s outboxes drained in %.2f s\n", scenario.c_str(),
                std::chrono::duration<double>(Steady::now() - drain_start).count());
    int64_t acknowledged_events = 0;
    for (int s = 0; s < 2; ++s) {
      const auto rec = record(s);
      std::vector<std::string> all = rec.accruals;
      all.insert(all.end(), rec.redemptions.begin(), rec.redemptions.end());
      acknowledged_events += static_cast<int64_t>(all.size());
      if (all.empty()) continue;
      std::string arr = "'{";
      for (size_t i = 0; i < all.size(); ++i) arr += (i ? "," : "") + all[i];
      arr += "}'::uuid[]";
      EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE event_id = ANY(" + arr + ")"),
                std::to_string(all.size()))
          << scenario << ": an acknowledged event of " << kStores[s] << " is not in the cloud";
      // Exactly once, and for the points the till was told.
      if (!rec.accruals.empty()) {
        std::string acc = "'{";
        for (size_t i = 0; i < rec.accruals.size(); ++i) acc += (i ? "," : "") + rec.accruals[i];
        acc += "}'::uuid[]";
        EXPECT_EQ(db_.scalar("SELECT coalesce(sum(coalesce(agent_points, points)), 0) FROM "
                             "ledger WHERE kind = 1 AND event_id = ANY(" +
                             acc + ")"),
                  std::to_string(rec.points_earned))
            << scenario;
      }
    }
    EXPECT_EQ(cloud_->run({"audit"}), 0) << scenario << ": balance != sum(ledger); see " << dir_;
    for (int s = 0; s < 2; ++s) {
      auto st = status(s);
      EXPECT_TRUE(st && st->quarantined() == 0)
          << scenario << ": events in " << kStores[s] << "'s quarantine";
    }
    // Both agents converge to the cloud's balances.
    const auto t0 = Steady::now();
    const bool converged = wait_until(std::chrono::seconds(60), [&] { return agree(); });
    const double took = std::chrono::duration<double>(Steady::now() - t0).count();
    EXPECT_TRUE(converged) << scenario << ": the stores' views did not converge: " << last_diff_;
    std::printf(
        "[scenario] %-34s acknowledged=%lld (S0 %zu+%zu, S1 %zu+%zu) errors=%d/%d "
        "converged in %.2f s\n",
        scenario.c_str(), static_cast<long long>(acknowledged_events), record(0).accruals.size(),
        record(0).redemptions.size(), record(1).accruals.size(), record(1).redemptions.size(),
        record(0).errors, record(1).errors, took);
    return took;
  }

  // Every member a till touched: the agent's available + pending == the cloud's.
  bool agree() {
    for (int s = 0; s < 2; ++s) {
      for (int64_t m : record(s).members) {
        auto local = validate(s, m);
        auto cloud = cloud_view(s, m);
        if (!local || !cloud) {
          last_diff_ = "no answer for member " + std::to_string(m);
          return false;
        }
        const bool blocked_here = local->status() == pb::MEMBER_STATUS_BLOCKED;
        const bool blocked_there = cloud->status() == loyalty::v1::CUSTOMER_STATUS_BLOCKED;
        if (local->status() == pb::MEMBER_STATUS_UNKNOWN || blocked_here != blocked_there ||
            local->available_points() != cloud->available_points() ||
            local->pending_points() != cloud->pending_points()) {
          last_diff_ = std::string(kStores[s]) + " member " + std::to_string(m) + ": store " +
                       std::to_string(local->available_points()) + "+" +
                       std::to_string(local->pending_points()) + " cloud " +
                       std::to_string(cloud->available_points()) + "+" +
                       std::to_string(cloud->pending_points());
          return false;
        }
      }
    }
    return true;
  }

  // The cloud's view of a member, as a store reads it (GET /v1/sync/lookup).
  std::optional<loyalty::v1::CustomerSnapshot> cloud_view(int s, int64_t member) {
    static const auto hasher = [] {
      std::vector<uint8_t> key(32, 0xaa);
      return *IdentifierHasher::create(key);
    }();
    auto h = hasher.hash({IdentifierKind::kCard, card(member)});
    const std::string hex = to_hex(h);
    try {
      HttpClient c(cloud_port_);
      auto res = c.request(boost::beast::http::verb::get, "/v1/sync/lookup?identifier=" + hex, "",
                           {{"Authorization", "Bearer " + tokens_[s]}});
      sync::v1::LookupResponse r;
      if (res.result_int() != 200 || !r.ParseFromString(res.body())) return std::nullopt;
      return r.customer();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

 private:
  void till(int s, int ops, std::chrono::milliseconds within, uint32_t seed, int per_second = 0) {
    std::mt19937 rng(seed);
    const auto until = Steady::now() + within;
    std::optional<ctl::AgentClient> c;
    const auto start = Steady::now();
    for (int i = 0; i < ops && Steady::now() < until; ++i) {
      if (per_second > 0) {
        std::this_thread::sleep_until(
            start + std::chrono::microseconds(int64_t{1'000'000} * i / per_second));
      }
      if (!c) {
        auto conn = ctl::AgentClient::connect_unix(agents_[s]->socket());
        if (!conn) {
          std::lock_guard lock(mu_);
          ++records_[s].errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        c.emplace(std::move(*conn));
        c->set_timeout(std::chrono::seconds(8));
      }
      // Mostly the store's own members (home S<s>: member ids with i % 2 == s), some others.
      int64_t member = 2 * static_cast<int64_t>(rng() % (kMembers / 2)) + s;
      if (rng() % 10 == 0) member = 2 * static_cast<int64_t>(rng() % (kMembers / 2)) + (1 - s);
      pb::Request req;
      req.set_till_id("till-" + std::string(kStores[s]));
      const std::string tx = "tx-" + std::to_string(seed) + "-" + std::to_string(i);
      const bool redeem = i % 8 == 7;
      if (redeem) {
        auto* r = req.mutable_redeem();
        r->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
        r->mutable_identifier()->set_value(card(member));
        r->set_pos_tx_id(tx);
        r->set_points(100);
      } else {
        auto* a = req.mutable_accrue();
        a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
        a->mutable_identifier()->set_value(card(member));
        a->set_pos_tx_id(tx);
        auto* b = a->mutable_basket();
        b->set_currency("EUR");
        auto* l = b->add_lines();
        l->set_line_no(1);
        l->set_sku("TEE");
        l->add_categories("apparel");
        l->set_quantity_milli(1000);
        l->set_amount_minor(1000 + static_cast<int64_t>(rng() % 9000));
      }
      auto r = c->call(req);
      std::lock_guard lock(mu_);
      TillRecord& rec = records_[s];
      if (!r) {
        ++rec.errors;
        c.reset();  // the agent went away or the connection is unusable: reconnect
        continue;
      }
      if (r->has_accrue()) {
        rec.accruals.push_back(r->accrue().event_id());
        rec.points_earned += r->accrue().points_earned();
        rec.members.insert(member);
        ++acknowledged;
      } else if (r->has_redeem()) {
        rec.redemptions.push_back(r->redeem().event_id());
        rec.points_redeemed += r->redeem().points_redeemed();
        rec.members.insert(member);
        ++acknowledged;
      } else if (redeem) {
        ++rec.refusals;
      } else {
        ++rec.errors;
      }
    }
  }

  const TestDatabase& db_;
  std::string dir_;
  std::string log_level_;
  uint16_t cloud_port_ = 0;
  std::unique_ptr<CloudProcess> cloud_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<AgentProcess> agents_[2];
  std::string tokens_[2];
  std::mutex mu_;
  TillRecord records_[2];
  std::vector<std::thread> running_;
  std::string last_diff_;
};

}  // namespace accrue::testing
