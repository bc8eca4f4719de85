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

// The working state of one compute_earn call. Its vectors live in the call's arena: the engine
// runs on every till request and preview, so its memory comes from the stack.
struct EarnWork {
  EarnWork(const Basket& b, size_t rule_count, std::pmr::memory_resource* memory)
      : basket(b),
        n(b.lines.size()),
        line_words((n + 63) / 64),
        eligible(line_words, 0, memory),
        rule_lines(rule_count * line_words, 0, memory),
        factor(n, kOneX, memory),
        line_bonus(n, 0, memory),
        arena(memory) {}

  bool is_eligible(size_t i) const { return (eligible[i / 64] >> (i % 64)) & 1; }
  void make_eligible(size_t i) {
    eligible[i / 64] |= uint64_t{1} << (i % 64);
    eligible_total += basket.lines[i].amount_minor;
  }
  void exclude(size_t i) {
    eligible[i / 64] &= ~(uint64_t{1} << (i % 64));
    eligible_total -= basket.lines[i].amount_minor;
  }

  const Basket& basket;
  const size_t n;
  const size_t line_words;
  std::pmr::vector<uint64_t> eligible;    // a bit per line: not excluded
  std::pmr::vector<uint64_t> rule_lines;  // per rule, a bit per line it matches
  int64_t eligible_total = 0;             // the eligible lines' amount, for minimum baskets
  std::pmr::vector<int64_t> factor;       // per line, the rule multipliers' sum in basis points
  std::pmr::vector<int128> line_bonus;    // per line, its share of the fixed bonuses
  int128 bonus_total = 0;
  std::pmr::memory_resource* arena;
};

// One pass over the lines resolves exclusions and, for every rule, the set of lines it matches
// (a bit per line): a rule matches a line when each filter it has lists the line's sku or one of
// its categories.
void match_lines(const detail::RuleIndex& index, EarnWork& w) {
  const size_t rule_words = index.words();
  for (size_t i = 0; i < w.n; ++i) {
    const BasketLine& l = w.basket.lines[i];
    detail::RuleMask sku_hits{}, category_hits{};
    bool excluded = false;
    if (const auto* t = index.find(l.sku)) {
      sku_hits = t->sku_rules;
      excluded = t->excluded_sku;
    }
    for (const auto& c : l.categories) {
      if (const auto* t = index.find(c)) {
        for (size_t k = 0; k < rule_words; ++k) category_hits[k] |= t->category_rules[k];
        excluded = excluded || t->excluded_category;
      }
    }
    if (!excluded) w.make_eligible(i);
    for (size_t k = 0; k < rule_words; ++k) {
      uint64_t m = (sku_hits[k] | ~index.needs_sku()[k]) &
                   (category_hits[k] | ~index.needs_category()[k]) & index.all_rules()[k];
      while (m != 0) {
        const size_t r = k * 64 + static_cast<size_t>(std::countr_zero(m));
        w.rule_lines[r * w.line_words + i / 64] |= uint64_t{1} << (i % 64);
        m &= m - 1;
      }
    }
  }
}

// Whether rule `r` applies to this basket at all: its tiers, its campaign window at the store's
// local time, its minimum basket.
bool rule_applies(const EarningRule& r, const EarnContext& ctx, int64_t local_ms,
                  const EarnWork& w) {
  if (!r.tiers.empty() && !contains(r.tiers, ctx.tier_id)) return false;
  if (r.window && !window_open(*r.window, local_ms)) return false;
  if (!r.min_basket.empty()) {
    auto min = threshold_for(r.min_basket, w.basket.currency);
    if (!min || w.eligible_total < *min) return false;
  }
  return true;
}

// Fixed basket bonuses of rules that match the same lines, shared out together once at the end,
// in proportion to the lines' amounts.
class BasketBonuses {
 public:
  explicit BasketBonuses(std::pmr::memory_resource* arena) : groups_(arena) {}

  void add(std::span<const size_t> lines, Points points) {
    auto group = std::ranges::find_if(
        groups_, [&](const Group& g) { return std::ranges::equal(g.lines, lines); });
    if (group == groups_.end()) {
      groups_.push_back(
          {std::pmr::vector<size_t>(lines.begin(), lines.end(), groups_.get_allocator()), 0});
      group = groups_.end() - 1;
    }
    group->points += points;
  }

