// The scheduler: the programme's daily jobs, run inside the service so that nothing waits for a
// command someone must remember (docs/lifecycle.md).
//
// Each job runs once per programme-local day, at or after `run_at` local time, for every day it
// has not finished, in order: after a week's downtime the first replica back runs the seven
// missed days one after another. A job's first run ever is today's (no bonuses for the past).
// One replica at a time runs a job: it holds the job's lease (a row of scheduled_job, renewed
// while it works); a replica that dies mid-run leaves the lease to expire and another runs the
// same day again. Every job is idempotent per day (a lot expires once, a tier moves once, a
// bonus's event id is fixed by member, kind and year), so a day run twice changes nothing the
// second time. What each job did last is kept in its row: `accrue-cloud jobs`,
// GET /v1/scheduler/jobs and /metrics show it.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cloud/core/programs.h"
#include "cloud/pg/pool.h"
#include "common/clock.h"

namespace accrue::cloud {

// What one job's run for one day works with.
struct JobRun {
  pg::Connection& c;                    // the job's own connection (the lease is renewed on it)
  const PublishedProgram& program;      // the programme in force
  int64_t day = 0;                      // the programme-local day being run (days since 1970-01-01)
  TimestampMs now = 0;                  // the wall clock (a missed day runs after the fact)
  std::function<Result<void>()> renew;  // keeps the lease; call between batches
};

using JobCounts = std::map<std::string, int64_t>;

struct DailyJob {
  std::string name;
  std::function<Result<JobCounts>(JobRun&)> run;
  // Whether each missed day needs its own run (bonuses fall on a date). A job that judges
  // everything as of now (expiry, the tier pass) runs once, for the latest due day.
  bool each_missed_day = true;
};

struct SchedulerOptions {
  std::chrono::milliseconds poll{60'000};  // how often a replica looks for due days
  std::chrono::seconds lease{600};         // a job's lease, renewed between batches
  int run_at_minute = 120;                 // local minutes after midnight (02:00)
  std::string owner;                       // this replica's name; made up when empty
};

// The last programme-local day due at `now`: today once the local time is past run_at, else
// yesterday.
int64_t last_due_day(const PublishedProgram& p, TimestampMs now, int run_at_minute);

// A job as scheduled_job shows it.
struct JobStatus {
  std::string name;
  std::optional<int64_t> done_through_day;
  std::string lease_owner;  // empty: nobody runs it now
  int64_t runs = 0;
  std::optional<TimestampMs> last_started, last_finished;
  int64_t last_duration_ms = 0;
  std::string last_counts;  // JSON object
  std::string last_error;
  std::optional<TimestampMs> next_run;  // when the next day is due (programme-local run_at)
};

struct SchedulerCounters {
  std::atomic<uint64_t> days_run{0};
  std::atomic<uint64_t> failures{0};
};

class Scheduler {
 public:
  Scheduler(pg::Pool& pool, ProgramCatalog& programs, const Clock& clock,
            std::vector<DailyJob> jobs, SchedulerOptions options);
  ~Scheduler();

  // Starts the background thread (once the schema is in place).
  void start();
  void stop();

  // One round: for each job, takes its lease and runs every due day in order. Answers the
  // number of days run. A job whose lease another replica holds is skipped.
  Result<int> run_due();

  const SchedulerCounters& counters() const { return counters_; }
  const std::string& owner() const { return o_.owner; }

 private:
  void run(std::stop_token stop);
  Result<int> run_job(pg::Connection& c, const PublishedProgram& p, const DailyJob& job,
                      TimestampMs now);

  pg::Pool& pool_;
  ProgramCatalog& programs_;
  const Clock& clock_;
  std::vector<DailyJob> jobs_;
  SchedulerOptions o_;
  SchedulerCounters counters_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;
};

// Every job's row, with when its next day is due (`run_at_minute` programme-local).
Result<std::vector<JobStatus>> job_status(pg::Connection& c, const PublishedProgram& program,
                                          int run_at_minute);

// The scheduler's status as JSON (`accrue-cloud jobs`, GET /v1/scheduler/jobs): whether this
// replica runs jobs, the run time and zone, and every job.
boost::json::object jobs_json(const std::vector<JobStatus>& jobs, bool enabled,
                              std::string_view run_at, std::string_view time_zone);
// The same, read now under the programme in force; `run_at` is scheduler.run_at ("02:00").
Result<boost::json::object> jobs_report(pg::Connection& c, ProgramCatalog& programs,
                                        TimestampMs now, bool enabled, const std::string& run_at);

}  // namespace accrue::cloud
