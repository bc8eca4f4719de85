// Points for a basket: the heart of the rules engine, run identically by the store agent (to
// answer the till) and by the cloud (to check what the store computed).
//
// Evaluation order, all in integers:
//  1. lines whose sku or category the program excludes earn nothing;
//  2. below the program's minimum basket for the currency, the basket earns nothing;
//  3. rules run in (priority, rule_id) order; a rule fires when its tier, campaign window (store
//     local time) and minimum-basket conditions hold and at least one eligible line matches its
//     sku/category filters. Exclude rules drop the matched lines; multiplier rules add
//     (factor - 1x) to the matched lines (so 2x and 1.5x give 2.5x); bonus rules add fixed
//     points once or per whole matched unit. A firing rule with stop_after ends the evaluation;
//  4. base points per line = amount x rate x rule factor x tier factor x coupon factor (a
//     points-multiplier coupon applied to this basket), rounded per line or once per basket
//     (floor or half-even), as the program says; fixed bonuses are not multiplied;
//  5. the per-customer daily cap trims the total.
// Every point of the total is attributed to a line (largest remainder), so returns can reverse
// exactly what each line earned: a once-per-basket bonus goes to the lines its rule matched, in
// proportion to their amounts (bonuses of rules matching the same lines are shared out together).
#pragma once

#include <string>
#include <vector>

#include "common/engine/basket.h"
#include "common/program.h"
#include "common/time_zone.h"

namespace accrue {

struct EarnContext {
  std::string tier_id;                  // the customer's tier; empty for an anonymous preview
  Points earned_today = 0;              // already earned today (store local day), for the daily cap
  const TimeZone* time_zone = nullptr;  // the store's zone; nullptr means UTC
  std::string_view country = {};        // the store's (ISO 3166-1 alpha-2), for per-country rates
  // A points-multiplier coupon applied to this basket (docs/rewards.md): multiplies the base
  // points, not fixed bonuses, before the daily cap. 0: none; else kOneX..kMaxMultiplierBp.
  int64_t coupon_multiplier_bp = 0;
};

struct LinePoints {
  uint32_t line_no = 0;
  Points points = 0;
  friend bool operator==(const LinePoints&, const LinePoints&) = default;
};

struct EarnResult {
  Points points = 0;                     // what the customer gets: base + bonus - capped
  Points base_points = 0;                // from the earn rate, rule multipliers and tier multiplier
  Points bonus_points = 0;               // fixed bonuses
  Points capped_points = 0;              // removed by the daily cap
  std::vector<LinePoints> lines;         // one per basket line, in basket order
  std::vector<std::string> rules_fired;  // rule ids in evaluation order
  uint32_t program_version = 0;
};

// Errors: kInvalidArgument for a bad basket; kFailedPrecondition when the program has no earn
// rate for the basket's currency; kOverflow when the result would exceed kMaxPoints.
Result<EarnResult> compute_earn(const Program& program, const Basket& basket,
                                const EarnContext& context);

}  // namespace accrue