  void share_out(EarnWork& w) const {
    std::pmr::vector<int128> weights(w.arena);
    std::pmr::vector<int64_t> shares(w.arena);
    for (const Group& g : groups_) {
      weights.clear();
      for (size_t i : g.lines) weights.push_back(w.basket.lines[i].amount_minor);
      shares.resize(g.lines.size());
      apportion_into(weights, g.points, shares);
      for (size_t k = 0; k < g.lines.size(); ++k) w.line_bonus[g.lines[k]] += shares[k];
    }
  }

 private:
  struct Group {
    std::pmr::vector<size_t> lines;
    Points points = 0;
  };
  std::pmr::vector<Group> groups_;
};

void apply_effect(const EarningRule& r, std::span<const size_t> matched, EarnWork& w,
                  BasketBonuses& basket_bonuses) {
  switch (r.effect) {
    case RuleEffect::kExclude:
      for (size_t i : matched) w.exclude(i);
      break;
    case RuleEffect::kMultiplier:
      for (size_t i : matched) {
        w.factor[i] = std::min(kMaxMultiplierBp, w.factor[i] + (r.multiplier_bp - kOneX));
      }
      break;
    case RuleEffect::kBonus:
      if (r.bonus_per_unit) {
        for (size_t i : matched) {
          // Whole units only: 2.5 pairs of socks earn the bonus twice.
          int128 b =
              static_cast<int128>(r.bonus_points) * (w.basket.lines[i].quantity_milli / 1000);
          w.line_bonus[i] += b;
          w.bonus_total += b;
        }
      } else {
        // A basket bonus belongs to the matched lines in proportion to their amounts.
        basket_bonuses.add(matched, r.bonus_points);
        w.bonus_total += r.bonus_points;
      }
      break;
  }
}

// The rules in (priority, id) order, each on the eligible lines it matches; `stop_after` ends
// the walk. Returns the ids of the rules that fired.
void apply_rules(const Program& program, const EarnContext& ctx, int64_t local_ms, EarnWork& w,
                 std::vector<std::string>& rules_fired) {
  std::pmr::vector<size_t> matched(w.arena);
  matched.reserve(w.n);
  BasketBonuses basket_bonuses(w.arena);
  for (size_t ri = 0; ri < program.rules.size(); ++ri) {
    const EarningRule& r = program.rules[ri];
    if (!rule_applies(r, ctx, local_ms, w)) continue;
    matched.clear();
    for (size_t k = 0; k < w.line_words; ++k) {
      for (uint64_t m = w.rule_lines[ri * w.line_words + k] & w.eligible[k]; m != 0; m &= m - 1) {
        matched.push_back(k * 64 + static_cast<size_t>(std::countr_zero(m)));
      }
    }
    if (matched.empty()) continue;
    rules_fired.push_back(r.rule_id);
    apply_effect(r, matched, w, basket_bonuses);
    if (r.stop_after) break;
  }
  basket_bonuses.share_out(w);
}

std::unexpected<Error> too_many_points() {
  return fail(ErrorCode::kOverflow, "points: basket earns too many");
}

// The base points of every eligible line: amount x rate x rule multipliers x tier multiplier,
// rounded per line or per basket (then apportioned to the lines). Returns the basket's base.
Result<int128> base_points(const Program& program, const EarnRate& rate, int64_t tier_bp,
                           int64_t coupon_bp, const EarnWork& w,
                           std::pmr::vector<int64_t>& line_base) {
  // exact points of line i = num[i] / den
  int128 den = static_cast<int128>(rate.per_minor_units) * kOneX * kOneX;
  if (coupon_bp != 0) den *= kOneX;
  std::pmr::vector<int128> num(w.n, 0, w.arena);
  int128 num_total = 0;
  // Far beyond kMaxPoints for any rate, and with room for the sum over the lines.
  constexpr int128 kNumMax = static_cast<int128>(1) << 112;
  for (size_t i = 0; i < w.n; ++i) {
    if (!w.is_eligible(i)) continue;
    num[i] =
        static_cast<int128>(w.basket.lines[i].amount_minor) * rate.points * w.factor[i] * tier_bp;
    if (coupon_bp != 0) {
      if (num[i] > kNumMax / coupon_bp) return too_many_points();
      num[i] *= coupon_bp;
    }
    num_total += num[i];
  }
  int128 base = 0;
  if (program.rounding_scope == RoundingScope::kPerLine) {
    for (size_t i = 0; i < w.n; ++i) {
      int128 v = round_div(num[i], den, program.rounding_mode);
      if (v > kMaxPoints) return too_many_points();
      line_base[i] = static_cast<int64_t>(v);
      base += v;
    }
  } else {
    base = round_div(num_total, den, program.rounding_mode);
    if (base > kMaxPoints) return too_many_points();
    apportion_into(num, static_cast<int64_t>(base), line_base);
  }
  return base;
}

