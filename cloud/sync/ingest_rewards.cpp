// Rewards claimed at tills in ingestion (sync.proto, RewardClaim; docs/rewards.md, "Claims at the
// till"). apply_reward_claim (ingest_events.cpp) deducted the cost; here each claim's coupon is
// signed and stored under the id the store chose, with the claim's event as what paid for it, and
// the reward's stock counts it. A claim is written once: a coupon id already stored (a claim seen
// before under another event) is left as it is.
#include "cloud/core/reward_rules.h"
#include "cloud/core/webhooks.h"
#include "cloud/sync/ingest_parts.h"
#include "common/civil_time.h"

namespace accrue::cloud::ingest {

namespace json = boost::json;

namespace {

std::string text_of(const json::object& row, std::string_view key) {
  const auto* v = row.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t int_of(const json::object& row, std::string_view key) {
  const auto* v = row.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

Result<void> write_reward_claims(pg::Connection& c, const json::array& rows,
                                 const CouponSigner* signer) {
  for (const auto& v : rows) {
    const auto& row = v.as_object();
    const std::string coupon_id = text_of(row, "coupon_id");
    const std::string customer_id = text_of(row, "customer_id");
    const std::string reward_id = text_of(row, "reward_id");
    const std::string program_id = text_of(row, "program_id");
    const int64_t expires_at = int_of(row, "expires_at_ms");
    std::string code;
    uint32_t key_id = 0;
    if (signer != nullptr) {
      CouponClaims claims;
      ACCRUE_ASSIGN_OR_RETURN(claims.coupon_id, Uuid::parse(coupon_id, "coupon_id"));
      ACCRUE_ASSIGN_OR_RETURN(auto member, Uuid::parse(customer_id, "customer_id"));
      claims.member_id = member;
      claims.expires_at_ms = expires_at;
      claims.reward_id = reward_id;
      ACCRUE_ASSIGN_OR_RETURN(code, signer->sign(claims));
      key_id = signer->key_id();
    }
    ACCRUE_ASSIGN_OR_RETURN(const int64_t issued, lock_reward_stock(c, program_id, reward_id));
    const std::string store_id = text_of(row, "store_id");
    const std::string till_id = text_of(row, "till_id");
    ACCRUE_ASSIGN_OR_RETURN(
        auto stored,
        c.query("INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, "
                "customer_id, key_id, code, cost_points, claim_event_id, issued_at, issued_by, "
                "expires_at) VALUES ($1::uuid, $2, $3::int, $4, $5, $6::bigint, $7, $8::bigint, "
                "$9::uuid, to_timestamp($10::bigint/1000.0), $11, "
                "to_timestamp($12::bigint/1000.0)) ON CONFLICT (coupon_id) DO NOTHING RETURNING 1",
                {pg::Param::text(coupon_id), pg::Param::text(program_id),
                 pg::Param::text(std::to_string(int_of(row, "program_version"))),
                 pg::Param::text(reward_id), pg::Param::text(customer_id),
                 pg::Param::text(std::to_string(key_id)), pg::Param::text(code),
                 pg::Param::text(std::to_string(int_of(row, "cost_points"))),
                 pg::Param::text(text_of(row, "event_id")),
                 pg::Param::text(std::to_string(int_of(row, "occurred_at_ms"))),
                 pg::Param::text("store:" + store_id + "/" + till_id),
                 pg::Param::text(std::to_string(expires_at))}));
    if (stored.rows() == 0) continue;
    ACCRUE_TRY(c.query(
        "UPDATE reward_stock SET issued = issued + 1 WHERE program_id = $1 AND reward_id = $2",
        {pg::Param::text(program_id), pg::Param::text(reward_id)}));
    const int64_t stock = int_of(row, "stock");
    json::object data{
        {"coupon_id", coupon_id},       {"reward_id", reward_id},
        {"customer_id", customer_id},   {"cost_points", int_of(row, "cost_points")},
        {"store_id", store_id},         {"till_id", till_id},
        {"offline", row.at("offline")}, {"expires_at", format_utc_iso8601(expires_at)}};
    // A store offline may pass the stock: the coupon is issued all the same (the member has it).
    if (stock > 0 && issued >= stock) data["beyond_stock"] = true;
    ACCRUE_TRY(queue_webhook(c, "reward.claimed", coupon_id, json::serialize(data)));
  }
  return {};
}

}  // namespace accrue::cloud::ingest
