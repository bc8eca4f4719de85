// The member API (/v1/me...): what the chain's app and web shop show a member of her own, with
// her token from the chain's identity provider (docs/members.md).
//
// MemberGate is the one door of every member route, in this order:
//   1. the bearer token, verified against the provider's keys (auth::OidcVerifier): 401 with
//      WWW-Authenticate when missing or invalid, 503 when the provider's keys cannot be had;
//   2. its subject names the member it is linked to (member_login): 403 when it is linked to
//      none, so a token of the provider never reaches anybody's data by itself;
//   3. her rate limits (per member, all requests and changes): 429 + Retry-After;
//   4. on POST with an Idempotency-Key: the first response is stored and replayed.
// The handler then runs as head office's route for that member does: her customer id is the
// first path parameter, and nothing in the request can name another member.
//
// MemberApi: the member routes (on the member gate) and head office's link between a member and
// her sign-in (on the head-office gate).
#pragma once

#include <memory>

#include "cloud/hq/gate.h"
#include "cloud/hq/resource.h"
#include "cloud/hq/resources.h"

namespace accrue::cloud::hq {

class MemberGate {
 public:
  using Handler = std::function<http::Response(Call&)>;

  explicit MemberGate(const HqDeps& deps);
  ~MemberGate();

  void add(http::Router& router, http::bhttp::verb method, std::string pattern, std::string name,
           Handler handler);

 private:
  http::Response pass(const http::Request& req, http::RequestContext& ctx, const Handler& handler);

  const HqDeps& d_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<IdempotencyStore> idempotency_;
};

class MemberApi : public Resource {
 public:
  MemberApi(HqShared& shared, CustomersApi& customers, RewardsApi& rewards)
      : Resource(shared), gate_(shared.d), customers_(customers), rewards_(rewards) {}
  void add_routes(Gate& hq, http::Router& r);

 private:
  // Head office: PUT/DELETE /v1/customers/{id}/login, GET the same.
  http::Response link(Call& call);
  http::Response unlink(Call& call);
  http::Response login(Call& call);

  // Her digital card (member_card.cpp): issued at the first ask, kept until she renews it.
  struct IssuedCard {
    std::string code;
    int64_t issued_at_ms = 0;
    bool issued = false;  // by this call
  };
  Result<IssuedCard> card_of(Call& call, const std::string& id, bool renew,
                             std::optional<http::Response>& refused);
  http::Response card(Call& call, bool renew);
  http::Response card_image(Call& call);

  MemberGate gate_;
  CustomersApi& customers_;
  RewardsApi& rewards_;
};

}  // namespace accrue::cloud::hq
