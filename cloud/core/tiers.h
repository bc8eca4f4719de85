// Tier progression: the cloud decides which tier a member holds (docs/lifecycle.md).
//
// A member's qualifying value is the sum over her customer_day rows in the programme's window of
// whole programme-local days (points earned or amount spent, by the ladder's basis). The domain
// core's evaluate_tier turns it, the manual floor and the grace clock into a decision; this file
// stores it. Three writers call it, each in its own transaction:
//   - ingestion, for the members whose qualifying value a batch changed: upgrades at once, and
//     the grace clock started or stopped; never a downgrade (a return can start the clock, only
//     the daily pass ends it);
//   - the daily pass, over every member holding a tier or a grace clock: everything, downgrades
//     included once the grace period is over;
//   - head office's manual floor (the floor lifts, never lowers).
// Every move is stored in tier_history (from, to, reason, at, actor), queued as a tier.changed
// webhook and sent to the member's stores through the change feed, in the caller's transaction.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cloud/core/programs.h"
#include "cloud/pg/pg.h"

namespace accrue::cloud {

// What a pass may do.
enum class TierPass {
  kIngest,  // upgrades, placements and the grace clock; a downgrade waits for the daily pass
  kDaily,   // everything, downgrades once the grace period is over
};

// The last programme-local day before the qualifying window: the window is today and the
// window_days - 1 days before it (customer_day.local_day > this).
int64_t last_day_before_tier_window(const PublishedProgram& p, TimestampMs now);

// Why a member's tier changed (tier_history.reason, the webhook's "reason").
enum class TierReason { kQualified, kGraceEnded, kPlaced, kManualFloor };
std::string_view tier_reason_name(TierReason r);

struct TierMove {
  std::string customer_id;
  std::string from;  // '' when she held no tier of the programme
  std::string to;
  TierReason reason = TierReason::kQualified;
};

// Re-evaluates `customers` (any order, closed members skipped) against `program`'s ladder at
// `now`, in c's transaction: locks their customer rows in id order, stores the moves and the
// grace clocks, and writes history and webhooks, and in the daily pass the feed rows (ingestion's
// events wrote theirs). Answers the moves.
Result<std::vector<TierMove>> reevaluate_tiers(pg::Connection& c, const PublishedProgram& program,
                                               const std::vector<std::string>& customers,
                                               TimestampMs now, TierPass pass,
                                               std::string_view actor);

// Stores moves decided elsewhere (head office's floor): customer.tier_id and the feed row are
// the caller's, the history rows and the webhooks are written here.
Result<void> record_tier_moves(pg::Connection& c, const std::vector<TierMove>& moves,
                               std::string_view actor);

struct TierRunReport {
  int64_t customers = 0;  // evaluated
  int64_t upgraded = 0;
  int64_t downgraded = 0;
  int64_t placed = 0;
  bool complete = true;  // false: stopped at the time limit with members left
};

// The daily pass: every open member who holds a tier above the ladder's first, has a grace
// clock running, or holds no tier of the programme, in batches of `batch_customers`, each one
// transaction. `after_batch(moved customer ids)` runs after each commit (cache invalidation).
// Idempotent: a second run at the same time moves nobody.
Result<TierRunReport> run_tier_pass(
    pg::Connection& c, const PublishedProgram& program, TimestampMs now,
    std::chrono::milliseconds time_limit = std::chrono::hours(24), int batch_customers = 1000,
    const std::function<void(const std::vector<std::string>&)>& after_batch = {});

}  // namespace accrue::cloud
