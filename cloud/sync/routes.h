// The routes the store agents call (protobuf bodies; the caller's store from a verified client
// certificate or a store token):
//   POST /v1/sync/events     an agent's EventBatch (gzip accepted) -> EventBatchResult
//   GET  /v1/sync/changes    the store's change feed (ChangesPage); with ?agent=, the agent's
//                            health report (outbox, oldest event, quarantine, programme) is kept
//                            for head office, and a revoked agent is refused
//   GET  /v1/sync/lookup     ?identifier=<64 hex>: LookupResponse, or 404
//   POST /v1/sync/redeem     OnlineRedeemRequest -> OnlineRedeemResponse (atomic, idempotent)
//   POST /v1/sync/claim      OnlineClaimRequest -> OnlineClaimResponse (a reward claimed at a
//                            till; atomic, idempotent)
//   POST /v1/sync/return     OnlineReturnRequest -> OnlineReturnResponse (another store's sale)
#pragma once

#include <string>

#include "cloud/config/config.h"
#include "cloud/core/store_auth.h"
#include "cloud/http/router.h"
#include "cloud/pg/pool.h"
#include "cloud/sync/changes.h"
#include "cloud/sync/ingest.h"

namespace accrue::cloud {

struct SyncDeps {
  const CloudConfig& config;
  pg::Pool& pool;
  Ingest& ingest;
  ChangeFeed& feed;
  const StoreTokens* store_tokens;  // null: only client certificates name a store
  const Clock& clock;
};

class SyncRoutes {
 public:
  explicit SyncRoutes(SyncDeps deps) : d_(deps) {}
  void add_routes(http::Router& router);

 private:
  using Handler = http::Response (SyncRoutes::*)(const http::Request&, http::RequestContext&,
                                                 const std::string& store);
  // The handler behind the store's authentication (401 with WWW-Authenticate without it).
  http::Handler for_store(Handler handler);
  // The store the caller authenticated as (kUnauthenticated).
  Result<std::string> authenticate_store(const http::Request& req,
                                         const http::RequestContext& ctx) const;
  http::Response events(const http::Request& req, http::RequestContext& ctx,
                        const std::string& store);
  http::Response changes(const http::Request& req, http::RequestContext& ctx,
                         const std::string& store);
  http::Response lookup(const http::Request& req, http::RequestContext& ctx,
                        const std::string& store);
  http::Response return_sale(const http::Request& req, http::RequestContext& ctx,
                             const std::string& store);
  http::Response redeem(const http::Request& req, http::RequestContext& ctx,
                        const std::string& store);
  http::Response claim(const http::Request& req, http::RequestContext& ctx,
                       const std::string& store);
  // Keeps the agent's health report from the changes query; kPermissionDenied when head office
  // revoked the agent.
  Result<void> record_agent_report(const http::Request& req, const std::string& store,
                                   const std::string& agent);

  SyncDeps d_;
};

// Gunzips `in` (gzip or zlib framing) up to `limit` bytes. kInvalidArgument for corrupt data,
// kOutOfRange beyond the limit.
Result<std::string> inflate_body(std::string_view in, size_t limit);

}  // namespace accrue::cloud
