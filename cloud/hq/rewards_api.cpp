// Rewards and coupons (docs/rewards.md): the catalogue of the programme in force with what is
// left of each stock, a claim on a member's behalf, her coupons, and voiding one.
//
// A claim is one transaction: the member's row and the reward's stock row are locked, the
// reward's rules are checked (common/engine/rewards.h), the cost is booked as a head-office
// adjustment (ingestion refuses it when her points do not cover it), and the signed coupon is
// stored. Concurrent claims queue on the stock row, so a stock of K issues exactly K coupons.
#include <boost/json.hpp>
#include <map>

#include "cloud/core/reward_rules.h"
#include "cloud/core/webhooks.h"
#include "cloud/hq/head_office_events.h"
#include "cloud/hq/resources.h"
#include "cloud/hq/segments.h"
#include "cloud/sync/feed.h"
#include "common/civil_time.h"
#include "common/engine/rewards.h"

namespace accrue::cloud::hq {

namespace bhttp = http::bhttp;
namespace json = boost::json;
using http::Problem;

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kMaxBatchCoupons = 10'000;
constexpr const char* kCouponColumns =
    "k.coupon_id::text, k.reward_id, coalesce(k.customer_id, ''), k.status, k.code, "
    "k.cost_points, (extract(epoch FROM k.issued_at)*1000)::bigint, "
    "(extract(epoch FROM k.expires_at)*1000)::bigint, "
    "(extract(epoch FROM k.used_at)*1000)::bigint, coalesce(k.used_store_id, ''), "
    "(extract(epoch FROM k.voided_at)*1000)::bigint, coalesce(k.void_reason, ''), k.program_id, "
    "k.program_version, k.key_id";

json::value time_or_null(const pg::PgResult& r, int row, int col) {
  if (r.is_null(row, col)) return nullptr;
  return json::value(format_utc_iso8601(r.int64(row, col)));
}

json::value text_or_null(const pg::PgResult& r, int row, int col) {
  if (r.text(row, col).empty()) return nullptr;
  return json::value(r.text(row, col));
}

json::object coupon_json(const pg::PgResult& r, int i) {
  return json::object{{"coupon_id", r.text(i, 0)},
                      {"reward_id", r.text(i, 1)},
                      {"customer_id", text_or_null(r, i, 2)},
                      {"status", r.text(i, 3)},
                      {"code", r.text(i, 4)},
                      {"cost_points", r.int64(i, 5)},
                      {"issued_at", format_utc_iso8601(r.int64(i, 6))},
                      {"expires_at", format_utc_iso8601(r.int64(i, 7))},
                      {"used_at", time_or_null(r, i, 8)},
                      {"used_store_id", text_or_null(r, i, 9)},
                      {"voided_at", time_or_null(r, i, 10)},
                      {"void_reason", text_or_null(r, i, 11)},
                      {"program_id", r.text(i, 12)},
                      {"program_version", r.int64(i, 13)},
                      {"key_id", r.int64(i, 14)}};
}

std::string_view kind_name(RewardKind k) {
  switch (k) {
    case RewardKind::kFixedDiscount:
      return "fixed_discount";
    case RewardKind::kPercentDiscount:
      return "percent_discount";
    case RewardKind::kFreeItem:
      return "free_item";
    case RewardKind::kPointsMultiplier:
      return "points_multiplier";
    case RewardKind::kGift:
      return "gift";
  }
  return "gift";
}

json::object reward_json(const Reward& r, int64_t issued) {
  json::array tiers, segments;
  for (const auto& t : r.tiers) tiers.emplace_back(t);
  for (const auto& s : r.segments) segments.emplace_back(s);
  json::object out{{"reward_id", r.reward_id},
                   {"name", r.name},
                   {"kind", kind_name(r.kind)},
                   {"cost_points", r.cost_points},
                   {"tiers", std::move(tiers)},
                   {"segments", std::move(segments)},
                   {"coupon_valid_days", r.coupon_valid_days},
                   {"offline_claimable", r.offline_claimable},
                   {"issued", issued}};
  out["stock"] = r.stock == 0 ? json::value(nullptr) : json::value(r.stock);
  out["stock_left"] = r.stock == 0 ? json::value(nullptr) : json::value(r.stock - issued);
  out["claim_from"] = r.claim_from_ms == 0 ? json::value(nullptr)
                                           : json::value(format_utc_iso8601(r.claim_from_ms));
  out["claim_until"] = r.claim_until_ms == 0 ? json::value(nullptr)
                                             : json::value(format_utc_iso8601(r.claim_until_ms));
  return out;
}

std::string no_reward(const Program& p, const std::string& reward_id) {
  return "no reward " + reward_id + " in programme " + p.program_id + " v" +
         std::to_string(p.version);
}

}  // namespace

