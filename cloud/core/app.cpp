#include "cloud/core/app.h"

#include <cctype>
#include <charconv>
#include <fstream>

#include "cloud/core/app_metrics.h"
#include "cloud/core/daily_jobs.h"
#include "cloud/http/problems.h"
#include "cloud/http/tls.h"
#include "common/sys/log.h"

namespace accrue::cloud {

namespace bhttp = http::bhttp;

Result<search::ElasticOptions> elastic_options(const CloudConfig& c) {
  search::ElasticOptions o;
  o.url = c.search_url;
  o.alias = c.search_alias;
  o.ca_file = c.search_ca_file;
  o.timeout = std::chrono::milliseconds(c.search_timeout_ms);
  if (!c.search_api_key_file.empty()) {
    std::ifstream in(c.search_api_key_file);
    if (!in) {
      return fail(ErrorCode::kNotFound,
                  "search.api_key_file: cannot read " + c.search_api_key_file);
    }
    std::string key((std::istreambuf_iterator<char>(in)), {});
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
    while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
    if (key.empty() || key.size() > 4096 || key.find_first_of("\r\n") != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument, "search.api_key_file: " + c.search_api_key_file +
                                                   " must hold one API key on one line");
    }
    o.api_key = std::move(key);
  }
  return o;
}

