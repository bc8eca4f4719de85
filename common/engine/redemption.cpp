#include "common/engine/redemption.h"

#include <algorithm>
#include <utility>

#include "common/checked.h"
#include "common/civil_time.h"

namespace accrue {
namespace {

Result<void> check_points(const RedemptionPolicy& p, Points points) {
  if (points < p.min_points) {
    return refusal(ErrorCode::kOutOfRange, "redeem.below_minimum",
                   {{"min", std::to_string(p.min_points)}},
                   "Redeem at least " + std::to_string(p.min_points) + " points.");
  }
  if (p.max_points > 0 && points > p.max_points) {
    return refusal(ErrorCode::kOutOfRange, "redeem.above_maximum",
                   {{"max", std::to_string(p.max_points)}},
                   "Redeem at most " + std::to_string(p.max_points) + " points at once.");
  }
  if (p.step_points > 0 && points % p.step_points != 0) {
    return refusal(ErrorCode::kOutOfRange, "redeem.off_step",
                   {{"step", std::to_string(p.step_points)}},
                   "Redeem in steps of " + std::to_string(p.step_points) + " points.");
  }
  return {};
}

Result<const RedemptionRate*> rate_for(const RedemptionPolicy& p, const Currency& c,
                                       std::string_view country) {
  if (const auto* r = detail::rate_in(p.rates, c, country)) return r;
  return refusal(ErrorCode::kFailedPrecondition, "redeem.no_rate",
                 {{"currency", std::string(c.code())}},
                 "Points cannot be redeemed in " + std::string(c.code()) +
                     (country.empty() ? "" : " in " + std::string(country)) + ".");
}

Result<void> check_value_bp(int64_t value_bp) {
  if (value_bp < kOneX || value_bp > kMaxRedemptionValueBp) {
    return fail(ErrorCode::kInvalidArgument, "a tier's redemption value is out of range");
  }
  return {};
}

}  // namespace

int64_t tier_redemption_value_bp(const Program& program, std::string_view tier_id) {
  for (const auto& t : program.tiers.ladder) {
    if (t.tier_id == tier_id) return t.redemption_value_bp;
  }
  return kOneX;
}

Result<Money> redemption_value(const RedemptionPolicy& policy, const Currency& currency,
                               Points points, std::string_view country, int64_t value_bp) {
  ACCRUE_ASSIGN_OR_RETURN(auto rate, rate_for(policy, currency, country));
  ACCRUE_TRY(check_points(policy, points));
  ACCRUE_TRY(check_value_bp(value_bp));
  auto value = narrow(static_cast<int128>(points) * rate->value_minor_units * value_bp /
                      (static_cast<int128>(rate->points) * kOneX));
  if (!value) return fail(ErrorCode::kOverflow, "redemption value too large");
  return Money(*value, currency);
}

Result<Points> points_for_discount(const RedemptionPolicy& policy, const Money& discount,
                                   std::string_view country, int64_t value_bp) {
  ACCRUE_ASSIGN_OR_RETURN(auto rate, rate_for(policy, discount.currency(), country));
  if (discount.minor_units() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "discount: must be positive");
  }
  ACCRUE_TRY(check_value_bp(value_bp));
  int128 points = ceil_div(static_cast<int128>(discount.minor_units()) * rate->points * kOneX,
                           static_cast<int128>(rate->value_minor_units) * value_bp);
  if (policy.step_points > 0) points = ceil_div(points, policy.step_points) * policy.step_points;
  auto p = narrow(points);
  if (!p || *p > kMaxPoints) return fail(ErrorCode::kOverflow, "discount too large");
  ACCRUE_TRY(check_points(policy, *p));
  return *p;
}