void RewardsApi::add_routes(Gate& gate, http::Router& r) {
  using V = bhttp::verb;
  gate.add(r, V::get, "/v1/rewards", "rewards.list", kEveryRole,
           [this](Call& c) { return list(c); });
  gate.add(r, V::get, "/v1/customers/{id}/rewards", "rewards.for_customer", kEveryRole,
           [this](Call& c) { return for_customer(c); });
  gate.add(r, V::post, "/v1/customers/{id}/rewards/{reward_id}/claims", "rewards.claim",
           kCustomerCare, [this](Call& c) { return claim(c); });
  gate.add(r, V::get, "/v1/customers/{id}/coupons", "coupons.list", kEveryRole,
           [this](Call& c) { return coupons(c); });
  gate.add(r, V::post, "/v1/coupons/{id}/void", "coupons.void", kCustomerCare,
           [this](Call& c) { return void_coupon(c); });
  gate.add(r, V::post, "/v1/rewards/{reward_id}/batches", "coupons.batch", kAdminOnly,
           [this](Call& c) { return create_batch(c); });
  gate.add(r, V::get, "/v1/coupon-batches/{id}/codes.csv", "coupons.batch_export", kAdminOnly,
           [this](Call& c) { return batch_codes(c); });
}

Result<void> RewardsApi::in_one_transaction(
    const std::optional<HeadOfficeBatch>& batch,
    const std::function<Result<void>(pg::Connection&)>& before,
    const std::function<Result<void>(pg::Connection&, const sync::v1::EventResult*)>& after) {
  if (batch) {
    ACCRUE_TRY(d_.ingest.apply_head_office(
        batch->batch(),
        [&](pg::Connection& c, const sync::v1::EventBatchResult& r) {
          return after(c, &r.results(0));
        },
        before));
    return {};
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
  return pg::in_transaction(*lease, [&]() -> Result<void> {
    ACCRUE_TRY(before(*lease));
    return after(*lease, nullptr);
  });
}

Result<std::shared_ptr<const PublishedProgram>> RewardsApi::program_in_force() {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, d_.pool.acquire());
  return d_.programs.latest(*lease, d_.clock.now_ms());
}

http::Response RewardsApi::list(Call& call) {
  auto program = program_in_force();
  if (!program) return problem(call, program.error());
  const Program& p = (*program)->program;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto r = (*lease)->query("SELECT reward_id, issued FROM reward_stock WHERE program_id = $1",
                           {pg::Param::text(p.program_id)});
  if (!r) return problem(call, r.error());
  std::map<std::string, int64_t, std::less<>> issued;
  for (int i = 0; i < r->rows(); ++i) issued[std::string(r->text(i, 0))] = r->int64(i, 1);
  json::array items;
  for (const auto& reward : p.rewards) {
    auto it = issued.find(reward.reward_id);
    items.push_back(reward_json(reward, it == issued.end() ? 0 : it->second));
  }
  json::object out{
      {"program_id", p.program_id}, {"program_version", p.version}, {"items", std::move(items)}};
  return http::json(call.req, json::serialize(out));
}

