// The head-office REST API (/v1/customers, /v1/audit, /v1/openapi.yaml, ...), described route by
// route in cloud/openapi/openapi.yaml, which the server serves and the tests hold it to.
//
// Every route goes through the same gate, in this order:
//   1. the bearer token (JWT, cloud/auth): 401 with WWW-Authenticate when missing or invalid;
//   2. the route's roles: 403 when the token has none of them;
//   3. the client's rate limits (per token subject, all requests and changes): 429 + Retry-After;
//   4. on POST with an Idempotency-Key: the first response is stored and replayed (guards.h).
// Bodies are JSON objects read strictly (json_input.h): a field the operation does not take is
// an error. Errors are RFC 9457 problem+json with a type per kind of problem. Lists page by
// keyset (`limit`, capped, and an opaque `cursor`). Updates answer an ETag and honour If-Match.
// Every change writes its audit row in its own transaction; reads of personal data are audited
// asynchronously (audit_trail.h).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "cloud/auth/jwt.h"
#include "cloud/cache/customer_cache.h"
#include "cloud/config/config.h"
#include "cloud/core/programs.h"
#include "cloud/core/webhooks.h"
#include "cloud/hq/audit_trail.h"
#include "cloud/hq/guards.h"
#include "cloud/hq/json_input.h"
#include "cloud/hq/reads.h"
#include "cloud/hq/segments.h"
#include "cloud/http/router.h"
#include "cloud/search/search.h"
#include "cloud/sync/ingest.h"
#include "common/identifier.h"
#include "common/time_zone.h"
#include "common/uuid.h"

namespace accrue::cloud::hq {

// The OpenAPI 3.1 document (cloud/openapi/openapi.yaml, compiled in).
std::string_view openapi_document();

// A page size from ?limit= (default kDefaultPageSize, 1..kMaxPageSize; a bad one is recorded in
// `errors` under /limit and the default returned).
int page_limit(std::string_view target, FieldErrors& errors);

struct HqDeps {
  const CloudConfig& config;
  pg::Pool& pool;
  ProgramCatalog& programs;
  Ingest& ingest;
  CustomerReads& reads;
  cache::Redis& redis;
  cache::CustomerCache& cache;
  const auth::JwtVerifier* jwt;  // null: head-office authentication not configured
  const Clock& clock;
  Random& random;
  TimeZoneSource& zones;
  WebhookDispatcher* webhooks;     // woken on redelivery; may be null
  search::CustomerSearch& search;  // the configured read model (segments always use PostgreSQL)
};

class HqApi {
 public:
  // kInvalidArgument / kNotFound for an unreadable identifier key file.
  static Result<std::unique_ptr<HqApi>> create(HqDeps deps);
  void add_routes(http::Router& router);
  // Starts the background job runner (once the schema is in place).
  void start_background();
  ~HqApi();
  AuditTrail& audit() { return *audit_; }
  // Writes what the audit queue holds (shutdown).
  void flush_audit() { audit_->flush(std::chrono::seconds(5)); }

  struct Call {
    const http::Request& req;
    http::RequestContext& ctx;
    auth::Principal who;
  };

 private:
  explicit HqApi(HqDeps deps);
  using Handler = std::function<http::Response(Call&)>;
  void add(http::Router& router, http::bhttp::verb method, std::string pattern, std::string name,
           std::initializer_list<auth::Role> roles, Handler handler);
  http::Response gate(const http::Request& req, http::RequestContext& ctx,
                      const std::vector<auth::Role>& roles, const Handler& handler);

  // Problems.
  http::Response invalid(Call& call, const FieldErrors& errors);
  http::Response problem(Call& call, http::bhttp::status status, std::string_view type,
                         std::string_view detail);
  // The body as a JSON object (415 / 400 answered through `out` when it is not one).
  std::optional<boost::json::object> json_body(Call& call, http::Response& out);
  // A body of only {"reason": 1..500 characters}: the reason, or nullopt with `out` answered.
  std::optional<std::string> reason_body(Call& call, http::Response& out);
  // With If-Match given and not `etag` (nor "*"): the 412 to answer. `what` names the resource.
  std::optional<http::Response> stale(Call& call, const std::string& etag, std::string_view what);
  http::Response no_content(Call& call);

  // Routes (customers_api.cpp, privacy_api.cpp, stores_api.cpp, programs_api.cpp,
  // segments_api.cpp, webhooks_api.cpp, jobs_api.cpp, audit_api.cpp).
  http::Response customer_read(Call& call, int what);
  http::Response customer_create(Call& call);
  http::Response customer_details(Call& call);
  http::Response customer_patch(Call& call);
  // `segment`: the members of that segment only (GET /v1/segments/{id}/members).
  http::Response customer_search(Call& call, const std::string* segment = nullptr);
  http::Response customer_block(Call& call, bool block);
  http::Response customer_tier_floor(Call& call);
  http::Response customer_adjust(Call& call);
  http::Response customer_erase(Call& call);
  http::Response customer_export(Call& call);
  http::Response customer_merge(Call& call);
  http::Response customer_transfer(Call& call);
  http::Response store_create(Call& call);
  http::Response store_list(Call& call);
  http::Response store_get(Call& call);
  http::Response agent_list(Call& call);
  http::Response agent_revoke(Call& call);
  http::Response program_list(Call& call);
  http::Response program_version(Call& call);
  http::Response program_diff(Call& call);
  http::Response program_validate(Call& call);
  http::Response draft_create(Call& call);
  http::Response draft_list(Call& call);
  http::Response draft_get(Call& call);
  http::Response draft_put(Call& call);
  http::Response draft_publish(Call& call);
  http::Response segment_write(Call& call, bool create);
  http::Response segment_list(Call& call);
  http::Response segment_get(Call& call);
  http::Response segment_delete(Call& call);
  http::Response segment_count(Call& call);
  http::Response segment_members(Call& call);
  http::Response segment_export(Call& call);
  // The saved segment's SQL (its parameters appended to `values`); kNotFound.
  Result<SegmentSql> segment_sql(pg::Connection& c, const std::string& id,
                                 std::vector<std::string>& values);
  http::Response webhook_create(Call& call);
  http::Response webhook_list(Call& call);
  http::Response webhook_get(Call& call);
  http::Response webhook_delete(Call& call);
  http::Response webhook_deliveries(Call& call);
  http::Response webhook_redeliver(Call& call);
  http::Response expiry_run(Call& call);
  http::Response bulk_adjust(Call& call);
  http::Response job_get(Call& call);
  void wake_jobs();
  void run_jobs();
  // Works one job to its end (or until it fails); false when no job was waiting.
  Result<bool> run_job_once();
  http::Response audit_list(Call& call);

  // The customer's details document and revision (kNotFound).
  Result<std::pair<boost::json::object, int64_t>> details_of(pg::Connection& c,
                                                             const std::string& id);
  // Audit row for a change, written in `c`'s transaction.
  Result<void> audit_change(pg::Connection& c, Call& call, std::string action, std::string subject,
                            boost::json::object detail = {});
  void after_change(const std::string& customer_id);
  std::string new_customer_id();

  HqDeps d_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<IdempotencyStore> idempotency_;
  std::unique_ptr<AuditTrail> audit_;
  std::optional<IdentifierHasher> hasher_;
  std::mutex ids_mu_;
  UuidV7Generator ids_;
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  bool jobs_woken_ = false, jobs_stop_ = false;
  std::thread jobs_thread_;
};

}  // namespace accrue::cloud::hq