Result<std::unique_ptr<CloudApp>> CloudApp::create(CloudConfig config) {
  std::unique_ptr<CloudApp> a(new CloudApp());
  a->config_ = std::move(config);
  const CloudConfig& c = a->config_;
  LogLevel level;
  if (parse_log_level(c.log_level, level)) set_log_level(level);
  if (!c.store_token_key_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto key,
                            read_key_file(c.store_token_key_file, "auth.store_token_key_file"));
    a->store_tokens_ = std::make_unique<StoreTokens>(std::move(key));
  }
  if (!c.jwks_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto v,
                            auth::JwtVerifier::load(c.jwks_file, c.jwt_issuer, c.jwt_audience));
    a->jwt_ = std::make_unique<auth::JwtVerifier>(std::move(v));
  }
  if (!c.member_issuer.empty()) {
    // The provider's keys are fetched at the first member's token (the service starts without
    // the provider), then kept fresh.
    a->members_ = std::make_unique<auth::OidcVerifier>(
        auth::OidcVerifier::Options{c.member_issuer, c.member_audience,
                                    std::chrono::seconds(c.member_jwks_refresh_s),
                                    std::chrono::seconds(c.member_jwks_min_refresh_s)},
        auth::OidcVerifier::http_get(std::chrono::milliseconds(5000)), a->clock_);
  }
  pg::PoolOptions po;
  po.dsn = c.pg_dsn;
  po.size = c.pg_pool_size;
  po.acquire_timeout = std::chrono::milliseconds(c.pg_acquire_timeout_ms);
  po.connect_timeout = std::chrono::seconds(c.pg_connect_timeout_s);
  po.answer_timeout = std::chrono::milliseconds(c.pg_answer_timeout_ms);
  po.cooldown = std::chrono::milliseconds(c.pg_down_cooldown_ms);
  po.prepared_statements = c.pg_prepared_statements;
  a->pool_ = std::make_unique<pg::Pool>(std::move(po));
  a->programs_ = std::make_unique<ProgramCatalog>(a->zones_);
  a->ingest_ =
      std::make_unique<Ingest>(*a->pool_, *a->programs_, a->clock_, a->random_, c.max_batch_events);
  a->feed_ = std::make_unique<ChangeFeed>(*a->pool_, *a->programs_, a->clock_,
                                          static_cast<int>(c.scope_days));
  if (!c.contact_key_file.empty()) {
    std::ifstream in(c.contact_key_file);
    std::string pem((std::istreambuf_iterator<char>(in)), {});
    if (!in && pem.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "auth.contact_key_file: cannot read " + c.contact_key_file);
    }
    auto opener = ContactOpener::from_pem(pem);
    if (!opener) {
      return fail(ErrorCode::kInvalidArgument, "auth.contact_key_file: " + opener.error().message);
    }
    a->feed_->set_contact_key(opener->public_key());
    a->ingest_->set_contact_opener(std::move(*opener));
  }
  a->reads_ = std::make_unique<hq::CustomerReads>(*a->pool_, *a->programs_, a->clock_);
  cache::RedisOptions ro;
  ro.host = c.redis_host;
  ro.port = static_cast<uint16_t>(c.redis_port);
  ro.timeout = std::chrono::milliseconds(c.redis_timeout_ms);
  a->redis_ = std::make_unique<cache::Redis>(std::move(ro));
  a->cache_ = std::make_unique<cache::CustomerCache>(
      *a->redis_, std::chrono::seconds(c.cache_ttl_s), c.cache_key_prefix);
  a->ingest_->on_commit([cache = a->cache_.get()](const std::vector<std::string>& ids) {
    if (!cache->invalidate(ids)) {
      log(LogLevel::kWarn, "cache_invalidation_failed",
          {{"customers", std::to_string(ids.size())}});
    }
  });
  {
    SchedulerOptions so;
    so.poll = std::chrono::milliseconds(c.scheduler_poll_ms);
    so.run_at_minute = run_at_minute(c.scheduler_run_at);
    a->scheduler_ = std::make_unique<Scheduler>(
        *a->pool_, *a->programs_, a->clock_,
        daily_jobs({a->clock_, a->random_, *a->ingest_,
                    [cache = a->cache_.get()](const std::vector<std::string>& ids) {
                      if (!cache->invalidate(ids)) {
                        log(LogLevel::kWarn, "cache_invalidation_failed",
                            {{"customers", std::to_string(ids.size())}});
                      }
                    }}),
        so);
  }
  WebhookOptions wo;
  wo.poll = std::chrono::milliseconds(c.hq_webhook_poll_ms);
  wo.backoff_base = std::chrono::milliseconds(c.hq_webhook_backoff_base_ms);
  wo.max_attempts = static_cast<int>(c.hq_webhook_max_attempts);
  a->webhooks_ = std::make_unique<WebhookDispatcher>(*a->pool_, wo);
  if (c.search_backend == "elasticsearch") {
    ACCRUE_ASSIGN_OR_RETURN(auto eo, elastic_options(c));
    a->elastic_ = std::make_unique<search::ElasticClient>(std::move(eo));
    search::ProjectorOptions spo;
    spo.batch = static_cast<int>(c.search_batch);
    spo.poll = std::chrono::milliseconds(c.search_poll_ms);
    a->projector_ = std::make_unique<search::SearchProjector>(*a->pool_, *a->elastic_, spo);
    a->search_ = std::make_unique<search::ElasticCustomerSearch>(*a->elastic_);
  } else {
    a->search_ = std::make_unique<search::PgCustomerSearch>(*a->pool_);
  }
  if (!c.coupon_key_file.empty()) {
    std::ifstream in(c.coupon_key_file);
    std::string pem((std::istreambuf_iterator<char>(in)), {});
    if (!in && pem.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "auth.coupon_key_file: cannot read " + c.coupon_key_file);
    }
    auto signer = CouponSigner::from_pem(pem, static_cast<uint32_t>(c.coupon_key_id));
    if (!signer) {
      return fail(ErrorCode::kInvalidArgument, "auth.coupon_key_file: " + signer.error().message);
    }
    a->coupons_ = std::make_unique<CouponSigner>(std::move(*signer));
    a->ingest_->set_coupon_signer(a->coupons_.get());
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto hq, hq::HqApi::create(hq::HqDeps{a->config_, *a->pool_, *a->programs_, *a->ingest_,
                                            *a->reads_, *a->redis_, *a->cache_, a->jwt_.get(),
                                            a->clock_, a->random_, a->zones_, a->webhooks_.get(),
                                            *a->search_, a->coupons_.get(), a->members_.get()}));
  a->hq_ = std::move(hq);
  a->sync_ = std::make_unique<SyncRoutes>(
      SyncDeps{a->config_, *a->pool_, *a->ingest_, *a->feed_, a->store_tokens_.get(), a->clock_});
  a->add_routes();
  http::ServerOptions so;
  so.address = c.listen_address;
  so.port = static_cast<uint16_t>(c.port);
  so.io_threads = c.io_threads;
  so.workers = c.workers;
  so.max_connections = c.max_connections;
  so.max_in_flight = c.max_in_flight;
  so.header_limit = c.header_limit_bytes;
  so.body_limit = c.body_limit_bytes;
  so.read_timeout = std::chrono::milliseconds(c.read_timeout_ms);
  so.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  so.write_timeout = std::chrono::milliseconds(c.write_timeout_ms);
  so.access_log = c.access_log;
  if (!c.tls_cert_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto tls, http::server_tls_context(c.tls_cert_file, c.tls_key_file, c.tls_client_ca_file,
                                           c.tls_client_crl_file));
    so.tls = std::move(tls);
  }
  a->server_ = std::make_unique<http::Server>(std::move(so), a->router_);
  a->register_metrics();
  return a;
}

