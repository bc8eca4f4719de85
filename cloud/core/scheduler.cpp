#include "cloud/core/scheduler.h"

#include "cloud/config/config.h"
#include "common/civil_time.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud {

namespace json = boost::json;

namespace {

// The lease, taken when free, expired or already ours, and only when a day is due.
constexpr const char* kTakeLease =
    "UPDATE scheduled_job SET lease_owner = $2, lease_until = now() + make_interval(secs => "
    "$3::double precision) WHERE name = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR "
    "lease_until < now()) AND (done_through_day IS NULL OR done_through_day < $4::int) "
    "RETURNING done_through_day";
constexpr const char* kRenew =
    "UPDATE scheduled_job SET lease_until = now() + make_interval(secs => $3::double precision) "
    "WHERE name = $1 AND lease_owner = $2";
constexpr const char* kRelease =
    "UPDATE scheduled_job SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND "
    "lease_owner = $2";
constexpr const char* kStarted =
    "UPDATE scheduled_job SET last_started_at = now(), last_day = $3::int WHERE name = $1 AND "
    "lease_owner = $2";
constexpr const char* kFinished =
    "UPDATE scheduled_job SET done_through_day = $3::int, runs = runs + 1, last_finished_at = "
    "now(), last_duration_ms = $4::bigint, last_counts = $5::jsonb, last_error = NULL WHERE "
    "name = $1 AND lease_owner = $2";
constexpr const char* kFailed =
    "UPDATE scheduled_job SET last_error = $3, last_error_at = now(), lease_owner = NULL, "
    "lease_until = NULL WHERE name = $1 AND lease_owner = $2";

// A job never catches up more than a year: older days' bonuses are not owed any more.
constexpr int64_t kMaxCatchUpDays = 366;

std::optional<TimestampMs> ms_or_none(const pg::PgResult& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return r.int64(row, col);
}

}  // namespace

int64_t last_due_day(const PublishedProgram& p, TimestampMs now, int run_at_minute) {
  const int64_t local = p.zone.to_local_ms(now);
  const int64_t today = day_of_ms(local);
  const int64_t minute = (local - today * kMsPerDay) / 60'000;
  return minute >= run_at_minute ? today : today - 1;
}

Scheduler::Scheduler(pg::Pool& pool, ProgramCatalog& programs, const Clock& clock,
                     std::vector<DailyJob> jobs, SchedulerOptions options)
    : pool_(pool),
      programs_(programs),
      clock_(clock),
      jobs_(std::move(jobs)),
      o_(std::move(options)) {
  if (o_.owner.empty()) o_.owner = replica_name();
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  if (!thread_.joinable()) thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void Scheduler::stop() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  thread_ = {};
}

void Scheduler::run(std::stop_token stop) {
  name_this_thread("accrue-sched");
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    lock.unlock();
    if (auto r = run_due(); !r) {
      log(LogLevel::kWarn, "scheduler_round_failed", {{"error", r.error().message}});
    }
    lock.lock();
    cv_.wait_for(lock, stop, o_.poll, [] { return false; });
  }
}

Result<int> Scheduler::run_due() {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  const TimestampMs now = clock_.now_ms();
  auto program = programs_.latest(c, now);
  if (!program && program.error().code == ErrorCode::kNotFound) return 0;  // nothing published
  if (!program) return std::unexpected(program.error());
  int days = 0;
  std::optional<Error> first_error;
  for (const auto& job : jobs_) {
    ACCRUE_TRY(c.query("INSERT INTO scheduled_job (name) VALUES ($1) ON CONFLICT DO NOTHING",
                       {pg::Param::text(job.name)}));
    auto ran = run_job(c, **program, job, now);
    if (ran) {
      days += *ran;
    } else if (!first_error) {
      first_error = ran.error();
    }
  }
  if (first_error) return std::unexpected(*first_error);
  return days;
}

