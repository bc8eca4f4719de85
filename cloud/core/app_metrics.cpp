// What accrue-cloud reports at /metrics besides the HTTP server's own series: one writer per
// component, registered with the MetricsRegistry in CloudApp::create, rendered at each scrape.
#include "cloud/core/app_metrics.h"

namespace accrue::cloud {

using http::metric_header;
using http::metric_one;
using http::metric_sample;

void write_pool_metrics(std::string& out, const pg::Pool& pool) {
  auto ps = pool.stats();
  metric_header(out, "accrue_pg_pool_connections", "gauge",
                "PostgreSQL connections by state (size is the bound)");
  metric_sample(out, "accrue_pg_pool_connections", "state=\"size\"", static_cast<double>(ps.size));
  metric_sample(out, "accrue_pg_pool_connections", "state=\"open\"", static_cast<double>(ps.open));
  metric_sample(out, "accrue_pg_pool_connections", "state=\"in_use\"",
                static_cast<double>(ps.in_use));
  metric_one(out, "accrue_pg_pool_waiting", "gauge", "Requests waiting for a connection",
             static_cast<double>(ps.waiting));
  metric_one(out, "accrue_pg_pool_errors_total", "counter",
             "Failed connects and connections dropped as broken", static_cast<double>(ps.errors));
  metric_one(out, "accrue_pg_up", "gauge",
             "1 while PostgreSQL answers; 0 while the breaker is open (requests fail at once)",
             ps.up ? 1.0 : 0.0);
  metric_one(out, "accrue_pg_fast_failures_total", "counter",
             "Requests refused at once because PostgreSQL was down",
             static_cast<double>(ps.fast_failures));
  metric_one(out, "accrue_pg_pool_timeouts_total", "counter",
             "Requests that gave up waiting for a connection", static_cast<double>(ps.timeouts));
}

void write_ingest_metrics(std::string& out, const IngestCounters& ic) {
  metric_header(out, "accrue_ingest_events_total", "counter", "Uploaded events by outcome");
  metric_sample(out, "accrue_ingest_events_total", "result=\"applied\"",
                static_cast<double>(ic.applied.load()));
  metric_sample(out, "accrue_ingest_events_total", "result=\"duplicate\"",
                static_cast<double>(ic.duplicate.load()));
  metric_sample(out, "accrue_ingest_events_total", "result=\"rejected\"",
                static_cast<double>(ic.rejected.load()));
  metric_one(out, "accrue_ingest_points_mismatch_total", "counter",
             "Events whose points the store computed differently (the cloud's figure won)",
             static_cast<double>(ic.mismatched.load()));
  metric_one(out, "accrue_ingest_seq_gaps_total", "counter", "Jumps in an agent's seq",
             static_cast<double>(ic.seq_gaps.load()));
  metric_one(out, "accrue_ingest_tier_moves_total", "counter",
             "Members moved to another tier by the events they uploaded",
             static_cast<double>(ic.tier_moves.load()));
  metric_one(out, "accrue_offline_overdrafts_total", "counter",
             "Offline redemptions the member's points no longer covered when they arrived",
             static_cast<double>(ic.overdrafts.load()));
  metric_one(out, "accrue_offline_overdraft_points_total", "counter",
             "Points honoured offline beyond what the member had (realized offline exposure)",
             static_cast<double>(ic.overdraft_points.load()));
  metric_one(out, "accrue_offline_coupon_double_uses_total", "counter",
             "Coupon uses honoured offline for a coupon spent, voided or never issued",
             static_cast<double>(ic.coupon_double_uses.load()));
  metric_one(out, "accrue_ingest_unreadable_contacts_total", "counter",
             "Enrolments whose sealed contact details this cloud's key could not open (kept "
             "sealed)",
             static_cast<double>(ic.unreadable_contacts.load()));
}

// How far back the change feed is held by the oldest transaction still open (it delivers only
// rows of finished transactions).
void write_feed_metrics(std::string& out, pg::Pool& pool) {
  if (auto c = pool.acquire()) {
    auto lag = (*c)->exec(
        "SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0) FROM pg_stat_activity "
        "WHERE backend_xid IS NOT NULL");
    if (lag && lag->rows() == 1) {
      metric_one(out, "accrue_feed_holdback_seconds", "gauge",
                 "Age of the oldest open writing transaction (the change feed waits for it)",
                 std::strtod(std::string(lag->text(0, 0)).c_str(), nullptr));
    }
  }
}

void write_scheduler_metrics(std::string& out, const SchedulerCounters& sc, pg::Pool& pool) {
  metric_one(out, "accrue_scheduler_days_run_total", "counter",
             "Job days this replica ran to the end", static_cast<double>(sc.days_run.load()));
  metric_one(out, "accrue_scheduler_failures_total", "counter",
             "Job days this replica started and could not finish (run again later)",
             static_cast<double>(sc.failures.load()));
  auto c = pool.acquire();
  if (!c) return;
  auto r = (*c)->exec(
      "SELECT name, coalesce(extract(epoch FROM last_finished_at), 0), (last_error IS NOT NULL)"
      "::int FROM scheduled_job ORDER BY name");
  if (!r) return;
  metric_header(out, "accrue_scheduler_last_success_timestamp_seconds", "gauge",
                "When each daily job last finished a day (any replica)");
  for (int i = 0; i < r->rows(); ++i) {
    metric_sample(out, "accrue_scheduler_last_success_timestamp_seconds",
                  "job=\"" + std::string(r->text(i, 0)) + "\"",
                  std::strtod(std::string(r->text(i, 1)).c_str(), nullptr));
  }
  metric_header(out, "accrue_scheduler_job_failing", "gauge",
                "1 while a daily job's last attempt failed");
  for (int i = 0; i < r->rows(); ++i) {
    metric_sample(out, "accrue_scheduler_job_failing", "job=\"" + std::string(r->text(i, 0)) + "\"",
                  static_cast<double>(r->int64(i, 2)));
  }
}

void write_cache_metrics(std::string& out, const cache::CacheCounters& cc,
                         const cache::Redis& redis) {
  metric_header(out, "accrue_cache_requests_total", "counter", "Hot-read cache lookups");
  metric_sample(out, "accrue_cache_requests_total", "result=\"hit\"",
                static_cast<double>(cc.hits.load()));
  metric_sample(out, "accrue_cache_requests_total", "result=\"miss\"",
                static_cast<double>(cc.misses.load()));
  metric_header(out, "accrue_cache_fills_total", "counter",
                "Cache fills, and fills refused because an invalidation came first");
  metric_sample(out, "accrue_cache_fills_total", "result=\"stored\"",
                static_cast<double>(cc.fills.load()));
  metric_sample(out, "accrue_cache_fills_total", "result=\"refused\"",
                static_cast<double>(cc.refused_fills.load()));
  metric_header(out, "accrue_cache_invalidations_total", "counter",
                "Customers invalidated after ingestion, and failed invalidation calls");
  metric_sample(out, "accrue_cache_invalidations_total", "result=\"ok\"",
                static_cast<double>(cc.invalidations.load()));
  metric_sample(out, "accrue_cache_invalidations_total", "result=\"failed\"",
                static_cast<double>(cc.invalidation_failures.load()));
  metric_one(out, "accrue_redis_errors_total", "counter",
             "Redis calls that failed or timed out (each opens the breaker for a second)",
             static_cast<double>(redis.errors()));
}

void write_audit_metrics(std::string& out, const hq::AuditTrail& audit) {
  metric_one(out, "accrue_audit_entries_written_total", "counter",
             "Audit entries of personal-data reads written by the background writer",
             static_cast<double>(audit.written()));
  metric_one(out, "accrue_audit_write_failures_total", "counter",
             "Failed batch writes of the audit queue (retried)",
             static_cast<double>(audit.failures()));
}

void write_webhook_metrics(std::string& out, const WebhookCounters& wc) {
  metric_header(out, "accrue_webhook_deliveries_total", "counter",
                "Webhook delivery attempts by outcome (given_up: marked failed after the last)");
  metric_sample(out, "accrue_webhook_deliveries_total", "result=\"delivered\"",
                static_cast<double>(wc.delivered.load()));
  metric_sample(out, "accrue_webhook_deliveries_total", "result=\"failed_attempt\"",
                static_cast<double>(wc.failed_attempts.load()));
  metric_sample(out, "accrue_webhook_deliveries_total", "result=\"given_up\"",
                static_cast<double>(wc.given_up.load()));
}

void write_search_metrics(std::string& out, const search::ProjectorCounters& sc) {
  metric_one(out, "accrue_search_projection_lag_seconds", "gauge",
             "Age of the oldest change not yet in the search index (0: caught up)",
             static_cast<double>(sc.lag_ms.load()) / 1000.0);
  metric_header(out, "accrue_search_documents_total", "counter",
                "Documents sent to the search index by outcome (stale: a newer one was there)");
  metric_sample(out, "accrue_search_documents_total", "result=\"indexed\"",
                static_cast<double>(sc.documents.load()));
  metric_sample(out, "accrue_search_documents_total", "result=\"stale\"",
                static_cast<double>(sc.stale.load()));
  metric_sample(out, "accrue_search_documents_total", "result=\"refused\"",
                static_cast<double>(sc.failed.load()));
  metric_one(out, "accrue_search_projection_errors_total", "counter",
             "Projection batches that failed whole (retried with backoff)",
             static_cast<double>(sc.errors.load()));
  metric_one(out, "accrue_search_rebuilds_total", "counter",
             "Search index rebuilds run by this replica", static_cast<double>(sc.rebuilds.load()));
}

}  // namespace accrue::cloud
