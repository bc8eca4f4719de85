// Tier qualification: which tier a member holds, when they move, and how far the next one is.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "common/clock.h"
#include "common/program.h"

namespace accrue {

// One qualifying activity: points earned or amount spent (by the program's tier basis) at a time.
struct QualifyingActivity {
  TimestampMs at_ms = 0;
  int64_t value = 0;  // negative for returns
};

// Sum of activity in the rolling window (now - window_days, now]; never below zero.
int64_t qualifying_value(std::span<const QualifyingActivity> activity, uint32_t window_days,
                         TimestampMs now_ms);

struct TierFacts {
  std::string current_tier;  // empty or unknown: placed by value
  int64_t qualifying_value = 0;
  std::optional<TimestampMs> below_since_ms;  // when the value first fell below current tier
  std::string manual_floor;                   // HQ's guaranteed minimum tier; empty = none
  TimestampMs now_ms = 0;
};

enum class TierChange { kNone, kUpgrade, kDowngrade, kPlaced };

struct TierDecision {
  std::string tier_id;  // the tier to hold now (empty: program has no tiers)
  TierChange change = TierChange::kNone;
  std::optional<TimestampMs> below_since_ms;   // state to keep for the next evaluation
  std::optional<TimestampMs> downgrade_at_ms;  // when a pending downgrade takes effect
  std::string next_tier_id;                    // empty at the top
  int64_t distance_to_next = 0;                // points, or minor units of spend
};

// Upgrades take effect at once. A member whose value falls below their tier keeps it for the
// grace period (downgrade_at_ms says until when) and then drops to the tier the value earns,
// never below the manual floor. An unknown manual floor is kInvalidArgument.
Result<TierDecision> evaluate_tier(const TierPolicy& policy, const TierFacts& facts);

// The tier a store shows before the cloud has seen its latest events. `qualifying_value` is the
// cloud's value plus the store's own activity the cloud has not confirmed yet. A tier above
// `current_tier` that it reaches shows at once, as reached and to be confirmed when online; a
// downgrade never shows (the cloud decides those, after the grace period). A member in no tier of
// the ladder gets no view (the cloud places her).
struct StoreTierView {
  std::string reached_tier_id;  // above current_tier; empty: she stays where she is
  std::string next_tier_id;     // the one above the higher of the two; empty at the top
  int64_t distance_to_next = 0;
};
StoreTierView store_tier_view(const TierPolicy& policy, std::string_view current_tier,
                              int64_t qualifying_value);

}  // namespace accrue
