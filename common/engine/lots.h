// Points lots: every accrual opens a lot that is pending through the return window, then
// available until it expires. Spending draws from lots first-in-first-out.
#pragma once

#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/program.h"
#include "common/time_zone.h"

namespace accrue {

inline constexpr TimestampMs kNeverExpires = std::numeric_limits<TimestampMs>::max();

struct Lot {
  std::string lot_id;
  TimestampMs earned_at_ms = 0;
  TimestampMs available_at_ms = 0;            // pending before this instant
  TimestampMs expires_at_ms = kNeverExpires;  // expired at and after this instant
  Points points = 0;                          // as earned
  Points remaining = 0;                       // not yet spent, reversed or expired
};

// The lot an accrual of `points` at `earned_at_ms` opens under `policy`. End-of-month and
// end-of-year expiry fall at local midnight in `zone`.
Lot open_lot(const LotPolicy& policy, const TimeZone& zone, std::string lot_id,
             TimestampMs earned_at_ms, Points points);

struct LotBalance {
  Points available = 0;
  Points pending = 0;
  Points expiring = 0;  // available points in the lots that expire next
  TimestampMs expiring_at_ms = kNeverExpires;
};

// Balance at `now_ms`; `soon_ms` bounds what counts as "expiring" (now + horizon).
LotBalance balance_of(std::span<const Lot> lots, TimestampMs now_ms, TimestampMs soon_ms);

struct Draw {
  std::string lot_id;
  Points points = 0;
  friend bool operator==(const Draw&, const Draw&) = default;
};

// Which lots pay for spending `points` at `now_ms`: available lots, oldest earned first (ties by
// lot id). kInsufficientPoints when the available balance is short; nothing is drawn then.
Result<std::vector<Draw>> draw_fifo(std::span<const Lot> lots, Points points, TimestampMs now_ms);

// The remaining points of every lot that has expired by `now_ms`.
std::vector<Draw> expire_due(std::span<const Lot> lots, TimestampMs now_ms);

struct ReversalPlan {
  std::vector<Draw> draws;  // from the sale's own lot first, then FIFO over available lots
  Points shortfall = 0;     // points already spent elsewhere: the balance goes this far negative
};

// Taking back `points` for a return of the sale that opened `sale_lot_id`.
ReversalPlan plan_reversal(std::span<const Lot> lots, std::string_view sale_lot_id, Points points,
                           TimestampMs now_ms);

// A store's view of a member (invariant "local events stay on top", docs/architecture.md): the
// cloud-confirmed figures, minus what was spent locally beyond the local lots, plus those lots.
struct ConfirmedPoints {
  Points available = 0;
  Points pending = 0;
  Points local_debit = 0;  // spent or reversed locally beyond the local lots
};
LotBalance store_balance(const ConfirmedPoints& confirmed, const LotBalance& local);

// How a store spends `points` at `now_ms`: the confirmed points first (they are the oldest), then
// the local lots first-in-first-out.
struct SpendPlan {
  Points from_confirmed = 0;
  std::vector<Draw> draws;         // from the local lots
  Points uncovered = 0;            // what neither covers; then nothing is drawn from the lots
  std::optional<Error> shortfall;  // why, when uncovered > 0 (draw_fifo's refusal)
};
SpendPlan plan_spend(Points confirmed_left, std::span<const Lot> lots, Points points,
                     TimestampMs now_ms);

}  // namespace accrue