// The per-customer daily cap: what exceeds it is taken off the lines in proportion.
void apply_daily_cap(const Program& program, const EarnContext& ctx, EarnWork& w,
                     std::pmr::vector<int128>& line_total, EarnResult& out, Points& total) {
  if (program.daily_cap_points <= 0) return;
  Points allowed =
      std::max<Points>(0, program.daily_cap_points - std::max<Points>(0, ctx.earned_today));
  if (total <= allowed) return;
  out.capped_points = total - allowed;
  std::pmr::vector<int64_t> shares(w.n, w.arena);
  apportion_into(line_total, allowed, shares);
  for (size_t i = 0; i < w.n; ++i) line_total[i] = shares[i];
  total = allowed;
}

}  // namespace

Result<EarnResult> compute_earn(const Program& program, const Basket& basket,
                                const EarnContext& ctx) {
  ACCRUE_TRY(validate_basket(basket));
  if (ctx.coupon_multiplier_bp != 0 &&
      (ctx.coupon_multiplier_bp < kOneX || ctx.coupon_multiplier_bp > kMaxMultiplierBp)) {
    return fail(ErrorCode::kInvalidArgument, "coupon multiplier: must be between 10000 (1x) and " +
                                                 std::to_string(kMaxMultiplierBp) +
                                                 " basis points");
  }
  const EarnRate* rate = program.earn_rate(basket.currency, ctx.country);
  if (rate == nullptr) {
    return refusal(ErrorCode::kFailedPrecondition, "earn.no_rate",
                   {{"currency", std::string(basket.currency.code())}},
                   "Points cannot be earned in " + std::string(basket.currency.code()) +
                       (ctx.country.empty() ? "" : " in " + std::string(ctx.country)) + ".");
  }
  if (!program.rule_index || program.rule_index->rule_count() != program.rules.size()) {
    return fail(ErrorCode::kFailedPrecondition,
                "program " + program.program_id + " was changed after validation");
  }

  const size_t n = basket.lines.size();
  EarnResult out;
  out.program_version = program.version;
  out.lines.reserve(n);
  for (const auto& l : basket.lines) out.lines.push_back({l.line_no, 0});

  // Working memory from the stack, spilling to the heap only for huge baskets.
  std::array<std::byte, size_t{24} * 1024> stack_buffer;
  std::pmr::monotonic_buffer_resource arena(stack_buffer.data(), stack_buffer.size());
  EarnWork w(basket, program.rules.size(), &arena);
  match_lines(*program.rule_index, w);
  if (auto min = threshold_for(program.min_basket, basket.currency);
      min && w.eligible_total < *min) {
    return out;
  }

  const int64_t local_ms =
      ctx.time_zone ? ctx.time_zone->to_local_ms(basket.occurred_at_ms) : basket.occurred_at_ms;
  apply_rules(program, ctx, local_ms, w, out.rules_fired);

  int64_t tier_bp = kOneX;
  if (auto idx = program.tier_index(ctx.tier_id)) {
    tier_bp = program.tiers.ladder[*idx].earn_multiplier_bp;
  }
  std::pmr::vector<int64_t> line_base(n, 0, &arena);
  ACCRUE_ASSIGN_OR_RETURN(const int128 base, base_points(program, *rate, tier_bp,
                                                         ctx.coupon_multiplier_bp, w, line_base));
  if (base + w.bonus_total > kMaxPoints) return too_many_points();
  out.base_points = static_cast<Points>(base);
  out.bonus_points = static_cast<Points>(w.bonus_total);
  Points total = out.base_points + out.bonus_points;
  std::pmr::vector<int128> line_total(n, &arena);
  for (size_t i = 0; i < n; ++i) line_total[i] = line_base[i] + w.line_bonus[i];
  apply_daily_cap(program, ctx, w, line_total, out, total);

  out.points = total;
  for (size_t i = 0; i < n; ++i) out.lines[i].points = static_cast<Points>(line_total[i]);
  return out;
}

}  // namespace accrue
