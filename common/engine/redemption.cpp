#include "common/engine/redemption.h"

#include "common/checked.h"
#include "common/civil_time.h"

namespace accrue {
namespace {

Result<void> check_points(const RedemptionPolicy& p, Points points) {
  if (points < p.min_points) {
    return fail(ErrorCode::kOutOfRange,
                "redeem at least " + std::to_string(p.min_points) + " points");
  }
  if (p.max_points > 0 && points > p.max_points) {
    return fail(ErrorCode::kOutOfRange,
                "redeem at most " + std::to_string(p.max_points) + " points at once");
  }
  if (p.step_points > 0 && points % p.step_points != 0) {
    return fail(ErrorCode::kOutOfRange,
                "redeem in steps of " + std::to_string(p.step_points) + " points");
  }
  return {};
}

Result<const RedemptionRate*> rate_for(const RedemptionPolicy& p, const Currency& c,
                                       std::string_view country) {
  if (const auto* r = detail::rate_in(p.rates, c, country)) return r;
  return fail(ErrorCode::kFailedPrecondition,
              "points cannot be redeemed in " + std::string(c.code()) +
                  (country.empty() ? "" : " in " + std::string(country)));
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
  auto refuse = [](OfflineRefusal r, std::string msg) {
    return OfflineDecision{false, r, std::move(msg)};
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
                      std::to_string(l.max_hours_since_sync) + " hours.");
  }
  if (c.points > l.max_points_per_redemption) {
    return refuse(OfflineRefusal::kPerRedemptionLimit,
                  "While offline, at most " + std::to_string(l.max_points_per_redemption) +
                      " points can be redeemed at once.");
  }
  if (c.customer_redeemed_today + c.points > l.max_points_per_customer_per_day) {
    Points left =
        std::max<Points>(0, l.max_points_per_customer_per_day - c.customer_redeemed_today);
    return refuse(
        OfflineRefusal::kCustomerDailyLimit,
        "While offline, this member can redeem " + std::to_string(left) + " more points today.");
  }
  if (c.store_outstanding + c.points > l.max_store_outstanding_points) {
    return refuse(OfflineRefusal::kStoreLiabilityLimit,
                  "The store's offline redemption limit is reached; try again when online.");
  }
  return OfflineDecision{true, OfflineRefusal::kNone, {}};
}

}  // namespace accrue
