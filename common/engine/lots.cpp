#include "common/engine/lots.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "common/civil_time.h"

namespace accrue {

Lot open_lot(const LotPolicy& policy, const TimeZone& zone, std::string lot_id,
             TimestampMs earned_at_ms, Points points) {
  Lot lot;
  lot.lot_id = std::move(lot_id);
  lot.earned_at_ms = earned_at_ms;
  lot.available_at_ms = earned_at_ms + static_cast<int64_t>(policy.pending_days) * kMsPerDay;
  lot.points = points;
  lot.remaining = points;
  const int count = static_cast<int>(policy.count);
  switch (policy.expiry) {
    case ExpiryKind::kNever:
      break;
    case ExpiryKind::kAfterDays:
      lot.expires_at_ms = earned_at_ms + static_cast<int64_t>(count) * kMsPerDay;
      break;
    case ExpiryKind::kEndOfMonth: {
      CivilDate d = civil_from_days(day_of_ms(zone.to_local_ms(earned_at_ms)));
      int months = d.year * 12 + (d.month - 1) + count + 1;  // first day of the month after
      int64_t local = days_from_civil(months / 12, months % 12 + 1, 1) * kMsPerDay;
      lot.expires_at_ms = zone.to_utc_ms(local);
      break;
    }
    case ExpiryKind::kEndOfYear: {
      CivilDate d = civil_from_days(day_of_ms(zone.to_local_ms(earned_at_ms)));
      lot.expires_at_ms = zone.to_utc_ms(days_from_civil(d.year + count + 1, 1, 1) * kMsPerDay);
      break;
    }
  }
  return lot;
}

LotBalance balance_of(std::span<const Lot> lots, TimestampMs now_ms, TimestampMs soon_ms) {
  LotBalance b;
  for (const Lot& l : lots) {
    if (l.remaining <= 0 || now_ms >= l.expires_at_ms) continue;
    if (now_ms < l.available_at_ms) {
      b.pending += l.remaining;
      continue;
    }
    b.available += l.remaining;
    if (l.expires_at_ms <= soon_ms) {
      if (l.expires_at_ms < b.expiring_at_ms) {
        b.expiring_at_ms = l.expires_at_ms;
        b.expiring = 0;
      }
      if (l.expires_at_ms == b.expiring_at_ms) b.expiring += l.remaining;
    }
  }
  return b;
}

namespace {

std::vector<size_t> fifo_order(std::span<const Lot> lots) {
  std::vector<size_t> order(lots.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::ranges::sort(order, [&](size_t a, size_t b) {
    return std::tie(lots[a].earned_at_ms, lots[a].lot_id) <
           std::tie(lots[b].earned_at_ms, lots[b].lot_id);
  });
  return order;
}

bool spendable(const Lot& l, TimestampMs now_ms) {
  return l.remaining > 0 && now_ms >= l.available_at_ms && now_ms < l.expires_at_ms;
}

}  // namespace

Result<std::vector<Draw>> draw_fifo(std::span<const Lot> lots, Points points, TimestampMs now_ms) {
  if (points <= 0) return fail(ErrorCode::kInvalidArgument, "points: must be positive");
  std::vector<Draw> draws;
  Points left = points;
  for (size_t i : fifo_order(lots)) {
    if (left == 0) break;
    if (!spendable(lots[i], now_ms)) continue;
    Points take = std::min(left, lots[i].remaining);
    draws.push_back({lots[i].lot_id, take});
    left -= take;
  }
  if (left > 0) {
    const std::string available = std::to_string(points - left);
    return refusal(ErrorCode::kInsufficientPoints, "points.insufficient",
                   {{"available", available}},
                   "Not enough points: " + available + " available, " + std::to_string(points) +
                       " requested.");
  }
  return draws;
}

std::vector<Draw> expire_due(std::span<const Lot> lots, TimestampMs now_ms) {
  std::vector<Draw> out;
  for (size_t i : fifo_order(lots)) {
    if (lots[i].remaining > 0 && now_ms >= lots[i].expires_at_ms) {
      out.push_back({lots[i].lot_id, lots[i].remaining});
    }
  }
  return out;
}

ReversalPlan plan_reversal(std::span<const Lot> lots, std::string_view sale_lot_id, Points points,
                           TimestampMs now_ms) {
  ReversalPlan plan;
  Points left = std::max<Points>(0, points);
  for (const Lot& l : lots) {
    if (l.lot_id == sale_lot_id && l.remaining > 0 && now_ms < l.expires_at_ms && left > 0) {
      Points take = std::min(left, l.remaining);
      plan.draws.push_back({l.lot_id, take});
      left -= take;
    }
  }
  for (size_t i : fifo_order(lots)) {
    if (left == 0) break;
    if (lots[i].lot_id == sale_lot_id || !spendable(lots[i], now_ms)) continue;
    Points take = std::min(left, lots[i].remaining);
    plan.draws.push_back({lots[i].lot_id, take});
    left -= take;
  }
  plan.shortfall = left;
  return plan;
}

LotBalance store_balance(const ConfirmedPoints& confirmed, const LotBalance& local) {
  LotBalance b = local;
  b.available += confirmed.available - confirmed.local_debit;
  b.pending += confirmed.pending;
  return b;
}

SpendPlan plan_spend(Points confirmed_left, std::span<const Lot> lots, Points points,
                     TimestampMs now_ms) {
  SpendPlan plan;
  plan.from_confirmed = std::clamp<Points>(confirmed_left, 0, points);
  const Points rest = points - plan.from_confirmed;
  if (rest <= 0) return plan;
  auto draws = draw_fifo(lots, rest, now_ms);
  if (draws) {
    plan.draws = std::move(*draws);
  } else {
    plan.uncovered = rest;
    plan.shortfall = draws.error();
  }
  return plan;
}

}  // namespace accrue