http::Response RewardsApi::for_customer(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  auto status = d_.reads.status(id);
  if (!status) return problem(call, status.error());
  const auto doc = json::parse(status->json).as_object();
  const std::string tier(doc.at("tier").at("id").as_string());
  const int64_t available = doc.at("points").at("available").to_number<int64_t>();
  const bool blocked = doc.at("status").as_string() == "blocked";
  auto program = program_in_force();
  if (!program) return problem(call, program.error());
  const Program& p = (*program)->program;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto counts = (*lease)->query(
      "SELECT s.reward_id, s.issued, coalesce(m.held, 0) FROM reward_stock s LEFT JOIN (SELECT "
      "reward_id, count(*) AS held FROM coupon WHERE customer_id = $2 AND program_id = $1 AND "
      "status <> 'voided' GROUP BY reward_id) m USING (reward_id) WHERE s.program_id = $1",
      {pg::Param::text(p.program_id), pg::Param::text(id)});
  if (!counts) return problem(call, counts.error());
  std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> by_reward;  // issued, hers
  for (int i = 0; i < counts->rows(); ++i) {
    by_reward[std::string(counts->text(i, 0))] = {counts->int64(i, 1), counts->int64(i, 2)};
  }
  json::array items;
  for (const auto& reward : p.rewards) {
    const auto it = by_reward.find(reward.reward_id);
    const auto [issued, hers] =
        it == by_reward.end() ? std::pair<int64_t, int64_t>{0, 0} : it->second;
    auto segments = customer_segments(**lease, id, reward.segments);
    if (!segments) return problem(call, segments.error());
    json::object item{{"reward", reward_json(reward, issued)}, {"coupons_held", hers}};
    auto ok = blocked ? Result<void>(std::unexpected(Error{ErrorCode::kFailedPrecondition,
                                                           "the member is blocked",
                                                           "reward.member_blocked",
                                                           {}}))
                      : check_claim(reward, {tier, *segments, d_.clock.now_ms(), available,
                                             static_cast<uint32_t>(hers), issued});
    item["claimable"] = ok.has_value();
    if (!ok) {
      item["refusal"] =
          json::object{{"message_id", ok.error().message_id}, {"message", ok.error().message}};
    }
    items.push_back(std::move(item));
  }
  json::object out{{"customer_id", id},
                   {"available_points", available},
                   {"program_id", p.program_id},
                   {"program_version", p.version},
                   {"items", std::move(items)}};
  return http::json(call.req, json::serialize(out));
}

