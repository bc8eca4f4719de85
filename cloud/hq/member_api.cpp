#include "cloud/hq/member_api.h"

#include <boost/json.hpp>

#include "cloud/http/problems.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

MemberGate::MemberGate(const HqDeps& deps)
    : d_(deps),
      limiter_(std::make_unique<RateLimiter>(deps.redis,
                                             deps.config.cache_key_prefix + "member:", deps.clock)),
      idempotency_(std::make_unique<IdempotencyStore>(
          deps.redis, deps.config.cache_key_prefix + "member:",
          std::chrono::seconds(deps.config.hq_idempotency_ttl_s))) {}

MemberGate::~MemberGate() = default;

void MemberGate::add(http::Router& router, bhttp::verb method, std::string pattern,
                     std::string name, Handler handler) {
  router.add(
      method, std::move(pattern), std::move(name),
      [this, handler = std::move(handler)](const http::Request& req, http::RequestContext& ctx) {
        return pass(req, ctx, handler);
      });
}

http::Response MemberGate::pass(const http::Request& req, http::RequestContext& ctx,
                                const Handler& handler) {
  if (d_.members == nullptr) {
    return unauthenticated(req, ctx, "member sign-in is not configured on this server");
  }
  auto h = req[bhttp::field::authorization];
  if (!h.starts_with("Bearer ")) return unauthenticated(req, ctx, "a bearer token is required");
  auto token = d_.members->verify(h.substr(7));
  if (!token) {
    if (token.error().code == ErrorCode::kUnavailable)
      return http::problem(req, ctx, token.error());
    return unauthenticated(req, ctx, token.error().message);
  }
  if (token->subject.empty() || token->subject.size() > 255) {
    return unauthenticated(req, ctx, "the token names no subject");
  }
  auto lease = d_.pool.acquire();
  if (!lease) return http::problem(req, ctx, lease.error());
  auto linked = (*lease)->query(
      "SELECT l.customer_id FROM member_login l JOIN customer c USING (customer_id) WHERE "
      "l.issuer = $1 AND l.subject = $2",
      {pg::Param::text(d_.config.member_issuer), pg::Param::text(token->subject)});
  if (!linked) return http::problem(req, ctx, linked.error());
  if (linked->rows() == 0) {
    return http::problem(req, ctx, Problem::kForbidden,
                         "this sign-in is not linked to a member of the programme");
  }
  const std::string customer_id(linked->text(0, 0));
  // Her id first, as head office's routes have it in their path: the request names nobody.
  ctx.params.insert(ctx.params.begin(), customer_id);
  Call call{req, ctx, auth::Principal{"member:" + customer_id, {}}};
  return admitted(
      *limiter_, *idempotency_, call,
      {d_.config.member_rate_limit_per_minute, d_.config.member_write_rate_limit_per_minute},
      handler);
}

void MemberApi::add_routes(Gate& hq, http::Router& r) {
  using V = bhttp::verb;
  using Read = CustomersApi::Read;
  gate_.add(r, V::get, "/v1/me", "me.profile",
            [this](Call& c) { return customers_.read(c, Read::kProfile); });
  gate_.add(r, V::get, "/v1/me/status", "me.status",
            [this](Call& c) { return customers_.read(c, Read::kStatus); });
  gate_.add(r, V::get, "/v1/me/transactions", "me.transactions",
            [this](Call& c) { return customers_.read(c, Read::kTransactions); });
  gate_.add(r, V::get, "/v1/me/rewards", "me.rewards",
            [this](Call& c) { return rewards_.for_customer(c); });
  gate_.add(r, V::post, "/v1/me/rewards/{reward_id}/claims", "me.claim",
            [this](Call& c) { return rewards_.claim(c, true); });
  gate_.add(r, V::get, "/v1/me/coupons", "me.coupons",
            [this](Call& c) { return rewards_.coupons(c); });
  gate_.add(r, V::get, "/v1/me/details", "me.details",
            [this](Call& c) { return customers_.details(c); });
  gate_.add(r, V::patch, "/v1/me/details", "me.patch",
            [this](Call& c) { return customers_.patch(c, CustomersApi::By::kMember); });
  gate_.add(r, V::get, "/v1/me/card", "me.card", [this](Call& c) { return card(c, false); });
  gate_.add(r, V::post, "/v1/me/card/renewal", "me.renew_card",
            [this](Call& c) { return card(c, true); });
  gate_.add(r, V::get, "/v1/me/card/{symbology}", "me.card_image",
            [this](Call& c) { return card_image(c); });
  hq.add(r, V::get, "/v1/customers/{id}/login", "customers.login", kCustomerCare,
         [this](Call& c) { return login(c); });
  hq.add(r, V::put, "/v1/customers/{id}/login", "customers.link_login", kCustomerCare,
         [this](Call& c) { return link(c); });
  hq.add(r, V::delete_, "/v1/customers/{id}/login", "customers.unlink_login", kCustomerCare,
         [this](Call& c) { return unlink(c); });
}

