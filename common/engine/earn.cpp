#include "common/engine/earn.h"

#include <algorithm>
#include <array>
#include <bit>
#include <memory_resource>

#include "common/checked.h"
#include "common/civil_time.h"
#include "common/detail/rule_index.h"
#include "common/engine/apportion.h"

namespace accrue {
namespace {

bool contains(const std::vector<std::string>& sorted, const std::string& v) {
  return std::ranges::binary_search(sorted, v);
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

int128 round_div(int128 num, int128 den, RoundingMode mode) {
  return mode == RoundingMode::kFloor ? floor_div(num, den) : half_even_div(num, den);
}

}  // namespace

Result<EarnResult> compute_earn(const Program& program, const Basket& basket,
                                const EarnContext& ctx) {
  ACCRUE_TRY(validate_basket(basket));
  const EarnRate* rate = program.earn_rate(basket.currency, ctx.country);
  if (rate == nullptr) {
    return fail(ErrorCode::kFailedPrecondition,
                "program " + program.program_id + " v" + std::to_string(program.version) +
                    " has no earn rate for " + std::string(basket.currency.code()) +
                    (ctx.country.empty() ? "" : " in " + std::string(ctx.country)));
  }

  const size_t n = basket.lines.size();
  EarnResult out;
  out.program_version = program.version;
  out.lines.reserve(n);
  for (const auto& l : basket.lines) out.lines.push_back({l.line_no, 0});

  if (!program.rule_index || program.rule_index->rule_count() != program.rules.size()) {
    return fail(ErrorCode::kFailedPrecondition,
                "program " + program.program_id + " was changed after validation");
  }
  const detail::RuleIndex& index = *program.rule_index;
  // Working memory for this call comes from the stack (spilling to the heap only for huge
  // baskets): the engine runs on every till request and preview.
  std::array<std::byte, 24 * 1024> stack_buffer;
  std::pmr::monotonic_buffer_resource arena(stack_buffer.data(), stack_buffer.size());
  const size_t rule_words = index.words();
  const size_t line_words = (n + 63) / 64;

  // One pass over the lines resolves exclusions and, for every rule, the set of lines it
  // matches (a bit per line): a rule matches a line when each filter it has lists the line's
  // sku or one of its categories.
  std::pmr::vector<uint64_t> eligible(line_words, 0, &arena);
  std::pmr::vector<uint64_t> rule_lines(program.rules.size() * line_words, 0, &arena);
  int64_t eligible_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const BasketLine& l = basket.lines[i];
    detail::RuleMask sku_hits{}, category_hits{};
    bool excluded = false;
    if (const auto* t = index.find(l.sku)) {
      sku_hits = t->sku_rules;
      excluded = t->excluded_sku;
    }
    for (const auto& c : l.categories) {
      if (const auto* t = index.find(c)) {
        for (size_t w = 0; w < rule_words; ++w) category_hits[w] |= t->category_rules[w];
        excluded = excluded || t->excluded_category;
      }
    }
    if (!excluded) {
      eligible[i / 64] |= uint64_t{1} << (i % 64);
      eligible_total += l.amount_minor;
    }
    for (size_t w = 0; w < rule_words; ++w) {
      uint64_t m = (sku_hits[w] | ~index.needs_sku()[w]) &
                   (category_hits[w] | ~index.needs_category()[w]) & index.all_rules()[w];
      while (m != 0) {
        const size_t r = w * 64 + static_cast<size_t>(std::countr_zero(m));
        rule_lines[r * line_words + i / 64] |= uint64_t{1} << (i % 64);
        m &= m - 1;
      }
    }
  }
  auto is_eligible = [&](size_t i) { return (eligible[i / 64] >> (i % 64)) & 1; };
  if (auto min = threshold_for(program.min_basket, basket.currency); min && eligible_total < *min) {
    return out;
  }

