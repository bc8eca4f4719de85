#include "common/engine/earn.h"

#include <algorithm>

#include "common/checked.h"
#include "common/civil_time.h"
#include "common/engine/apportion.h"

namespace accrue {
namespace {

bool contains(const std::vector<std::string>& sorted, const std::string& v) {
  return std::ranges::binary_search(sorted, v);
}

bool any_in(const std::vector<std::string>& sorted, const std::vector<std::string>& values) {
  return std::ranges::any_of(values, [&](const std::string& v) { return contains(sorted, v); });
}

std::optional<int64_t> threshold_for(const std::vector<CurrencyThreshold>& t, const Currency& c) {
  for (const auto& e : t) {
    if (e.currency == c) return e.minor_units;
  }
  return std::nullopt;
}

bool window_open(const CampaignWindow& w, int64_t local_ms) {
  if (w.starts_local_ms && local_ms < *w.starts_local_ms) return false;
  if (w.ends_local_ms && local_ms >= *w.ends_local_ms) return false;
  int64_t day = day_of_ms(local_ms);
  if (w.days_of_week_mask != 0 && !(w.days_of_week_mask & (1u << (iso_weekday(day) - 1)))) {
    return false;
  }
  int64_t minute = (local_ms - day * kMsPerDay) / 60'000;
  return minute >= w.from_minute && minute < w.to_minute;
}

bool line_matches(const EarningRule& r, const BasketLine& l) {
  if (!r.skus.empty() && !contains(r.skus, l.sku)) return false;
  if (!r.categories.empty() && !any_in(r.categories, l.categories)) return false;
  return true;
}

int128 round_div(int128 num, int128 den, RoundingMode mode) {
  return mode == RoundingMode::kFloor ? floor_div(num, den) : half_even_div(num, den);
}

}  // namespace

Result<EarnResult> compute_earn(const Program& program, const Basket& basket,
                                const EarnContext& ctx) {
  ACCRUE_TRY(validate_basket(basket));
  const EarnRate* rate = program.earn_rate(basket.currency);
  if (rate == nullptr) {
    return fail(ErrorCode::kFailedPrecondition,
                "program " + program.program_id + " v" + std::to_string(program.version) +
                    " has no earn rate for " + std::string(basket.currency.code()));
  }

  const size_t n = basket.lines.size();
  EarnResult out;
  out.program_version = program.version;
  out.lines.reserve(n);
  for (const auto& l : basket.lines) out.lines.push_back({l.line_no, 0});

  std::vector<bool> eligible(n);
  int64_t eligible_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const BasketLine& l = basket.lines[i];
    eligible[i] = !contains(program.excluded_skus, l.sku) &&
                  !any_in(program.excluded_categories, l.categories);
    if (eligible[i]) eligible_total += l.amount_minor;
  }
  if (auto min = threshold_for(program.min_basket, basket.currency);
      min && eligible_total < *min) {
    return out;
  }

  const int64_t local_ms = ctx.time_zone ? ctx.time_zone->to_local_ms(basket.occurred_at_ms)
                                         : basket.occurred_at_ms;
  std::vector<int64_t> factor(n, kOneX);
  std::vector<int128> line_bonus(n, 0);
  int128 bonus_total = 0;
  std::vector<size_t> matched;
  std::vector<int128> weights;
  for (const EarningRule& r : program.rules) {
    if (!r.tiers.empty() && !contains(r.tiers, ctx.tier_id)) continue;
    if (r.window && !window_open(*r.window, local_ms)) continue;
    if (!r.min_basket.empty()) {
      auto min = threshold_for(r.min_basket, basket.currency);
      if (!min || eligible_total < *min) continue;
    }
    matched.clear();
    for (size_t i = 0; i < n; ++i) {
      if (eligible[i] && line_matches(r, basket.lines[i])) matched.push_back(i);
    }
    if (matched.empty()) continue;
    out.rules_fired.push_back(r.rule_id);
    switch (r.effect) {
      case RuleEffect::kExclude:
        for (size_t i : matched) {
          eligible[i] = false;
          eligible_total -= basket.lines[i].amount_minor;
        }
        break;
      case RuleEffect::kMultiplier:
        for (size_t i : matched) {
          factor[i] = std::min(kMaxMultiplierBp, factor[i] + (r.multiplier_bp - kOneX));
        }
        break;
      case RuleEffect::kBonus:
        if (r.bonus_per_unit) {
          for (size_t i : matched) {
            // Whole units only: 2.5 pairs of socks earn the bonus twice.
            int128 b = static_cast<int128>(r.bonus_points) * (basket.lines[i].quantity_milli / 1000);
            line_bonus[i] += b;
            bonus_total += b;
          }
        } else {
          // A basket bonus belongs to the matched lines in proportion to their amounts.
          weights.clear();
          for (size_t i : matched) weights.push_back(basket.lines[i].amount_minor);
          auto shares = apportion(weights, r.bonus_points);
          for (size_t k = 0; k < matched.size(); ++k) line_bonus[matched[k]] += shares[k];
          bonus_total += r.bonus_points;
        }
        break;
    }
    if (r.stop_after) break;
  }

  int64_t tier_bp = kOneX;
  if (auto idx = program.tier_index(ctx.tier_id)) {
    tier_bp = program.tiers.ladder[*idx].earn_multiplier_bp;
  }
  // exact points of line i = num[i] / den
  const int128 den = static_cast<int128>(rate->per_minor_units) * kOneX * kOneX;
  std::vector<int128> num(n, 0);
  int128 num_total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible[i]) continue;
    num[i] = static_cast<int128>(basket.lines[i].amount_minor) * rate->points * factor[i] *
             tier_bp;
    num_total += num[i];
  }
  std::vector<int64_t> line_base(n, 0);
  int128 base = 0;
  if (program.rounding_scope == RoundingScope::kPerLine) {
    for (size_t i = 0; i < n; ++i) {
      int128 v = round_div(num[i], den, program.rounding_mode);
      if (v > kMaxPoints) return fail(ErrorCode::kOverflow, "points: basket earns too many");
      line_base[i] = static_cast<int64_t>(v);
      base += v;
    }
  } else {
    base = round_div(num_total, den, program.rounding_mode);
    if (base > kMaxPoints) return fail(ErrorCode::kOverflow, "points: basket earns too many");
    line_base = apportion(num, static_cast<int64_t>(base));
  }
  if (base + bonus_total > kMaxPoints) {
    return fail(ErrorCode::kOverflow, "points: basket earns too many");
  }
  out.base_points = static_cast<Points>(base);
  out.bonus_points = static_cast<Points>(bonus_total);
  Points total = out.base_points + out.bonus_points;
  std::vector<int128> line_total(n);
  for (size_t i = 0; i < n; ++i) line_total[i] = line_base[i] + line_bonus[i];

  if (program.daily_cap_points > 0) {
    Points allowed = std::max<Points>(0, program.daily_cap_points - std::max<Points>(0, ctx.earned_today));
    if (total > allowed) {
      out.capped_points = total - allowed;
      auto shares = apportion(line_total, allowed);
      for (size_t i = 0; i < n; ++i) line_total[i] = shares[i];
      total = allowed;
    }
  }
  out.points = total;
  for (size_t i = 0; i < n; ++i) out.lines[i].points = static_cast<Points>(line_total[i]);
  return out;
}

}  // namespace accrue