CloudApp::~CloudApp() { stop(); }

Result<void> CloudApp::reload_tls() {
  const auto& c = config_;
  if (c.tls_cert_file.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto tls, http::server_tls_context(c.tls_cert_file, c.tls_key_file, c.tls_client_ca_file,
                                         c.tls_client_crl_file));
  server_->replace_tls(std::move(tls));
  return {};
}

Result<void> CloudApp::start() {
  ACCRUE_ASSIGN_OR_RETURN(auto conn, pool_->acquire());
  if (config_.migrate_at_start) {
    ACCRUE_ASSIGN_OR_RETURN(auto m, pg::migrate(*conn, pg::shipped_migrations()));
    log(LogLevel::kInfo, "migrated",
        {{"from", std::to_string(m.from_version)}, {"to", std::to_string(m.to_version)}});
  }
  ACCRUE_ASSIGN_OR_RETURN(auto v, pg::schema_version(*conn));
  const int want = pg::shipped_migrations().back().version;
  if (v != want) {
    return fail(ErrorCode::kFailedPrecondition, "the database schema is version " +
                                                    std::to_string(v) + ", this binary needs " +
                                                    std::to_string(want) +
                                                    ": run `accrue-cloud migrate` (or set "
                                                    "postgres.migrate_at_start)");
  }
  if (coupons_) ACCRUE_TRY(register_coupon_key(*conn));
  ACCRUE_TRY(server_->start());
  webhooks_->start();
  hq_->start_background();
  if (projector_) projector_->start();
  if (config_.scheduler_enabled) scheduler_->start();
  log(LogLevel::kInfo, "listening",
      {{"address", config_.listen_address}, {"port", std::to_string(server_->port())}});
  return {};
}

// Every feed page carries the keys in coupon_key (migration 0025): this replica's joins them,
// once; a key id already naming another key is refused (coupons signed under it would stop
// verifying in the stores, or verify against the wrong key).
Result<void> CloudApp::register_coupon_key(pg::Connection& c) {
  const auto pub = coupons_->public_key();
  const std::string key(pub.begin(), pub.end());
  const std::string id = std::to_string(coupons_->key_id());
  ACCRUE_TRY(
      c.query("INSERT INTO coupon_key (key_id, public_key) VALUES ($1::bigint, $2) ON "
              "CONFLICT (key_id) DO NOTHING",
              {pg::Param::text(id), pg::Param::bytes(key)}));
  ACCRUE_ASSIGN_OR_RETURN(auto same, c.query("SELECT public_key = $2 FROM coupon_key WHERE key_id "
                                             "= $1::bigint",
                                             {pg::Param::text(id), pg::Param::bytes(key)}));
  if (same.rows() != 1 || same.text(0, 0) != "t") {
    return fail(ErrorCode::kFailedPrecondition,
                "auth.coupon_key_id " + id +
                    " names another coupon key already (coupons signed with it are still in "
                    "members' hands): give a new key a new id");
  }
  log(LogLevel::kInfo, "coupon_key_registered", {{"key_id", id}});
  return {};
}