  const int64_t local_ms =
      ctx.time_zone ? ctx.time_zone->to_local_ms(basket.occurred_at_ms) : basket.occurred_at_ms;
  std::pmr::vector<int64_t> factor(n, kOneX, &arena);
  std::pmr::vector<int128> line_bonus(n, 0, &arena);
  int128 bonus_total = 0;
  std::pmr::vector<size_t> matched(&arena);
  std::pmr::vector<int128> weights(&arena);
  std::pmr::vector<int64_t> shares(&arena);
  struct BonusGroup {
    std::pmr::vector<size_t> lines;
    Points points = 0;
  };
  std::pmr::vector<BonusGroup> basket_bonuses(&arena);
  matched.reserve(n);
  weights.reserve(n);
  shares.reserve(n);
  for (size_t ri = 0; ri < program.rules.size(); ++ri) {
    const EarningRule& r = program.rules[ri];
    if (!r.tiers.empty() && !contains(r.tiers, ctx.tier_id)) continue;
    if (r.window && !window_open(*r.window, local_ms)) continue;
    if (!r.min_basket.empty()) {
      auto min = threshold_for(r.min_basket, basket.currency);
      if (!min || eligible_total < *min) continue;
    }
    matched.clear();
    for (size_t w = 0; w < line_words; ++w) {
      for (uint64_t m = rule_lines[ri * line_words + w] & eligible[w]; m != 0; m &= m - 1) {
        matched.push_back(w * 64 + static_cast<size_t>(std::countr_zero(m)));
      }
    }
    if (matched.empty()) continue;
    out.rules_fired.push_back(r.rule_id);
    switch (r.effect) {
      case RuleEffect::kExclude:
        for (size_t i : matched) {
          eligible[i / 64] &= ~(uint64_t{1} << (i % 64));
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
            int128 b =
                static_cast<int128>(r.bonus_points) * (basket.lines[i].quantity_milli / 1000);
            line_bonus[i] += b;
            bonus_total += b;
          }
        } else {
          // A basket bonus belongs to the matched lines in proportion to their amounts. Bonuses
          // of rules that match the same lines are shared out together, once, at the end.
          auto group = std::ranges::find_if(basket_bonuses, [&](const BonusGroup& g) {
            return std::ranges::equal(g.lines, matched);
          });
          if (group == basket_bonuses.end()) {
            basket_bonuses.push_back({std::pmr::vector<size_t>(matched, &arena), 0});
            group = basket_bonuses.end() - 1;
          }
          group->points += r.bonus_points;
          bonus_total += r.bonus_points;
        }
        break;
    }
    if (r.stop_after) break;
  }
  for (const BonusGroup& g : basket_bonuses) {
    weights.clear();
    for (size_t i : g.lines) weights.push_back(basket.lines[i].amount_minor);
    shares.resize(g.lines.size());
    apportion_into(weights, g.points, shares);
    for (size_t k = 0; k < g.lines.size(); ++k) line_bonus[g.lines[k]] += shares[k];
  }

  int64_t tier_bp = kOneX;
  if (auto idx = program.tier_index(ctx.tier_id)) {
    tier_bp = program.tiers.ladder[*idx].earn_multiplier_bp;
  }
  // exact points of line i = num[i] / den
  const int128 den = static_cast<int128>(rate->per_minor_units) * kOneX * kOneX;
  std::pmr::vector<int128> num(n, 0, &arena);
  int128 num_total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!is_eligible(i)) continue;
    num[i] = static_cast<int128>(basket.lines[i].amount_minor) * rate->points * factor[i] * tier_bp;
    num_total += num[i];
  }
  std::pmr::vector<int64_t> line_base(n, 0, &arena);
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
    apportion_into(num, static_cast<int64_t>(base), line_base);
  }
  if (base + bonus_total > kMaxPoints) {
    return fail(ErrorCode::kOverflow, "points: basket earns too many");
  }
  out.base_points = static_cast<Points>(base);
  out.bonus_points = static_cast<Points>(bonus_total);
  Points total = out.base_points + out.bonus_points;
  std::pmr::vector<int128> line_total(n, &arena);
  for (size_t i = 0; i < n; ++i) line_total[i] = line_base[i] + line_bonus[i];

  if (program.daily_cap_points > 0) {
    Points allowed =
        std::max<Points>(0, program.daily_cap_points - std::max<Points>(0, ctx.earned_today));
    if (total > allowed) {
      out.capped_points = total - allowed;
      shares.resize(n);
      apportion_into(line_total, allowed, shares);
      for (size_t i = 0; i < n; ++i) line_total[i] = shares[i];
      total = allowed;
    }
  }
  out.points = total;
  for (size_t i = 0; i < n; ++i) out.lines[i].points = static_cast<Points>(line_total[i]);
  return out;
}

}  // namespace accrue