namespace {

json::object login_json(const pg::PgResult& r, int row) {
  return json::object{{"customer_id", std::string(r.text(row, 0))},
                      {"issuer", std::string(r.text(row, 1))},
                      {"subject", std::string(r.text(row, 2))},
                      {"linked_at", std::string(r.text(row, 3))},
                      {"linked_by", std::string(r.text(row, 4))}};
}

constexpr const char* kLoginColumns =
    "customer_id, issuer, subject, to_char(linked_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), linked_by";

}  // namespace

http::Response MemberApi::login(Call& call) {
  return one(call,
             std::string("SELECT ") + kLoginColumns + " FROM member_login WHERE customer_id = $1",
             call.ctx.params.at(0), login_json, "sign-in linked to customer");
}

http::Response MemberApi::link(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  if (d_.members == nullptr) {
    return problem(call, Error{ErrorCode::kUnavailable,
                               "member sign-in is not configured (member_auth.issuer)"});
  }
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto subject = in.string("subject", {.required = true, .min = 1, .max = 255});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (!errors.empty()) return invalid(call, errors);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  std::optional<http::Response> refused;
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto member,
                            c.query("SELECT status FROM customer WHERE customer_id = $1 FOR UPDATE",
                                    {pg::Param::text(id)}));
    if (member.rows() == 0) {
      refused = problem(call, Problem::kNotFound, "no customer " + id);
      return fail(ErrorCode::kNotFound, "no customer");
    }
    ACCRUE_ASSIGN_OR_RETURN(
        auto taken, c.query("SELECT customer_id FROM member_login WHERE issuer = $1 AND "
                            "subject = $2 AND customer_id <> $3",
                            {pg::Param::text(d_.config.member_issuer), pg::Param::text(*subject),
                             pg::Param::text(id)}));
    if (taken.rows() > 0) {
      refused = problem(call, Problem::kLoginTaken,
                        "this sign-in is linked to another member; unlink it there first");
      return fail(ErrorCode::kConflict, "taken");
    }
    ACCRUE_TRY(c.query(
        "INSERT INTO member_login (issuer, subject, customer_id, linked_by) VALUES ($1, $2, $3, "
        "$4) ON CONFLICT (customer_id, issuer) DO UPDATE SET subject = excluded.subject, "
        "linked_at = now(), linked_by = excluded.linked_by",
        {pg::Param::text(d_.config.member_issuer), pg::Param::text(*subject), pg::Param::text(id),
         pg::Param::text(call.who.subject)}));
    return audit_change(c, call, "customers.link_login", "customer:" + id,
                        {{"issuer", d_.config.member_issuer}, {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  return login(call);
}

http::Response MemberApi::unlink(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  bool gone = false;
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto removed,
                            c.query("DELETE FROM member_login WHERE customer_id = $1 RETURNING 1",
                                    {pg::Param::text(id)}));
    gone = removed.rows() > 0;
    if (!gone) return {};
    return audit_change(c, call, "customers.unlink_login", "customer:" + id, {{"reason", *reason}});
  });
  if (!done) return problem(call, done.error());
  if (!gone) return problem(call, Problem::kNotFound, "no sign-in linked to customer " + id);
  return no_content(call);
}

}  // namespace accrue::cloud::hq