Result<int> Scheduler::run_job(pg::Connection& c, const PublishedProgram& p, const DailyJob& job,
                               TimestampMs now) {
  const int64_t due = last_due_day(p, now, o_.run_at_minute);
  const auto name = pg::Param::text(job.name);
  const auto owner = pg::Param::text(o_.owner);
  const std::string lease_text = std::to_string(o_.lease.count());
  const auto lease_s = pg::Param::text(lease_text);  // a Param holds a view
  ACCRUE_ASSIGN_OR_RETURN(auto taken, c.query(kTakeLease, {name, owner, lease_s,
                                                           pg::Param::text(std::to_string(due))}));
  if (taken.rows() != 1) return 0;  // not due, or another replica runs it
  int64_t first = taken.is_null(0, 0) || !job.each_missed_day ? due : taken.int64(0, 0) + 1;
  if (due - first >= kMaxCatchUpDays) {
    log(LogLevel::kWarn, "scheduler_catch_up_cut",
        {{"job", job.name}, {"skipped_days", std::to_string(due - kMaxCatchUpDays + 1 - first)}});
    first = due - kMaxCatchUpDays + 1;
  }
  int days = 0;
  for (int64_t day = first; day <= due; ++day) {
    ACCRUE_TRY(c.query(kStarted, {name, owner, pg::Param::text(std::to_string(day))}));
    const auto started = std::chrono::steady_clock::now();
    JobRun run{c, p, day, now, [&]() -> Result<void> {
                 ACCRUE_ASSIGN_OR_RETURN(auto r, c.query(kRenew, {name, owner, lease_s}));
                 if (r.affected() != 1) {
                   return fail(ErrorCode::kUnavailable,
                               job.name + ": the lease passed to another replica");
                 }
                 return {};
               }};
    auto counts = job.run(run);
    if (counts) {
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
      json::object o;
      for (const auto& [k, v] : *counts) o[k] = v;
      ACCRUE_ASSIGN_OR_RETURN(auto done,
                              c.query(kFinished, {name, owner, pg::Param::text(std::to_string(day)),
                                                  pg::Param::text(std::to_string(took.count())),
                                                  pg::Param::text(json::serialize(o))}));
      if (done.affected() == 1) {
        ++days;
        counters_.days_run.fetch_add(1, std::memory_order_relaxed);
        log(LogLevel::kInfo, "scheduler_job_done",
            {{"job", job.name},
             {"day", format_civil_date(civil_from_days(day))},
             {"ms", std::to_string(took.count())},
             {"counts", json::serialize(o)}});
        continue;
      }
      counts = fail(ErrorCode::kUnavailable, job.name + ": the lease passed to another replica");
    }
    counters_.failures.fetch_add(1, std::memory_order_relaxed);
    (void)c.query(kFailed, {name, owner, pg::Param::text(counts.error().message)});
    log(LogLevel::kWarn, "scheduler_job_failed",
        {{"job", job.name},
         {"day", format_civil_date(civil_from_days(day))},
         {"error", counts.error().message}});
    return std::unexpected(counts.error());
  }
  ACCRUE_TRY(c.query(kRelease, {name, owner}));
  return days;
}

Result<std::vector<JobStatus>> job_status(pg::Connection& c, const PublishedProgram& program,
                                          int run_at_minute) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT name, done_through_day, CASE WHEN lease_until > now() THEN "
                      "coalesce(lease_owner, '') ELSE '' END, runs, "
                      "(extract(epoch FROM last_started_at)*1000)::bigint, "
                      "(extract(epoch FROM last_finished_at)*1000)::bigint, "
                      "coalesce(last_duration_ms, 0), last_counts::text, coalesce(last_error, '') "
                      "FROM scheduled_job ORDER BY name"));
  std::vector<JobStatus> out;
  for (int i = 0; i < r.rows(); ++i) {
    JobStatus s;
    s.name = std::string(r.text(i, 0));
    if (!r.is_null(i, 1)) s.done_through_day = r.int64(i, 1);
    s.lease_owner = std::string(r.text(i, 2));
    s.runs = r.int64(i, 3);
    s.last_started = ms_or_none(r, i, 4);
    s.last_finished = ms_or_none(r, i, 5);
    s.last_duration_ms = r.int64(i, 6);
    s.last_counts = std::string(r.text(i, 7));
    s.last_error = std::string(r.text(i, 8));
    if (s.done_through_day) {
      s.next_run = program.zone.to_utc_ms((*s.done_through_day + 1) * kMsPerDay +
                                          int64_t{run_at_minute} * 60'000);
    }
    out.push_back(std::move(s));
  }
  return out;
}

json::object jobs_json(const std::vector<JobStatus>& jobs, bool enabled, std::string_view run_at,
                       std::string_view time_zone) {
  json::array items;
  auto time_or_null = [](const std::optional<TimestampMs>& t) {
    return t ? json::value(format_utc_iso8601(*t)) : json::value(nullptr);
  };
  for (const auto& j : jobs) {
    json::object o;
    o["name"] = j.name;
    o["done_through"] = j.done_through_day
                            ? json::value(format_civil_date(civil_from_days(*j.done_through_day)))
                            : json::value(nullptr);
    o["running_on"] = j.lease_owner.empty() ? json::value(nullptr) : json::value(j.lease_owner);
    o["runs"] = j.runs;
    o["last_started_at"] = time_or_null(j.last_started);
    o["last_finished_at"] = time_or_null(j.last_finished);
    o["last_duration_ms"] = j.last_duration_ms;
    boost::system::error_code ec;
    auto counts = json::parse(j.last_counts, ec);
    o["last_counts"] = ec || !counts.is_object() ? json::object{} : counts.as_object();
    o["last_error"] = j.last_error.empty() ? json::value(nullptr) : json::value(j.last_error);
    o["next_run_at"] = time_or_null(j.next_run);
    items.push_back(std::move(o));
  }
  return json::object{{"enabled", enabled},
                      {"run_at", run_at},
                      {"time_zone", time_zone},
                      {"jobs", std::move(items)}};
}

Result<json::object> jobs_report(pg::Connection& c, ProgramCatalog& programs, TimestampMs now,
                                 bool enabled, const std::string& run_at) {
  ACCRUE_ASSIGN_OR_RETURN(auto program, programs.latest(c, now));
  const int minute = run_at_minute(run_at);
  if (minute < 0) return fail(ErrorCode::kInvalidArgument, "scheduler.run_at: expected HH:MM");
  ACCRUE_ASSIGN_OR_RETURN(auto jobs, job_status(c, *program, minute));
  return jobs_json(jobs, enabled, run_at, program->zone.name());
}

}  // namespace accrue::cloud
