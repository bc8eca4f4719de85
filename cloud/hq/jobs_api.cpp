// Bulk adjustments as background jobs: POST /v1/points/bulk-adjustments fixes the job's items
// (a list of customers, or a segment's members at that moment) with their event ids, and answers
// 202 at once; a runner in any replica works through the items in chunks, each chunk one
// ingestion transaction that also records the items' outcomes and the job's progress, so a job
// taken over after a crash resumes exactly where the last chunk committed.
#include <boost/json.hpp>

#include "cloud/core/scheduler.h"
#include "cloud/hq/head_office_events.h"
#include "cloud/hq/resources.h"
#include "cloud/hq/segments.h"
#include "common/civil_time.h"
#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr int kMaxItems = 1'000'000;
constexpr int kChunk = 500;

}  // namespace

void JobsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::post, "/v1/points/bulk-adjustments", "points.bulk_adjust", kCustomerCare,
           [this](Call& c) { return bulk_adjust(c); });
  gate.add(r, V::get, "/v1/jobs/{id}", "jobs.get", kCustomerCare,
           [this](Call& c) { return get(c); });
  gate.add(r, V::get, "/v1/scheduler/jobs", "scheduler.jobs", kOperations,
           [this](Call& c) { return scheduled(c); });
}

// The scheduler's daily jobs (cloud/core/scheduler.h): the last day each finished, what it did,
// when the next is due.
http::Response JobsApi::scheduled(Call& call) {
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto report = jobs_report(**lease, d_.programs, d_.clock.now_ms(), d_.config.scheduler_enabled,
                            d_.config.scheduler_run_at);
  if (!report) return problem(call, report.error());
  return http::json(call.req, json::serialize(*report));
}

http::Response JobsApi::bulk_adjust(Call& call) {
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto points = in.integer("points", {.required = true, .min = -10'000'000, .max = 10'000'000});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  auto segment = in.string("segment_id", {.min = 1, .max = 64});
  std::vector<std::string> ids;
  if (const auto* list = in.array("customer_ids", 100'000)) {
    for (size_t i = 0; i < list->size(); ++i) {
      const auto& v = (*list)[i];
      if (!v.is_string() || !CustomerReads::valid_customer_id(v.as_string())) {
        errors.add("/customer_ids/" + std::to_string(i), "is not a customer id");
        continue;
      }
      ids.emplace_back(v.as_string());
    }
    if (list->empty()) errors.add("/customer_ids", "must list at least one customer");
  }
  in.finish();
  if (points && *points == 0) errors.add("/points", "must not be 0");
  if (segment.has_value() == in.has("customer_ids")) {
    errors.add("", "give customer_ids or segment_id, one of them");
  }
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  if (segment) {
    std::vector<std::string> values;
    auto sql = segment_sql(c, *segment, values);
    if (!sql && sql.error().code == ErrorCode::kNotFound) {
      FieldErrors e;
      e.add("/segment_id", "no such segment");
      return invalid(call, e);
    }
    if (!sql) return problem(call, sql.error());
    std::vector<pg::Param> ps;
    for (const auto& v : values) ps.push_back(pg::Param::text(v));
    auto r = c.query(
        ("SELECT c.customer_id FROM customer c JOIN balance b USING (customer_id)" + sql->join +
         " WHERE " + sql->where + " ORDER BY c.customer_id LIMIT " + std::to_string(kMaxItems + 1))
            .c_str(),
        std::span<const pg::Param>(ps));
    if (!r) return problem(call, r.error());
    if (r->rows() > kMaxItems) {
      return problem(call, Problem::kTooManyItems,
                     "the segment holds more than " + std::to_string(kMaxItems) + " members");
    }
    for (int i = 0; i < r->rows(); ++i) ids.emplace_back(r->text(i, 0));
  } else {
    std::ranges::sort(ids);
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());  // one adjustment per member
  }
  const std::string job = new_id();
  json::object params{{"points", *points}, {"reason", *reason}};
  if (segment) params["segment_id"] = *segment;
  std::string items;
  items.reserve(ids.size() * 80);
  for (size_t i = 0; i < ids.size(); ++i) {
    items += job + '\t' + std::to_string(i) + '\t' + ids[i] + '\t' + new_id() + '\n';
  }
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_TRY(
        c.query("INSERT INTO hq_job (job_id, kind, params, total, created_by) VALUES "
                "($1::uuid, 'bulk_adjustment', $2::jsonb, $3::int, $4)",
                {pg::Param::text(job), pg::Param::text(json::serialize(params)),
                 pg::Param::text(std::to_string(ids.size())), pg::Param::text(call.who.subject)}));
    if (!items.empty()) {
      ACCRUE_TRY(
          c.copy_in("COPY hq_job_item (job_id, seq, customer_id, event_id) FROM STDIN", items));
    }
    return audit_change(
        c, call, "points.bulk_adjust", "job:" + job,
        {{"items", static_cast<int64_t>(ids.size())}, {"points", *points}, {"reason", *reason}});
  });
  if (!done) return problem(call, done.error());
  wake();
  json::object out{
      {"job_id", job}, {"state", "queued"}, {"total", static_cast<int64_t>(ids.size())}};
  auto res = http::json(call.req, json::serialize(out), bhttp::status::accepted);
  res.set(bhttp::field::location, "/v1/jobs/" + job);
  return res;
}

