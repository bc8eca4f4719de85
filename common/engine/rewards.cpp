#include "common/engine/rewards.h"

#include <algorithm>

#include "common/checked.h"

namespace accrue {

namespace {

const CurrencyThreshold* in_currency(const std::vector<CurrencyThreshold>& v, const Currency& c) {
  auto it = std::ranges::find(v, c, &CurrencyThreshold::currency);
  return it == v.end() ? nullptr : &*it;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

Result<void> check_claim(const Reward& r, const ClaimContext& c) {
  if (r.claim_from_ms != 0 && c.now_ms < r.claim_from_ms) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.not_yet",
                   {{"from_ms", std::to_string(r.claim_from_ms)}},
                   "This reward cannot be claimed yet.");
  }
  if (r.claim_until_ms != 0 && c.now_ms >= r.claim_until_ms) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.ended", {},
                   "This reward can no longer be claimed.");
  }
  if (!r.tiers.empty() && !std::ranges::binary_search(r.tiers, c.tier_id)) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.tier", {{"tiers", joined(r.tiers)}},
                   "This reward is for members of another tier.");
  }
  if (!r.segments.empty() && std::ranges::none_of(c.segments, [&](const std::string& s) {
        return std::ranges::binary_search(r.segments, s);
      })) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.segment", {},
                   "This reward is not offered to this member.");
  }
  if (r.per_member_limit != 0 && c.member_coupons >= r.per_member_limit) {
    const std::string limit = std::to_string(r.per_member_limit);
    return refusal(ErrorCode::kFailedPrecondition, "reward.member_limit", {{"limit", limit}},
                   "This reward can be claimed " + limit +
                       (r.per_member_limit == 1 ? " time" : " times") + " per member.");
  }
  if (r.stock != 0 && c.issued >= r.stock) {
    return refusal(ErrorCode::kResourceExhausted, "reward.out_of_stock", {},
                   "This reward is out of stock.");
  }
  if (c.available_points < r.cost_points) {
    const std::string available = std::to_string(std::max<Points>(0, c.available_points));
    return refusal(ErrorCode::kInsufficientPoints, "points.insufficient",
                   {{"available", available}},
                   "Not enough points: " + available + " available, " +
                       std::to_string(r.cost_points) + " needed.");
  }
  return {};
}

Result<CouponEffect> coupon_effect(const Reward& r, const Basket& b) {
  int64_t total = 0;
  for (const auto& l : b.lines) total += l.amount_minor;  // within kMaxAmountMinor (validated)
  if (const auto* min = in_currency(r.min_basket, b.currency); min && total < min->minor_units) {
    return refusal(
        ErrorCode::kFailedPrecondition, "coupon.basket_below_minimum",
        {{"min", std::to_string(min->minor_units)}, {"currency", std::string(b.currency.code())}},
        "This coupon needs a basket of at least " +
            Money(min->minor_units, b.currency).to_string() + ".");
  }
  CouponEffect out{Money(0, b.currency), std::nullopt, 0, {}};
  switch (r.kind) {
    case RewardKind::kFixedDiscount: {
      const auto* amount = in_currency(r.amounts, b.currency);
      if (amount == nullptr) {
        return refusal(ErrorCode::kFailedPrecondition, "coupon.currency",
                       {{"currency", std::string(b.currency.code())}},
                       "This coupon cannot be used in " + std::string(b.currency.code()) + ".");
      }
      out.discount = Money(std::min(amount->minor_units, total), b.currency);
      break;
    }
    case RewardKind::kPercentDiscount: {
      int64_t off = static_cast<int64_t>(static_cast<int128>(total) * r.percent_bp / kOneX);
      if (const auto* cap = in_currency(r.caps, b.currency)) off = std::min(off, cap->minor_units);
      out.discount = Money(off, b.currency);
      break;
    }
    case RewardKind::kFreeItem: {
      // The cheapest whole unit among the listed SKUs; ties go to the lowest line number.
      const BasketLine* best = nullptr;
      int64_t best_unit = 0;
      for (const auto& l : b.lines) {
        if (l.quantity_milli < 1000 || !std::ranges::binary_search(r.skus, l.sku)) continue;
        const auto unit =
            static_cast<int64_t>(static_cast<int128>(l.amount_minor) * 1000 / l.quantity_milli);
        if (best == nullptr || unit < best_unit ||
            (unit == best_unit && l.line_no < best->line_no)) {
          best = &l;
          best_unit = unit;
        }
      }
      if (best == nullptr) {
        return refusal(ErrorCode::kFailedPrecondition, "coupon.item_missing", {},
                       "The basket has none of the items this coupon makes free.");
      }
      out.discount = Money(best_unit, b.currency);
      out.free_line_no = best->line_no;
      break;
    }
    case RewardKind::kPointsMultiplier:
      out.points_multiplier_bp = r.multiplier_bp;
      break;
    case RewardKind::kGift:
      out.gift = r.gift;
      break;
  }
  return out;
}

}  // namespace accrue
