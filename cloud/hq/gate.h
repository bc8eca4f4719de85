// The one door of every head-office route. In this order:
//   1. the bearer token (JWT, cloud/auth): 401 with WWW-Authenticate when missing or invalid;
//   2. the route's roles: 403 when the token has none of them;
//   3. a customer id in the path is checked once, here (routes named customers.* and points.*);
//   4. the client's rate limits (per token subject, all requests and changes): 429 + Retry-After;
//   5. on POST with an Idempotency-Key: the first response is stored and replayed (guards.h).
// A handler behind the gate receives the Call: the request, its context and who is calling.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "cloud/hq/deps.h"
#include "cloud/hq/guards.h"
#include "cloud/http/router.h"

namespace accrue::cloud::hq {

struct Call {
  const http::Request& req;
  http::RequestContext& ctx;
  auth::Principal who;
};

// Who may call a route.
using Roles = std::span<const auth::Role>;
inline constexpr std::array kEveryRole{auth::Role::kAdmin, auth::Role::kSupport,
                                       auth::Role::kAnalyst};
inline constexpr std::array kCustomerCare{auth::Role::kAdmin, auth::Role::kSupport};
inline constexpr std::array kOperations{auth::Role::kAdmin, auth::Role::kAnalyst};
inline constexpr std::array kAdminOnly{auth::Role::kAdmin};
// The web shop's orders: booked by the shop (or an admin), read by head office too.
inline constexpr std::array kWebShop{auth::Role::kAdmin, auth::Role::kWebShop};
inline constexpr std::array kWebShopReaders{auth::Role::kAdmin, auth::Role::kSupport,
                                            auth::Role::kAnalyst, auth::Role::kWebShop};

// What every gate answers the same way (gate.cpp): 401 with WWW-Authenticate, 429 with
// Retry-After, and a POST with an Idempotency-Key run once and replayed after (guards.h), keyed
// by the caller (`call.who.subject`).
// POST, PUT, PATCH, DELETE: counted against the write limit too.
bool is_change(http::bhttp::verb v);
http::Response unauthenticated(const http::Request& req, const http::RequestContext& ctx,
                               std::string_view why);
http::Response rate_limited(Call& call, const RateLimiter::Decision& d);
http::Response run_once(IdempotencyStore& store, Call& call, const std::string& key,
                        const std::function<http::Response(Call&)>& handler);
// A caller's rate limits per minute: all requests, and of them changes.
struct Limits {
  uint64_t per_minute = 0;
  uint64_t changes_per_minute = 0;
};
// Steps 4 and 5 of a gate: the caller's rate limits, then the handler (once, for a POST with an
// Idempotency-Key).
http::Response admitted(RateLimiter& limiter, IdempotencyStore& idempotency, Call& call,
                        Limits limits, const std::function<http::Response(Call&)>& handler);

class Gate {
 public:
  using Handler = std::function<http::Response(Call&)>;

  explicit Gate(const HqDeps& deps);
  ~Gate();

  // Serves `handler` at `method pattern` behind the gate; `name` is the route's name in logs,
  // metrics and the OpenAPI document's test.
  void add(http::Router& router, http::bhttp::verb method, std::string pattern, std::string name,
           Roles roles, Handler handler);

 private:
  http::Response pass(const http::Request& req, http::RequestContext& ctx, Roles roles,
                      const Handler& handler);

  const HqDeps& d_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<IdempotencyStore> idempotency_;
};

}  // namespace accrue::cloud::hq
