// The scheduler in a real `accrue-cloud serve` process, SIGKILLed in the middle of a day's run
// and started again: the day is finished by the next run, and nobody gets a bonus or an expiry
// twice (docs/lifecycle.md, "The scheduler").
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cloud/core/audit.h"
#include "cloud/core/scheduler.h"
#include "common/civil_time.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/common/child_process.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
using Steady = std::chrono::steady_clock;

// Sends `sig` to `pid` (if running), waits for it and forgets it; its exit code or 128 + signal.
int kill_and_wait(pid_t& pid, int sig) {
  if (pid <= 0) return -1;
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class SchedulerProcessTest : public CloudAppTest {
 protected:
  static constexpr int kMembers = 20'000;

  void TearDown() override {
    kill_and_wait(pid_, SIGKILL);
    CloudAppTest::TearDown();
  }

  // `accrue-cloud serve` on the fixture's settings with the scheduler on, polling often, its day
  // due at `run_at`.
  bool start(const std::string& run_at) {
    port_ = testing::free_loopback_port();
    std::vector<std::string> argv = {ACCRUE_CLOUD_BINARY};
    for (const auto& s : settings_) {
      if (s.starts_with("scheduler.enabled=") || s.starts_with("server.port=")) continue;
      argv.insert(argv.end(), {"--set", s});
    }
    const std::vector<std::string> more = {
        "scheduler.enabled=true", "scheduler.poll_ms=50", "scheduler.run_at=" + run_at,
        "server.port=" + std::to_string(port_), "log.level=warn"};
    for (const auto& s : more) argv.insert(argv.end(), {"--set", s});
    argv.push_back("serve");
    const std::string log = (dir_ / "cloud.log").string();
    pid_ = accrue::testing::start_child(accrue::testing::ChildSpec(argv).stderr_to(log));
    return pid_ > 0;
  }

  int64_t count(const std::string& sql) { return std::stoll(db_.scalar(sql)); }

  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

TEST_F(SchedulerProcessTest, KilledMidRunAndRestartedItFinishesTheDayWithNothingTwice) {
  auto c = db_.connect();
  ASSERT_TRUE(c);
  // A run time an hour behind the programme's local time: the due day is the one that local
  // time an hour ago falls on, for the next 23 hours (no midnight or run time crossed mid-test).
  ProgramCatalog catalog(zones_);
  const TimestampMs now = SystemClock().now_ms();
  auto program = catalog.latest(*c, now);
  ASSERT_TRUE(program && *program);
  const int64_t local_minute = (*program)->zone.to_local_ms(now) / 60'000 % (24 * 60);
  const int run_at = static_cast<int>((local_minute + 23 * 60) % (24 * 60));
  char hhmm[16];
  std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", run_at / 60, run_at % 60);
  const int64_t day = last_due_day(**program, now, run_at);
  const CivilDate date = civil_from_days(day);

  // kMembers born on that day, each with 10 points in a lot that expired yesterday (the ledger
  // and the balance agree, as ingestion would have left them).
  const std::string members = std::to_string(kMembers);
  ASSERT_TRUE(c->exec(
      ("INSERT INTO customer (customer_id, tier_id, status, enrolled_at) SELECT 'm' || i, "
       "'bronze', 1, now() - interval '2 months' FROM generate_series(1, " +
       members +
       ") i; INSERT INTO customer_pii (customer_id, birthday_month, birthday_day) SELECT 'm' || "
       "i, " +
       std::to_string(date.month) + ", " + std::to_string(date.day) + " FROM generate_series(1, " +
       members +
       ") i; INSERT INTO balance (customer_id, points, lifetime_earned) SELECT 'm' || i, 10, 10 "
       "FROM generate_series(1, " +
       members +
       ") i; INSERT INTO ledger (event_id, customer_id, kind, points, reason, actor, occurred_at) "
       "SELECT gen_random_uuid(), 'm' || i, 5, 10, 'seed', 'test', now() "
       "FROM generate_series(1, " +
       members +
       ") i; INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, expires_at, "
       "points, remaining) SELECT gen_random_uuid(), 'm' || i, now() - interval '1 month', "
       "now() - interval '1 month', now() - interval '1 day', 10, 10 FROM generate_series(1, " +
       members + ") i")
          .c_str()));
  const std::string bonus = "reason = 'birthday bonus " + std::to_string(date.year) + "'";

  // Killed while the birthday job is part way through its members.
  ASSERT_TRUE(start(hhmm));
  int64_t seen = 0;
  const auto until = Steady::now() + std::chrono::seconds(60);
  while (Steady::now() < until) {
    seen = count("SELECT count(*) FROM ledger WHERE " + bonus);
    if (seen > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill_and_wait(pid_, SIGKILL), 128 + SIGKILL);
  seen = count("SELECT count(*) FROM ledger WHERE " + bonus);
  ASSERT_GT(seen, 0) << "the birthday job never started: " << (dir_ / "cloud.log").string();
  ASSERT_LT(seen, kMembers) << "the job finished before it could be killed mid-run";
  EXPECT_EQ(count("SELECT count(*) FROM scheduled_job WHERE name = 'birthday_bonus' AND "
                  "lease_owner IS NOT NULL"),
            1)
      << "the dead replica still holds the lease";

  // Its lease runs out (10 minutes; here at once), and a new process takes the day over.
  ASSERT_TRUE(
      c->exec("UPDATE scheduled_job SET lease_until = now() - interval '1 second' WHERE "
              "lease_owner IS NOT NULL"));
  ASSERT_TRUE(start(hhmm));
  const auto done_by = Steady::now() + std::chrono::seconds(120);
  while (Steady::now() < done_by &&
         count("SELECT count(*) FROM scheduled_job WHERE done_through_day >= " +
               std::to_string(day)) < 7) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(
      count("SELECT count(*) FROM scheduled_job WHERE done_through_day >= " + std::to_string(day)),
      7)
      << "every job finished the day: " << (dir_ / "cloud.log").string();
  EXPECT_EQ(count("SELECT count(*) FROM ledger WHERE " + bonus), kMembers);
  EXPECT_EQ(count("SELECT count(DISTINCT customer_id) FROM ledger WHERE " + bonus), kMembers)
      << "one birthday bonus each";
  EXPECT_EQ(count("SELECT count(*) FROM ledger WHERE kind = 6"), kMembers) << "one expiry each";
  EXPECT_EQ(count("SELECT -sum(points) FROM ledger WHERE kind = 6"), 10 * kMembers);
  EXPECT_EQ(count("SELECT count(*) FROM points_lot WHERE remaining > 0 AND expires_at < now()"), 0);
  auto report = audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << report->mismatches << " balances differ from their ledger";
}

}  // namespace
}  // namespace accrue::cloud