std::optional<RedemptionOffer> redemption_offer(const RedemptionPolicy& policy,
                                                const Currency& currency, Points available,
                                                Points limit, std::string_view country,
                                                int64_t value_bp) {
  auto rate = rate_for(policy, currency, country);
  if (!rate || !check_value_bp(value_bp) || (*rate)->points <= 0) return std::nullopt;
  Points most = available;
  if (limit > 0) most = std::min(most, limit);
  if (policy.max_points > 0) most = std::min(most, policy.max_points);
  if (policy.step_points > 0) most = most / policy.step_points * policy.step_points;
  if (most <= 0 || most < policy.min_points) return std::nullopt;
  auto value = redemption_value(policy, currency, most, country, value_bp);
  if (!value) return std::nullopt;
  // value_minor_units * value_bp / (points * kOneX), both below 2^63 (value_bp is at most
  // kMaxRedemptionValueBp), in lowest terms.
  const int128 num = static_cast<int128>((*rate)->value_minor_units) * value_bp;
  const int128 den = static_cast<int128>((*rate)->points) * kOneX;
  int128 a = num, b = den;
  while (b != 0) a = std::exchange(b, a % b);
  auto n = narrow(num / a), d = narrow(den / a);
  if (!n || !d) return std::nullopt;
  return RedemptionOffer{most, *value, policy.min_points, policy.step_points, *n, *d};
}

std::string_view to_string(OfflineRefusal refusal) {
  switch (refusal) {
    case OfflineRefusal::kNone:
      return "none";
    case OfflineRefusal::kDisabled:
      return "offline_disabled";
    case OfflineRefusal::kNeverSynced:
      return "never_synced";
    case OfflineRefusal::kSyncTooOld:
      return "sync_too_old";
    case OfflineRefusal::kPerRedemptionLimit:
      return "per_redemption_limit";
    case OfflineRefusal::kCustomerDailyLimit:
      return "customer_daily_limit";
    case OfflineRefusal::kStoreLiabilityLimit:
      return "store_liability_limit";
  }
  return "none";
}

OfflineDecision decide_offline_redemption(const OfflineLimits& l,
                                          const OfflineRedemptionContext& c) {
  auto refuse = [](OfflineRefusal r, std::string msg,
                   std::vector<std::pair<std::string, std::string>> params = {}) {
    return OfflineDecision{false, r, std::move(msg), std::move(params)};
  };
  if (l.max_points_per_redemption <= 0 || l.max_points_per_customer_per_day <= 0 ||
      l.max_store_outstanding_points <= 0 || l.max_hours_since_sync == 0) {
    return refuse(OfflineRefusal::kDisabled,
                  "Points cannot be redeemed while the store is offline.");
  }
  if (!c.last_sync_ms) {
    return refuse(OfflineRefusal::kNeverSynced,
                  "Offline redemption is not possible: this store has not synced yet.");
  }
  const int64_t age = c.now_ms - *c.last_sync_ms;
  if (age > static_cast<int64_t>(l.max_hours_since_sync) * kMsPerHour) {
    return refuse(OfflineRefusal::kSyncTooOld,
                  "Offline redemption is not possible: the store has been offline for more than " +
                      std::to_string(l.max_hours_since_sync) + " hours.",
                  {{"hours", std::to_string(l.max_hours_since_sync)}});
  }
  if (c.points > l.max_points_per_redemption) {
    return refuse(OfflineRefusal::kPerRedemptionLimit,
                  "While offline, at most " + std::to_string(l.max_points_per_redemption) +
                      " points can be redeemed at once.",
                  {{"max", std::to_string(l.max_points_per_redemption)}});
  }
  if (c.customer_redeemed_today + c.points > l.max_points_per_customer_per_day) {
    Points left =
        std::max<Points>(0, l.max_points_per_customer_per_day - c.customer_redeemed_today);
    return refuse(
        OfflineRefusal::kCustomerDailyLimit,
        "While offline, this member can redeem " + std::to_string(left) + " more points today.",
        {{"left", std::to_string(left)}});
  }
  if (c.store_outstanding + c.points > l.max_store_outstanding_points) {
    return refuse(OfflineRefusal::kStoreLiabilityLimit,
                  "The store's offline redemption limit is reached; try again when online.");
  }
  return OfflineDecision{true, OfflineRefusal::kNone, {}};
}

Points offline_redemption_headroom(const OfflineLimits& l, const OfflineRedemptionContext& c) {
  OfflineRedemptionContext probe = c;
  probe.points = 0;
  if (!decide_offline_redemption(l, probe).allowed) return 0;
  return std::max<Points>(0,
                          std::min({l.max_points_per_redemption,
                                    l.max_points_per_customer_per_day - c.customer_redeemed_today,
                                    l.max_store_outstanding_points - c.store_outstanding}));
}

}  // namespace accrue