http::Response RewardsApi::claim(Call& call, bool by_member) {
  const std::string& id = call.ctx.params.at(0);
  const std::string& reward_id = call.ctx.params.at(1);
  http::Response bad;
  // Head office says why; a member claiming her own reward needs no reason.
  auto reason =
      by_member ? std::optional<std::string>("claimed by the member") : reason_body(call, bad);
  if (!reason) return bad;
  if (d_.coupons == nullptr) {
    return problem(call, Error{ErrorCode::kUnavailable,
                               "rewards cannot be claimed: no coupon key is configured "
                               "(auth.coupon_key_file)"});
  }
  auto member = Uuid::parse(id, "customer_id");
  if (!member) return problem(call, Problem::kNotFound, "no customer " + id);
  auto in_force = program_in_force();
  if (!in_force) return problem(call, in_force.error());
  const PublishedProgram& published = **in_force;
  const Program& program = published.program;
  const Reward* reward = program.reward(reward_id);
  if (reward == nullptr) {
    return problem(call, Problem::kNotFound, no_reward(program, reward_id));
  }
  const TimestampMs now = d_.clock.now_ms();
  const std::string coupon_id = new_id();
  CouponClaims claims;
  claims.coupon_id = *Uuid::parse(coupon_id);
  claims.member_id = *member;
  claims.expires_at_ms = now + static_cast<int64_t>(reward->coupon_valid_days) * kDayMs;
  claims.reward_id = reward->reward_id;
  auto code = d_.coupons->sign(claims);
  if (!code) return problem(call, code.error());

  // What stopped the claim inside the transaction (it is rolled back), answered after it.
  std::optional<http::Response> refused;
  auto refuse = [&](http::Response r) -> Result<void> {
    refused = std::move(r);
    return fail(ErrorCode::kFailedPrecondition, "claim refused");
  };
  // Locks her row and the stock row and checks the reward's rules; her points are ingestion's.
  auto check = [&](pg::Connection& c) -> Result<void> {
    auto ok = check_reward_rules(c, program, *reward, id, now);
    if (ok) return {};
    const Error& e = ok.error();
    if (e.code == ErrorCode::kNotFound) return refuse(problem(call, Problem::kNotFound, e.message));
    if (e.message_id.empty()) return ok;  // the database failed
    if (e.message_id == "reward.out_of_stock") {
      return refuse(problem(call, Problem::kRewardOutOfStock, e.message));
    }
    return refuse(
        problem(call, Problem::kRewardRefused, e.message, {{"message_id", e.message_id}}));
  };
  std::string claim_event_id;
  auto store = [&](pg::Connection& c) -> Result<void> {
    ACCRUE_TRY(c.query(
        "INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, customer_id, "
        "key_id, code, cost_points, claim_event_id, issued_at, issued_by, expires_at) VALUES "
        "($1::uuid, $2, $3::int, $4, $5, $6::bigint, $7, $8::bigint, nullif($9, '')::uuid, "
        "to_timestamp($10::bigint/1000.0), $11, to_timestamp($12::bigint/1000.0))",
        {pg::Param::text(coupon_id), pg::Param::text(program.program_id),
         pg::Param::text(std::to_string(program.version)), pg::Param::text(reward_id),
         pg::Param::text(id), pg::Param::text(std::to_string(d_.coupons->key_id())),
         pg::Param::text(*code), pg::Param::text(std::to_string(reward->cost_points)),
         pg::Param::text(claim_event_id), pg::Param::text(std::to_string(now)),
         pg::Param::text(call.who.subject),
         pg::Param::text(std::to_string(claims.expires_at_ms))}));
    ACCRUE_TRY(c.query(
        "UPDATE reward_stock SET issued = issued + 1 WHERE program_id = $1 AND reward_id = $2",
        {pg::Param::text(program.program_id), pg::Param::text(reward_id)}));
    ACCRUE_TRY(queue_webhook(
        c, "reward.claimed", coupon_id,
        json::serialize(json::object{{"coupon_id", coupon_id},
                                     {"reward_id", reward_id},
                                     {"customer_id", id},
                                     {"cost_points", reward->cost_points},
                                     {"expires_at", format_utc_iso8601(claims.expires_at_ms)}})));
    return audit_change(c, call, "rewards.claim", "customer:" + id,
                        {{"coupon_id", coupon_id},
                         {"reward_id", reward_id},
                         {"cost_points", reward->cost_points},
                         {"reason", *reason}});
  };

  std::optional<HeadOfficeBatch> cost;
  if (reward->cost_points > 0) {
    cost.emplace(published, now);
    claim_event_id = new_id();
    cost->adjustment(claim_event_id, id, -reward->cost_points,
                     "reward " + reward_id + " claimed (coupon " + coupon_id + "): " + *reason,
                     call.who.subject);
  }
  auto done = in_one_transaction(
      cost, check, [&](pg::Connection& c, const sync::v1::EventResult* x) -> Result<void> {
        if (x != nullptr && x->status() != sync::v1::EVENT_STATUS_APPLIED) {
          return refuse(x->reject_code() == "insufficient_points"
                            ? problem(call, Problem::kInsufficientPoints, x->message(),
                                      {{"message_id", "points.insufficient"}})
                            : problem(call, Problem::kRewardRefused, x->message()));
        }
        return store(c);
      });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  after_change(id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto row = (*lease)->query(
      (std::string("SELECT ") + kCouponColumns + " FROM coupon k WHERE k.coupon_id = $1::uuid")
          .c_str(),
      {pg::Param::text(coupon_id)});
  if (!row) return problem(call, row.error());
  auto res = http::json(call.req, json::serialize(coupon_json(*row, 0)), bhttp::status::created);
  res.set(bhttp::field::location,
          by_member ? "/v1/me/coupons" : "/v1/customers/" + id + "/coupons");
  return res;
}

http::Response RewardsApi::coupons(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto who =
      (*lease)->query("SELECT 1 FROM customer WHERE customer_id = $1", {pg::Param::text(id)});
  if (!who) return problem(call, who.error());
  if (who->rows() == 0) return problem(call, Problem::kNotFound, "no customer " + id);
  // Newest first; a member holds few coupons (per-member limits), 500 at most are listed.
  auto r = (*lease)->query((std::string("SELECT ") + kCouponColumns +
                            " FROM coupon k WHERE k.customer_id = $1 "
                            "ORDER BY k.issued_at DESC, k.coupon_id DESC LIMIT 500")
                               .c_str(),
                           {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  json::array items;
  for (int i = 0; i < r->rows(); ++i) items.push_back(coupon_json(*r, i));
  return http::json(call.req, json::serialize(json::object{{"items", std::move(items)}}));
}

// Voids an issued coupon: it can no longer be used, its stock comes back, and a coupon she paid
// points for gives them back (an adjustment in the same transaction).
http::Response RewardsApi::void_coupon(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  http::Response bad;
  auto reason = reason_body(call, bad);
  if (!reason) return bad;
  if (!Uuid::parse(id, "coupon_id")) return problem(call, Problem::kNotFound, "no coupon " + id);
  std::string customer, program_id, reward_id;
  int64_t cost = 0;
  {
    auto lease = d_.pool.acquire();
    if (!lease) return problem(call, lease.error());
    auto r = (*lease)->query(
        "SELECT coalesce(customer_id, ''), program_id, reward_id, cost_points, status FROM coupon "
        "WHERE coupon_id = $1::uuid",
        {pg::Param::text(id)});
    if (!r) return problem(call, r.error());
    if (r->rows() == 0) return problem(call, Problem::kNotFound, "no coupon " + id);
    if (r->text(0, 4) != "issued") {
      return problem(call, Problem::kCouponNotVoidable,
                     "coupon " + id + " is " + std::string(r->text(0, 4)));
    }
    customer = r->text(0, 0);
    program_id = r->text(0, 1);
    reward_id = r->text(0, 2);
    cost = r->int64(0, 3);
  }
  const TimestampMs now = d_.clock.now_ms();
  std::optional<http::Response> refused;
  std::string refund_event_id;
  // The locks a claim takes, in its order (her row, then the stock row), so that a claim and a
  // void of the same reward never wait for each other crosswise.
  auto lock = [&](pg::Connection& c) -> Result<void> {
    if (!customer.empty()) {
      ACCRUE_TRY(c.query("SELECT 1 FROM customer WHERE customer_id = $1 FOR UPDATE",
                         {pg::Param::text(customer)}));
    }
    ACCRUE_TRY(lock_reward_stock(c, program_id, reward_id));
    return {};
  };
  // Under the lock of the coupon's row: still issued, or someone else got there first.
  auto mark = [&](pg::Connection& c) -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query("UPDATE coupon SET status = 'voided', voided_at = "
                        "to_timestamp($2::bigint/1000.0), voided_by = $3, void_reason = $4, "
                        "void_event_id = nullif($5, '')::uuid WHERE coupon_id = $1::uuid AND "
                        "status = 'issued' RETURNING 1",
                        {pg::Param::text(id), pg::Param::text(std::to_string(now)),
                         pg::Param::text(call.who.subject), pg::Param::text(*reason),
                         pg::Param::text(refund_event_id)}));
    if (r.rows() == 0) {
      refused = problem(call, Problem::kCouponNotVoidable, "coupon " + id + " is no longer issued");
      return fail(ErrorCode::kFailedPrecondition, "not voidable");
    }
    ACCRUE_TRY(c.query(
        "UPDATE reward_stock SET issued = issued - 1 WHERE program_id = $1 AND reward_id = $2",
        {pg::Param::text(program_id), pg::Param::text(reward_id)}));
    json::object voided{{"coupon_id", id},
                        {"reward_id", reward_id},
                        {"points_back", customer.empty() ? 0 : cost},
                        {"reason", *reason}};
    voided["customer_id"] = customer.empty() ? json::value(nullptr) : json::value(customer);
    ACCRUE_TRY(queue_webhook(c, "coupon.voided", id, json::serialize(voided)));
    ACCRUE_TRY(feed_coupon_changed(c, id));  // every store refuses it from its next sync
    return audit_change(c, call, "coupons.void", "coupon:" + id,
                        {{"customer_id", customer}, {"points_back", cost}, {"reason", *reason}});
  };
  std::optional<HeadOfficeBatch> refund;
  std::shared_ptr<const PublishedProgram> in_force;
  if (cost > 0 && !customer.empty()) {
    auto latest = program_in_force();
    if (!latest) return problem(call, latest.error());
    in_force = *latest;
    refund.emplace(*in_force, now);
    refund_event_id = new_id();
    refund->adjustment(refund_event_id, customer, cost, "coupon " + id + " voided: " + *reason,
                       call.who.subject);
  }
  auto done = in_one_transaction(
      refund, lock, [&](pg::Connection& c, const sync::v1::EventResult* x) -> Result<void> {
        if (x != nullptr && x->status() != sync::v1::EVENT_STATUS_APPLIED) {
          refused = problem(call, Problem::kAdjustmentRefused, x->message());
          return fail(ErrorCode::kFailedPrecondition, "refund refused");
        }
        return mark(c);
      });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  if (!customer.empty()) after_change(customer);
  return one(
      call, std::string("SELECT ") + kCouponColumns + " FROM coupon k WHERE k.coupon_id = $1::uuid",
      id, coupon_json, "coupon");
}

// A campaign batch: `count` bearer coupons of the reward (no member named: whoever shows one may
// use it, once), free, within the reward's claim window and stock, in one transaction.
http::Response RewardsApi::create_batch(Call& call) {
  const std::string& reward_id = call.ctx.params.at(0);
  http::Response bad;
  auto body = json_body(call, bad);
  if (!body) return bad;
  FieldErrors errors;
  ObjectReader in(*body, errors);
  auto count = in.integer("count", {.required = true, .min = 1, .max = kMaxBatchCoupons});
  auto reason = in.string("reason", {.required = true, .min = 1, .max = 500});
  in.finish();
  if (!errors.empty()) return invalid(call, errors);
  if (d_.coupons == nullptr) {
    return problem(call, Error{ErrorCode::kUnavailable,
                               "coupons cannot be made: no coupon key is configured "
                               "(auth.coupon_key_file)"});
  }
  auto in_force = program_in_force();
  if (!in_force) return problem(call, in_force.error());
  const Program& program = (*in_force)->program;
  const Reward* reward = program.reward(reward_id);
  if (reward == nullptr) {
    return problem(call, Problem::kNotFound, no_reward(program, reward_id));
  }
  const TimestampMs now = d_.clock.now_ms();
  const TimestampMs expires = now + static_cast<int64_t>(reward->coupon_valid_days) * kDayMs;
  // Signed before the transaction (tens of microseconds each); ids and codes are array literals
  // of UUIDs and base32, which need no quoting.
  std::string ids = "{", codes = "{";
  for (int64_t i = 0; i < *count; ++i) {
    const std::string coupon_id = new_id();
    CouponClaims claims;
    claims.coupon_id = *Uuid::parse(coupon_id);
    claims.expires_at_ms = expires;
    claims.reward_id = reward->reward_id;
    auto code = d_.coupons->sign(claims);
    if (!code) return problem(call, code.error());
    ids += (i == 0 ? "" : ",") + coupon_id;
    codes += (i == 0 ? "" : ",") + *code;
  }
  ids += "}";
  codes += "}";
  const std::string batch_id = new_id();
  std::optional<http::Response> refused;
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  pg::Connection& c = **lease;
  auto done = pg::in_transaction(c, [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(const int64_t issued,
                            lock_reward_stock(c, program.program_id, reward_id));
    if (reward->claim_until_ms != 0 && now >= reward->claim_until_ms) {
      refused = problem(call, Problem::kRewardRefused, "This reward can no longer be claimed.",
                        {{"message_id", "reward.ended"}});
      return fail(ErrorCode::kFailedPrecondition, "ended");
    }
    if (reward->stock != 0 && issued + *count > reward->stock) {
      refused = problem(call, Problem::kRewardOutOfStock,
                        "the reward's stock has " + std::to_string(reward->stock - issued) +
                            " coupons left, " + std::to_string(*count) + " asked");
      return fail(ErrorCode::kFailedPrecondition, "stock");
    }
    ACCRUE_TRY(
        c.query("INSERT INTO coupon_batch (batch_id, program_id, reward_id, count, expires_at, "
                "created_at, created_by, reason) VALUES ($1::uuid, $2, $3, $4::int, "
                "to_timestamp($5::bigint/1000.0), to_timestamp($6::bigint/1000.0), $7, $8)",
                {pg::Param::text(batch_id), pg::Param::text(program.program_id),
                 pg::Param::text(reward_id), pg::Param::text(std::to_string(*count)),
                 pg::Param::text(std::to_string(expires)), pg::Param::text(std::to_string(now)),
                 pg::Param::text(call.who.subject), pg::Param::text(*reason)}));
    ACCRUE_TRY(c.query(
        "INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, key_id, code, "
        "issued_at, issued_by, expires_at, batch_id) SELECT x.id, $2, $3::int, $4, $5::bigint, "
        "x.code, to_timestamp($6::bigint/1000.0), $7, to_timestamp($8::bigint/1000.0), "
        "$9::uuid FROM unnest($1::uuid[], $10::text[]) AS x(id, code)",
        {pg::Param::text(ids), pg::Param::text(program.program_id),
         pg::Param::text(std::to_string(program.version)), pg::Param::text(reward_id),
         pg::Param::text(std::to_string(d_.coupons->key_id())),
         pg::Param::text(std::to_string(now)), pg::Param::text(call.who.subject),
         pg::Param::text(std::to_string(expires)), pg::Param::text(batch_id),
         pg::Param::text(codes)}));
    ACCRUE_TRY(
        c.query("UPDATE reward_stock SET issued = issued + $3::bigint WHERE program_id = $1 AND "
                "reward_id = $2",
                {pg::Param::text(program.program_id), pg::Param::text(reward_id),
                 pg::Param::text(std::to_string(*count))}));
    return audit_change(c, call, "coupons.batch", "reward:" + reward_id,
                        {{"batch_id", batch_id}, {"count", *count}, {"reason", *reason}});
  });
  if (refused) return std::move(*refused);
  if (!done) return problem(call, done.error());
  json::object out{{"batch_id", batch_id},
                   {"reward_id", reward_id},
                   {"count", *count},
                   {"expires_at", format_utc_iso8601(expires)},
                   {"created_by", call.who.subject},
                   {"created_at", format_utc_iso8601(now)},
                   {"codes", "/v1/coupon-batches/" + batch_id + "/codes.csv"}};
  auto res = http::json(call.req, json::serialize(out), bhttp::status::created);
  res.set(bhttp::field::location, "/v1/coupon-batches/" + batch_id + "/codes.csv");
  return res;
}

// The batch's codes as CSV (coupon_id,code,status,expires_at), for the campaign's printer or
// mailer. A batch is at most kMaxBatchCoupons rows: answered whole.
http::Response RewardsApi::batch_codes(Call& call) {
  const std::string& id = call.ctx.params.at(0);
  if (!Uuid::parse(id, "batch_id")) return problem(call, Problem::kNotFound, "no batch " + id);
  auto lease = d_.pool.acquire();
  if (!lease) return problem(call, lease.error());
  auto batch = (*lease)->query("SELECT 1 FROM coupon_batch WHERE batch_id = $1::uuid",
                               {pg::Param::text(id)});
  if (!batch) return problem(call, batch.error());
  if (batch->rows() == 0) return problem(call, Problem::kNotFound, "no batch " + id);
  auto r = (*lease)->query(
      "SELECT coupon_id::text, code, status, (extract(epoch FROM expires_at)*1000)::bigint FROM "
      "coupon WHERE batch_id = $1::uuid ORDER BY coupon_id",
      {pg::Param::text(id)});
  if (!r) return problem(call, r.error());
  std::string csv = "coupon_id,code,status,expires_at\n";
  for (int i = 0; i < r->rows(); ++i) {
    csv += std::string(r->text(i, 0)) + "," + std::string(r->text(i, 1)) + "," +
           std::string(r->text(i, 2)) + "," + format_utc_iso8601(r->int64(i, 3)) + "\n";
  }
  auto res = http::bytes(call.req, std::move(csv), "text/csv; charset=utf-8");
  res.set(bhttp::field::content_disposition, "attachment; filename=\"coupons-" + id + ".csv\"");
  return res;
}

}  // namespace accrue::cloud::hq
