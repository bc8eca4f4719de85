// Redemption: points <-> money at the program's rate, and the decision whether a store may grant
// a redemption while it cannot reach the cloud.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/money.h"
#include "common/program.h"

namespace accrue {

// The discount `points` buy in `currency` (rounded down to the minor unit). Errors:
// kFailedPrecondition without a rate for the currency; kOutOfRange below the minimum, above the
// maximum or off the step ("redeem in steps of 100 points").
// `country`: the store's, for per-country rates (see EarnRate). `value_bp`: the member's tier's
// worth of a point against the rate (tier_redemption_value_bp; kOneX: the rate as it is).
Result<Money> redemption_value(const RedemptionPolicy& policy, const Currency& currency,
                               Points points, std::string_view country = {},
                               int64_t value_bp = kOneX);

// The points needed for a discount of at least `discount` (rounded up to the next step), with the
// same checks as redemption_value.
Result<Points> points_for_discount(const RedemptionPolicy& policy, const Money& discount,
                                   std::string_view country = {}, int64_t value_bp = kOneX);

// The largest redemption a member can make now, for a till to propose: her `available` points
// within `limit` (0: none beyond the programme's), rounded down to the step, at most the
// maximum, at least the minimum; the discount it gives; and the rate (a discount of
// floor(points * value_minor_units / per_points) minor units, reduced to lowest terms).
struct RedemptionOffer {
  Points max_points = 0;
  Money max_discount;
  Points min_points = 0;
  Points step_points = 0;
  int64_t value_minor_units = 0;
  int64_t per_points = 0;
};
// nullopt when she can redeem nothing (fewer points than the minimum, no rate).
std::optional<RedemptionOffer> redemption_offer(const RedemptionPolicy& policy,
                                                const Currency& currency, Points available,
                                                Points limit = 0, std::string_view country = {},
                                                int64_t value_bp = kOneX);

// What a point of a member in `tier_id` is worth against the redemption rate, in basis points:
// the tier's redemption_value_bp, kOneX for a tier the ladder does not have.
int64_t tier_redemption_value_bp(const Program& program, std::string_view tier_id);

enum class OfflineRefusal {
  kNone,
  kDisabled,  // the program grants nothing offline
  kNeverSynced,
  kSyncTooOld,
  kPerRedemptionLimit,
  kCustomerDailyLimit,
  kStoreLiabilityLimit,
};

struct OfflineRedemptionContext {
  Points points = 0;                        // this redemption
  Points customer_redeemed_today = 0;       // offline, this store, local day
  Points store_outstanding = 0;             // offline redemptions not yet confirmed by the cloud
  std::optional<TimestampMs> last_sync_ms;  // last successful round-trip
  TimestampMs now_ms = 0;
};

struct OfflineDecision {
  bool allowed = false;
  OfflineRefusal refusal = OfflineRefusal::kNone;
  std::string message;  // for the cashier; empty when allowed
  // The refusal's parameters for a till's own text (message id "offline." + to_string(refusal)).
  std::vector<std::pair<std::string, std::string>> params = {};
};

OfflineDecision decide_offline_redemption(const OfflineLimits& limits,
                                          const OfflineRedemptionContext& context);

// The most points one offline redemption may take now (the context's `points` are ignored): 0
// when none may (offline redemption disabled, never synced or synced too long ago, a limit used
// up). decide_offline_redemption allows exactly the amounts from 1 up to it, so a till can offer
// what will be granted.
Points offline_redemption_headroom(const OfflineLimits& limits,
                                   const OfflineRedemptionContext& context);

std::string_view to_string(OfflineRefusal refusal);  // "sync_too_old", ...

}  // namespace accrue
