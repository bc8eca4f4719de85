// The /metrics writers of accrue-cloud's components (Prometheus text), one per component;
// CloudApp registers them with its MetricsRegistry (cloud/http/metrics.h).
#pragma once

#include <string>

#include "cloud/cache/customer_cache.h"
#include "cloud/cache/redis.h"
#include "cloud/core/scheduler.h"
#include "cloud/core/webhooks.h"
#include "cloud/hq/audit_trail.h"
#include "cloud/http/metrics.h"
#include "cloud/pg/pool.h"
#include "cloud/search/projector.h"
#include "cloud/sync/ingest.h"

namespace accrue::cloud {

void write_pool_metrics(std::string& out, const pg::Pool& pool);
void write_ingest_metrics(std::string& out, const IngestCounters& ic);
// Queries PostgreSQL (the oldest open writing transaction); nothing when it cannot.
void write_feed_metrics(std::string& out, pg::Pool& pool);
void write_cache_metrics(std::string& out, const cache::CacheCounters& cc,
                         const cache::Redis& redis);
void write_audit_metrics(std::string& out, const hq::AuditTrail& audit);
void write_webhook_metrics(std::string& out, const WebhookCounters& wc);
void write_search_metrics(std::string& out, const search::ProjectorCounters& sc);
// This replica's scheduler counters, and every job's last success from PostgreSQL (what any
// replica did): alert when a job's last success is older than a day and a bit.
void write_scheduler_metrics(std::string& out, const SchedulerCounters& sc, pg::Pool& pool);

}  // namespace accrue::cloud