void CloudApp::drain() { server_->drain(std::chrono::milliseconds(config_.drain_grace_ms)); }

void CloudApp::stop() {
  if (server_) server_->stop();
  if (projector_) projector_->stop();
  if (scheduler_) scheduler_->stop();
  if (hq_) hq_->flush_audit();
}

void CloudApp::add_routes() {
  router_.add(bhttp::verb::get, "/healthz", "healthz",
              [](const http::Request& req, http::RequestContext&) {
                return http::bytes(req, "ok\n", "text/plain");
              });
  router_.add(
      bhttp::verb::get, "/readyz", "readyz",
      [this](const http::Request& req, http::RequestContext& ctx) { return ready(req, ctx); });
  router_.add(
      bhttp::verb::get, "/metrics", "metrics",
      [this](const http::Request& req, http::RequestContext& ctx) { return metrics(req, ctx); });
  hq_->add_routes(router_);
  sync_->add_routes(router_);
}

// Ready means "send me traffic": PostgreSQL answers (or is merely busy: a saturated pool is not
// a down database, and taking the replica out of the service would only move its load). Redis is
// a cache: without it every read goes to PostgreSQL, so the replica stays ready and says it is
// degraded. Never waits longer than one statement's answer deadline.
http::Response CloudApp::ready(const http::Request& req, http::RequestContext& ctx) {
  if (server_->draining()) {
    return http::problem(req, ctx, http::Problem::kDraining, "this replica is shutting down");
  }
  std::string body = "ready\n";
  if (auto idle = pool_->try_acquire()) {
    if (auto r = (*idle)->exec("SELECT 1"); !r) return http::problem(req, ctx, r.error());
  } else if (!pool_->stats().up) {
    auto c = pool_->acquire();  // fails at once while the breaker is open; else it probes
    if (!c) return http::problem(req, ctx, c.error());
    if (auto r = (*c)->exec("SELECT 1"); !r) return http::problem(req, ctx, r.error());
  } else {
    body = "ready (every PostgreSQL connection is busy)\n";
  }
  if (redis_->configured() && !redis_->command({"PING"})) {
    body = "ready, degraded: the Redis cache is unreachable; reads go to PostgreSQL\n";
  }
  return http::bytes(req, body, "text/plain");
}

http::Response CloudApp::metrics(const http::Request& req, http::RequestContext&) {
  std::string out;
  metrics_.render(out);
  return http::bytes(req, std::move(out), "text/plain; version=0.0.4");
}

void CloudApp::register_metrics() {
  metrics_.add([this](std::string& out) { server_->render_metrics(out); });
  metrics_.add([this](std::string& out) { write_pool_metrics(out, *pool_); });
  metrics_.add([this](std::string& out) { write_ingest_metrics(out, ingest_->counters()); });
  metrics_.add([this](std::string& out) { write_feed_metrics(out, *pool_); });
  metrics_.add([this](std::string& out) { write_cache_metrics(out, cache_->counters(), *redis_); });
  metrics_.add([this](std::string& out) { write_audit_metrics(out, hq_->audit()); });
  metrics_.add([this](std::string& out) { write_webhook_metrics(out, webhooks_->counters()); });
  if (projector_) {
    metrics_.add([this](std::string& out) { write_search_metrics(out, projector_->counters()); });
  }
  metrics_.add(
      [this](std::string& out) { write_scheduler_metrics(out, scheduler_->counters(), *pool_); });
}

}  // namespace accrue::cloud
