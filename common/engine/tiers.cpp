#include "common/engine/tiers.h"

#include <algorithm>

#include "common/checked.h"
#include "common/civil_time.h"

namespace accrue {

int64_t qualifying_value(std::span<const QualifyingActivity> activity, uint32_t window_days,
                         TimestampMs now_ms) {
  const TimestampMs from = now_ms - static_cast<int64_t>(window_days) * kMsPerDay;
  int128 sum = 0;
  for (const auto& a : activity) {
    if (a.at_ms > from && a.at_ms <= now_ms) sum += a.value;
  }
  if (sum < 0) return 0;
  return sum > kMaxPoints ? kMaxPoints : static_cast<int64_t>(sum);
}

Result<TierDecision> evaluate_tier(const TierPolicy& policy, const TierFacts& f) {
  TierDecision d;
  const auto& ladder = policy.ladder;
  if (ladder.empty()) return d;
  auto index_of = [&](std::string_view id) -> std::optional<size_t> {
    for (size_t i = 0; i < ladder.size(); ++i) {
      if (ladder[i].tier_id == id) return i;
    }
    return std::nullopt;
  };

  size_t earned = 0;
  for (size_t i = 0; i < ladder.size(); ++i) {
    if (f.qualifying_value >= ladder[i].threshold) earned = i;
  }
  size_t floor = 0;
  if (!f.manual_floor.empty()) {
    auto idx = index_of(f.manual_floor);
    if (!idx) return fail(ErrorCode::kInvalidArgument, "manual_floor: not a tier of this program");
    floor = *idx;
  }
  const size_t target = std::max(earned, floor);
  size_t result = target;
  auto current = index_of(f.current_tier);
  if (!current) {
    d.change = TierChange::kPlaced;
  } else if (target > *current) {
    d.change = TierChange::kUpgrade;
  } else if (target == *current) {
    d.change = TierChange::kNone;
  } else {
    TimestampMs since = f.below_since_ms.value_or(f.now_ms);
    TimestampMs at = since + static_cast<int64_t>(policy.downgrade_grace_days) * kMsPerDay;
    if (f.now_ms >= at) {
      d.change = TierChange::kDowngrade;
    } else {
      result = *current;
      d.below_since_ms = since;
      d.downgrade_at_ms = at;
    }
  }
  d.tier_id = ladder[result].tier_id;
  if (result + 1 < ladder.size()) {
    d.next_tier_id = ladder[result + 1].tier_id;
    d.distance_to_next = std::max<int64_t>(0, ladder[result + 1].threshold - f.qualifying_value);
  }
  return d;
}

StoreTierView store_tier_view(const TierPolicy& policy, std::string_view current_tier,
                              int64_t qualifying_value) {
  StoreTierView v;
  const auto& ladder = policy.ladder;
  size_t held = ladder.size();
  for (size_t i = 0; i < ladder.size(); ++i) {
    if (ladder[i].tier_id == current_tier) held = i;
  }
  if (held == ladder.size()) return v;
  size_t earned = 0;
  for (size_t i = 0; i < ladder.size(); ++i) {
    if (qualifying_value >= ladder[i].threshold) earned = i;
  }
  if (earned > held) v.reached_tier_id = ladder[earned].tier_id;
  const size_t base = std::max(held, earned);
  if (base + 1 < ladder.size()) {
    v.next_tier_id = ladder[base + 1].tier_id;
    v.distance_to_next = std::max<int64_t>(0, ladder[base + 1].threshold - qualifying_value);
  }
  return v;
}

}  // namespace accrue
