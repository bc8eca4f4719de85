// accrue-cloud assembled: configuration -> PostgreSQL pool, programme catalogue, ingest, routes,
// HTTP server. Routes in this version:
//   GET  /healthz            the process is up
//   GET  /readyz             PostgreSQL answers and the server is not draining
//   GET  /metrics            Prometheus text
//   /v1/sync/...             the store agents' routes (cloud/sync/routes.h), store credentials
//   /v1/customers..., /v1/audit, /v1/openapi.yaml
//                            the head-office API (cloud/hq/api.h), JWT auth; the three hot
//                            reads of the case study among them
#pragma once

#include <memory>

#include "cloud/auth/jwt.h"
#include "cloud/auth/oidc.h"
#include "cloud/cache/customer_cache.h"
#include "cloud/config/config.h"
#include "cloud/core/programs.h"
#include "cloud/core/scheduler.h"
#include "cloud/core/store_auth.h"
#include "cloud/hq/api.h"
#include "cloud/hq/reads.h"
#include "cloud/http/server.h"
#include "cloud/pg/migrate.h"
#include "cloud/pg/pool.h"
#include "cloud/search/elastic.h"
#include "cloud/search/projector.h"
#include "cloud/sync/changes.h"
#include "cloud/sync/ingest.h"
#include "cloud/sync/routes.h"
#include "common/sys/system.h"

namespace accrue::cloud {

class CloudApp {
 public:
  // Opens nothing yet; reads key files. kNotFound/kInvalidArgument for bad key files.
  static Result<std::unique_ptr<CloudApp>> create(CloudConfig config);
  ~CloudApp();

  // Migrates when configured, registers the coupon key, then listens. kUnavailable when
  // PostgreSQL or the port is not available; kFailedPrecondition for a schema of another version
  // or a coupon key id that names another key.
  Result<void> start();
  uint16_t port() const { return server_->port(); }
  // Readiness false, stop accepting, let in-flight requests finish (up to the configured grace).
  void drain();
  void stop();
  // SIGHUP: reads the TLS certificate, key, client CA and CRL files again (a new CRL after a
  // store's certificate was revoked, a renewed server certificate). New connections use them;
  // a file that does not load keeps the previous set. No-op without TLS.
  Result<void> reload_tls();

  pg::Pool& pool() { return *pool_; }
  const http::Server& server() const { return *server_; }
  // Every route served (the OpenAPI document's test holds the two to each other).
  const http::Router& router() const { return router_; }
  hq::HqApi& hq() { return *hq_; }
  const IngestCounters& ingest_counters() const { return ingest_->counters(); }
  const cache::CacheCounters& cache_counters() const { return cache_->counters(); }
  // The Elasticsearch projector (null with the postgres search backend).
  search::SearchProjector* projector() { return projector_.get(); }
  // The daily jobs' scheduler (runs only when scheduler.enabled).
  Scheduler& scheduler() { return *scheduler_; }

 private:
  CloudApp() = default;
  void add_routes();
  Result<void> register_coupon_key(pg::Connection& c);
  http::Response ready(const http::Request& req, http::RequestContext& ctx);
  http::Response metrics(const http::Request& req, http::RequestContext& ctx);
  // Every component's /metrics writer (app_metrics.h), the HTTP server's first.
  void register_metrics();

  CloudConfig config_;
  SystemClock clock_;
  SystemRandom random_;
  ZoneinfoSource zones_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<ProgramCatalog> programs_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<StoreTokens> store_tokens_;
  std::unique_ptr<auth::JwtVerifier> jwt_;
  std::unique_ptr<auth::OidcVerifier> members_;
  std::unique_ptr<hq::CustomerReads> reads_;
  std::unique_ptr<cache::Redis> redis_;
  std::unique_ptr<cache::CustomerCache> cache_;
  std::unique_ptr<WebhookDispatcher> webhooks_;
  std::unique_ptr<search::ElasticClient> elastic_;
  std::unique_ptr<search::SearchProjector> projector_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<search::CustomerSearch> search_;
  std::unique_ptr<CouponSigner> coupons_;  // null: auth.coupon_key_file not set
  std::unique_ptr<hq::HqApi> hq_;
  std::unique_ptr<SyncRoutes> sync_;
  http::Router router_;
  http::MetricsRegistry metrics_;
  std::unique_ptr<http::Server> server_;
};

// The search.* settings as the Elasticsearch client's options (the API key file read and
// trimmed). kNotFound / kInvalidArgument for an unreadable or empty key file.
Result<search::ElasticOptions> elastic_options(const CloudConfig& c);

}  // namespace accrue::cloud