http::Response JobsApi::get(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!Uuid::parse(id, "job")) return problem(call, Problem::kNotFound, "no job " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query(
      "SELECT kind, state, params::text, total, done, applied, rejected, created_by, "
      "(extract(epoch FROM created_at)*1000)::bigint, (extract(epoch FROM "
      "started_at)*1000)::bigint, "
      "(extract(epoch FROM finished_at)*1000)::bigint, (SELECT coalesce(json_agg(json_build_object("
      "'customer_id', i.customer_id, 'reason', i.reason)), '[]') FROM (SELECT customer_id, reason "
      "FROM hq_job_item WHERE job_id = $1::uuid AND state = 'rejected' ORDER BY seq LIMIT 20) i) "
      "FROM hq_job WHERE job_id = $1::uuid",
      {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  if (r->rows() == 0) return problem(call, Problem::kNotFound, "no job " + id);
  auto at = [&](int col) {
    return r->is_null(0, col) ? json::value(nullptr)
                              : json::value(format_utc_iso8601(r->int64(0, col)));
  };
  json::object out{{"job_id", id},
                   {"kind", r->text(0, 0)},
                   {"state", r->text(0, 1)},
                   {"params", json::parse(r->text(0, 2))},
                   {"total", r->int64(0, 3)},
                   {"done", r->int64(0, 4)},
                   {"applied", r->int64(0, 5)},
                   {"rejected", r->int64(0, 6)},
                   {"created_by", r->text(0, 7)},
                   {"created_at", format_utc_iso8601(r->int64(0, 8))},
                   {"started_at", at(9)},
                   {"finished_at", at(10)},
                   {"rejected_sample", json::parse(r->text(0, 11))}};
  return http::json(call.req, json::serialize(out));
}

// --- the runner ------------------------------------------------------------------------------

void JobsApi::start() {
  if (!runner_.joinable()) runner_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void JobsApi::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

JobsApi::~JobsApi() {
  runner_.request_stop();  // wakes the wait in run(); the jthread then joins
}

void JobsApi::run(std::stop_token stop) {
  name_this_thread("accrue-jobs");
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    cv_.wait_for(lock, stop, std::chrono::seconds(1), [&] { return woken_; });
    woken_ = false;
    if (stop.stop_requested()) break;
    lock.unlock();
    if (auto r = run_once(stop); !r) {
      log(LogLevel::kWarn, "job_round_failed", {{"error", r.error().message}});
    }
    lock.lock();
  }
}

Result<bool> JobsApi::run_once(std::stop_token stop) {
  std::string job;
  json::object params;
  {
    ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        lease->exec(
            "UPDATE hq_job SET state = 'running', started_at = coalesce(started_at, now()), "
            "lease_until = now() + interval '60 seconds' WHERE job_id = (SELECT job_id FROM hq_job "
            "WHERE state <> 'done' AND (lease_until IS NULL OR lease_until < now()) ORDER BY "
            "created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING job_id::text, params::text"));
    if (r.rows() == 0) return false;
    job = std::string(r.text(0, 0));
    ACCRUE_ASSIGN_OR_RETURN(auto p, parse_json_object(r.text(0, 1)));
    params = std::move(p);
  }
  const int64_t points = params.at("points").to_number<int64_t>();
  const std::string reason(params.at("reason").as_string());
  for (int round = 0; round < 100'000; ++round) {
    // Stopping: leave the job between chunks; its lease runs out and a replica takes over.
    if (stop.stop_requested()) return true;
    std::vector<std::pair<int64_t, std::string>> chunk;  // seq, customer
    std::vector<std::string> events;
    std::shared_ptr<const PublishedProgram> program;
    {
      ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
      ACCRUE_ASSIGN_OR_RETURN(
          auto r, lease->query("SELECT seq, customer_id, event_id::text FROM hq_job_item WHERE "
                               "job_id = $1::uuid AND "
                               "state = 'pending' ORDER BY seq LIMIT $2::int",
                               {pg::Param::text(job), pg::Param::text(std::to_string(kChunk))}));
      for (int i = 0; i < r.rows(); ++i) {
        chunk.emplace_back(r.int64(i, 0), std::string(r.text(i, 1)));
        events.emplace_back(r.text(i, 2));
      }
      if (chunk.empty()) {
        ACCRUE_TRY(
            lease->query("UPDATE hq_job SET state = 'done', finished_at = now(), "
                         "lease_until = NULL WHERE job_id = $1::uuid",
                         {pg::Param::text(job)}));
        return true;
      }
      ACCRUE_ASSIGN_OR_RETURN(auto p, d_.programs.latest(*lease, d_.clock.now_ms()));
      program = p;
    }
    HeadOfficeBatch batch(*program, d_.clock.now_ms());
    for (size_t i = 0; i < chunk.size(); ++i) {
      batch.adjustment(events[i], chunk[i].second, points, reason, "job:" + job);
    }
    auto r = d_.ingest.apply_head_office(
        batch.batch(),
        [&](pg::Connection& c, const sync::v1::EventBatchResult& res) -> Result<void> {
          json::array rows;
          int applied = 0, rejected = 0;
          for (int i = 0; i < res.results_size(); ++i) {
            const auto& x = res.results(i);
            std::string state = x.status() == sync::v1::EVENT_STATUS_APPLIED     ? "applied"
                                : x.status() == sync::v1::EVENT_STATUS_DUPLICATE ? "duplicate"
                                                                                 : "rejected";
            applied += state != "rejected";
            rejected += state == "rejected";
            json::object o{{"seq", chunk[static_cast<size_t>(i)].first}, {"state", state}};
            if (state == "rejected") o["reason"] = x.reject_code() + ": " + x.message();
            rows.push_back(std::move(o));
          }
          ACCRUE_TRY(
              c.query("UPDATE hq_job_item i SET state = x.state, reason = x.reason FROM "
                      "jsonb_to_recordset($2::jsonb) AS x(seq int, state text, reason text) WHERE "
                      "i.job_id = $1::uuid AND i.seq = x.seq",
                      {pg::Param::text(job), pg::Param::text(json::serialize(rows))}));
          ACCRUE_TRY(c.query(
              "UPDATE hq_job SET done = done + $2::int, applied = applied + $3::int, rejected = "
              "rejected + $4::int, lease_until = now() + interval '60 seconds' WHERE job_id = "
              "$1::uuid",
              {pg::Param::text(job), pg::Param::text(std::to_string(chunk.size())),
               pg::Param::text(std::to_string(applied)),
               pg::Param::text(std::to_string(rejected))}));
          return {};
        });
    if (!r) return std::unexpected(r.error());
  }
  return true;
}

}  // namespace accrue::cloud::hq
