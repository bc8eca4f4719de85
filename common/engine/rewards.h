// Rewards and coupons in the domain core: who may claim a reward of the catalogue, and what the
// coupon a claim issues does to a basket. The agent and the cloud both call these, so a till
// and the cloud agree (golden vectors: tests/vectors/rewards.json). Refusals carry a message id
// for the till's own words (proto/README.md).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/engine/basket.h"
#include "common/error.h"
#include "common/money.h"
#include "common/program.h"

namespace accrue {

// What a claim is judged on, as of `now_ms`.
struct ClaimContext {
  std::string_view tier_id;               // the member's
  std::span<const std::string> segments;  // the segment ids the member belongs to
  TimestampMs now_ms = 0;
  Points available_points = 0;
  uint32_t member_coupons = 0;  // of this reward, held or used by the member (voided ones not)
  int64_t issued = 0;           // of this reward, issued chain-wide (voided ones not)
};

// Whether the member may claim `reward` now. Refusals, checked in this order: reward.not_yet,
// reward.ended (the claim window), reward.tier, reward.segment, reward.member_limit,
// reward.out_of_stock, points.insufficient (the cost).
Result<void> check_claim(const Reward& reward, const ClaimContext& context);

// What a coupon of `reward` does to `basket`.
struct CouponEffect {
  Money discount;                        // off the basket, in its currency; 0 when none
  std::optional<uint32_t> free_line_no;  // kFreeItem: the line one unit of which is free
  int64_t points_multiplier_bp = 0;      // kPointsMultiplier: multiplies the basket's points
  std::string gift;                      // kGift: what the cashier hands over
};

// The effect on a valid basket (validate_basket). A discount never exceeds the basket's total.
// Refusals: coupon.basket_below_minimum (min_basket in the basket's currency),
// coupon.currency (a fixed discount with no amount in the basket's currency),
// coupon.item_missing (a free item none of whose SKUs is in the basket, as a whole unit).
Result<CouponEffect> coupon_effect(const Reward& reward, const Basket& basket);

}  // namespace accrue
