#include "common/program.h"

#include "common/detail/rule_index.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>

namespace accrue {
namespace {

using Fail = std::unexpected<Error>;

Fail invalid(const std::string& field, const std::string& what) {
  return fail(ErrorCode::kInvalidArgument, field + ": " + what);
}

std::string at(std::string_view list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

Result<void> check_range(const std::string& field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return invalid(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return {};
}

Result<void> check_name_list(const std::string& field, std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || names[i].size() > 64) {
      return invalid(at(field, i), "must have 1 to 64 characters");
    }
  }
  std::ranges::sort(names);
  if (std::ranges::adjacent_find(names) != names.end()) {
    return invalid(field, "lists a value twice");
  }
  return {};
}

Result<void> check_thresholds(const std::string& field, const std::vector<CurrencyThreshold>& v) {
  std::set<std::string_view> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!seen.insert(v[i].currency.code()).second) {
      return invalid(at(field, i), "currency " + std::string(v[i].currency.code()) + " twice");
    }
    if (auto r = check_range(at(field, i) + ".minor_units", v[i].minor_units, 0, kMaxAmountMinor);
        !r) {
      return r;
    }
  }
  return {};
}

// Rates: one per currency and country at most; a country is upper-cased to ISO 3166-1 alpha-2.
template <typename Rate>
Result<void> check_rate_keys(const std::string& field, std::vector<Rate>& rates) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (size_t i = 0; i < rates.size(); ++i) {
    auto& country = rates[i].country;
    for (auto& ch : country) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!country.empty() && (country.size() != 2 || !std::ranges::all_of(country, [](char ch) {
                               return ch >= 'A' && ch <= 'Z';
                             }))) {
      return invalid(at(field, i) + ".country", "must be an ISO 3166-1 alpha-2 code like DE");
    }
  }
  for (size_t i = 0; i < rates.size(); ++i) {
    if (!seen.emplace(rates[i].currency.code(), rates[i].country).second) {
      return invalid(at(field, i), "currency " + std::string(rates[i].currency.code()) +
                                       (rates[i].country.empty() ? "" : " in " + rates[i].country) +
                                       " twice");
    }
  }
  return {};
}

Result<void> check_rule(const std::string& f, EarningRule& r, const Program& p) {
  if (r.rule_id.empty() || r.rule_id.size() > 64) {
    return invalid(f + ".rule_id", "must have 1 to 64 characters");
  }
  if (r.name.size() > 200) return invalid(f + ".name", "longer than 200 characters");
  switch (r.effect) {
    case RuleEffect::kMultiplier:
      ACCRUE_TRY(
          check_range(f + ".multiplier.basis_points", r.multiplier_bp, kOneX, kMaxMultiplierBp));
      break;
    case RuleEffect::kBonus:
      ACCRUE_TRY(check_range(f + ".bonus.points", r.bonus_points, 1, 1'000'000'000));
      break;
    case RuleEffect::kExclude:
      break;
  }
  ACCRUE_TRY(check_name_list(f + ".skus", r.skus));
  ACCRUE_TRY(check_name_list(f + ".categories", r.categories));
  ACCRUE_TRY(check_name_list(f + ".tiers", r.tiers));
  for (size_t i = 0; i < r.tiers.size(); ++i) {
    if (!p.tier_index(r.tiers[i])) {
      return invalid(at(f + ".tiers", i), "'" + r.tiers[i] + "' is not a tier of this program");
    }
  }
  if (r.window) {
    const CampaignWindow& w = *r.window;
    if (w.starts_local_ms && w.ends_local_ms && *w.starts_local_ms >= *w.ends_local_ms) {
      return invalid(f + ".window", "ends_local must be after starts_local");
    }
    if (w.from_minute < 0 || w.from_minute > 1439 || w.to_minute < 1 || w.to_minute > 1440 ||
        w.from_minute >= w.to_minute) {
      return invalid(f + ".window",
                     "from_minute_of_day must be before to_minute_of_day, within 0..1440");
    }
    if (w.days_of_week_mask > 0x7f) return invalid(f + ".window.days_of_week", "must be 1..7");
  }
  ACCRUE_TRY(check_thresholds(f + ".min_basket", r.min_basket));
  return {};
}

Result<void> check_reward(const std::string& f, Reward& r, const Program& p) {
  if (r.reward_id.empty() || r.reward_id.size() > 40 ||
      !std::ranges::all_of(r.reward_id, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    return invalid(f + ".reward_id", "must have 1 to 40 characters of a-z, 0-9 and '-'");
  }
  if (r.name.empty() || r.name.size() > 80) return invalid(f + ".name", "must have 1 to 80 bytes");
  switch (r.kind) {
    case RewardKind::kFixedDiscount:
      if (r.amounts.empty()) return invalid(f + ".fixed_discount.amounts", "name at least one");
      ACCRUE_TRY(check_thresholds(f + ".fixed_discount.amounts", r.amounts));
      for (size_t i = 0; i < r.amounts.size(); ++i) {
        ACCRUE_TRY(check_range(at(f + ".fixed_discount.amounts", i) + ".minor_units",
                               r.amounts[i].minor_units, 1, kMaxAmountMinor));
      }
      break;
    case RewardKind::kPercentDiscount:
      ACCRUE_TRY(check_range(f + ".percent_discount.basis_points", r.percent_bp, 1, kOneX));
      ACCRUE_TRY(check_thresholds(f + ".percent_discount.caps", r.caps));
      break;
    case RewardKind::kFreeItem:
      if (r.skus.empty()) return invalid(f + ".free_item.skus", "name at least one");
      ACCRUE_TRY(check_name_list(f + ".free_item.skus", r.skus));
      break;
    case RewardKind::kPointsMultiplier:
      ACCRUE_TRY(check_range(f + ".points_multiplier.basis_points", r.multiplier_bp, kOneX + 1,
                             10 * kOneX));
      break;
    case RewardKind::kGift:
      if (r.gift.empty() || r.gift.size() > 200) {
        return invalid(f + ".gift.description", "must have 1 to 200 bytes");
      }
      break;
  }
  ACCRUE_TRY(check_range(f + ".cost_points", r.cost_points, 0, kMaxPoints));
  ACCRUE_TRY(check_name_list(f + ".tiers", r.tiers));
  for (size_t i = 0; i < r.tiers.size(); ++i) {
    if (!p.tier_index(r.tiers[i])) return invalid(at(f + ".tiers", i), "no such tier");
  }
  ACCRUE_TRY(check_name_list(f + ".segments", r.segments));
  if (r.claim_from_ms < 0 || r.claim_until_ms < 0 ||
      (r.claim_until_ms != 0 && r.claim_until_ms <= r.claim_from_ms)) {
    return invalid(f + ".claim_until_ms", "must be after claim_from_ms (or 0: no end)");
  }
  if (r.coupon_valid_days == 0) r.coupon_valid_days = kDefaultCouponValidDays;
  ACCRUE_TRY(check_range(f + ".coupon_valid_days", r.coupon_valid_days, 1, 3660));
  ACCRUE_TRY(check_range(f + ".stock", r.stock, 0, 1'000'000'000));
  ACCRUE_TRY(check_range(f + ".per_member_limit", r.per_member_limit, 0, 1'000'000));
  ACCRUE_TRY(check_thresholds(f + ".min_basket", r.min_basket));
  return {};
}

}  // namespace

const Reward* Program::reward(std::string_view reward_id) const {
  auto it = std::ranges::lower_bound(rewards, reward_id, {}, &Reward::reward_id);
  return it != rewards.end() && it->reward_id == reward_id ? &*it : nullptr;
}

const EarnRate* Program::earn_rate(const Currency& c, std::string_view country) const {
  return detail::rate_in(earn_rates, c, country);
}

const RedemptionRate* Program::redemption_rate(const Currency& c, std::string_view country) const {
  return detail::rate_in(redemption.rates, c, country);
}

std::optional<size_t> Program::tier_index(std::string_view tier_id) const {
  for (size_t i = 0; i < tiers.ladder.size(); ++i) {
    if (tiers.ladder[i].tier_id == tier_id) return i;
  }
  return std::nullopt;
}

Result<void> validate_and_normalize(Program& p) {
  if (p.program_id.empty() || p.program_id.size() > 64) {
    return invalid("program_id", "must have 1 to 64 characters");
  }
  if (p.version == 0) return invalid("version", "must be 1 or more");
  if (p.name.size() > 200) return invalid("name", "longer than 200 characters");
  if (p.time_zone.empty() || p.time_zone.size() > 64) {
    return invalid("time_zone", "must be an IANA name like Europe/Warsaw");
  }

  if (p.earn_rates.empty()) return invalid("earn_rates", "needs at least one currency");
  ACCRUE_TRY(check_rate_keys("earn_rates", p.earn_rates));
  {
    for (size_t i = 0; i < p.earn_rates.size(); ++i) {
      const auto& r = p.earn_rates[i];
      std::string f = at("earn_rates", i);
      ACCRUE_TRY(check_range(f + ".points", r.points, 0, 1'000'000));
      ACCRUE_TRY(check_range(f + ".per_minor_units", r.per_minor_units, 1, 1'000'000'000));
    }
  }
  ACCRUE_TRY(check_name_list("excluded_skus", p.excluded_skus));
  ACCRUE_TRY(check_name_list("excluded_categories", p.excluded_categories));
  ACCRUE_TRY(check_thresholds("min_basket", p.min_basket));

  // Tiers first: rules refer to them.
  TierPolicy& t = p.tiers;
  ACCRUE_TRY(check_range("tiers.window_days", t.window_days, 1, 3660));
  ACCRUE_TRY(check_range("tiers.downgrade_grace_days", t.downgrade_grace_days, 0, 3660));
  if (t.basis == TierBasis::kAmountSpent && !t.spend_currency && !t.ladder.empty()) {
    return invalid("tiers.spend_currency", "is required when tiers are based on amount spent");
  }
  {
    std::set<std::string_view> ids;
    for (size_t i = 0; i < t.ladder.size(); ++i) {
      Tier& tier = t.ladder[i];
      std::string f = at("tiers.ladder", i);
      if (tier.tier_id.empty() || tier.tier_id.size() > 64) {
        return invalid(f + ".tier_id", "must have 1 to 64 characters");
      }
      if (!ids.insert(tier.tier_id).second) return invalid(f + ".tier_id", "used twice");
      if (tier.earn_multiplier_bp == 0) tier.earn_multiplier_bp = kOneX;
      ACCRUE_TRY(
          check_range(f + ".earn_multiplier_bp", tier.earn_multiplier_bp, kOneX, kMaxMultiplierBp));
      if (tier.redemption_value_bp == 0) tier.redemption_value_bp = kOneX;
      ACCRUE_TRY(check_range(f + ".redemption_value_bp", tier.redemption_value_bp, kOneX,
                             kMaxRedemptionValueBp));
      if (i == 0 && tier.threshold != 0) return invalid(f + ".threshold", "must be 0");
      if (i > 0 && tier.threshold <= t.ladder[i - 1].threshold) {
        return invalid(f + ".threshold", "must be above the previous tier's");
      }
      ACCRUE_TRY(check_range(f + ".threshold", tier.threshold, 0, kMaxPoints));
    }
  }

  if (p.rules.size() > kMaxRules) {
    return invalid("rules", "at most " + std::to_string(kMaxRules) + " rules");
  }
  {
    std::set<std::string_view> ids;
    for (size_t i = 0; i < p.rules.size(); ++i) {
      ACCRUE_TRY(check_rule(at("rules", i), p.rules[i], p));
      if (!ids.insert(p.rules[i].rule_id).second) {
        return invalid(at("rules", i) + ".rule_id", "used twice");
      }
    }
  }
  std::ranges::sort(p.rules, [](const EarningRule& a, const EarningRule& b) {
    return std::tie(a.priority, a.rule_id) < std::tie(b.priority, b.rule_id);
  });

  LotPolicy& l = p.lots;
  ACCRUE_TRY(check_range("lots.pending_days", l.pending_days, 0, 365));
  switch (l.expiry) {
    case ExpiryKind::kNever:
      break;
    case ExpiryKind::kAfterDays:
      ACCRUE_TRY(check_range("lots.count", l.count, 1, 36500));
      break;
    case ExpiryKind::kEndOfMonth:
      ACCRUE_TRY(check_range("lots.count", l.count, 0, 1200));
      break;
    case ExpiryKind::kEndOfYear:
      ACCRUE_TRY(check_range("lots.count", l.count, 0, 100));
      break;
  }

  RedemptionPolicy& rp = p.redemption;
  ACCRUE_TRY(check_rate_keys("redemption.rates", rp.rates));
  {
    for (size_t i = 0; i < rp.rates.size(); ++i) {
      const auto& r = rp.rates[i];
      std::string f = at("redemption.rates", i);
      ACCRUE_TRY(check_range(f + ".points", r.points, 1, 1'000'000'000));
      ACCRUE_TRY(check_range(f + ".value_minor_units", r.value_minor_units, 1, 1'000'000'000'000));
    }
  }
  ACCRUE_TRY(check_range("redemption.min_points", rp.min_points, 1, kMaxPoints));
  if (rp.max_points != 0) {
    ACCRUE_TRY(check_range("redemption.max_points", rp.max_points, rp.min_points, kMaxPoints));
  }
  ACCRUE_TRY(check_range("redemption.step_points", rp.step_points, 0, 1'000'000'000));

  const OfflineLimits& o = p.offline_limits;
  ACCRUE_TRY(check_range("offline_limits.max_points_per_redemption", o.max_points_per_redemption, 0,
                         kMaxPoints));
  ACCRUE_TRY(check_range("offline_limits.max_points_per_customer_per_day",
                         o.max_points_per_customer_per_day, 0, kMaxPoints));
  ACCRUE_TRY(check_range("offline_limits.max_store_outstanding_points",
                         o.max_store_outstanding_points, 0, kMaxPoints));
  ACCRUE_TRY(
      check_range("offline_limits.max_hours_since_sync", o.max_hours_since_sync, 0, 24 * 366));
  ACCRUE_TRY(check_range("offline_limits.max_store_offline_coupons", o.max_store_offline_coupons, 0,
                         1'000'000));
  ACCRUE_TRY(check_range("offline_limits.max_store_offline_claims", o.max_store_offline_claims, 0,
                         1'000'000));
  ACCRUE_TRY(check_range("daily_cap_points", p.daily_cap_points, 0, kMaxPoints));
  ACCRUE_TRY(check_range("event_rules.enrolment_bonus_points", p.event_rules.enrolment_bonus_points,
                         0, 1'000'000'000));
  ACCRUE_TRY(check_range("event_rules.birthday_bonus_points", p.event_rules.birthday_bonus_points,
                         0, 1'000'000'000));
  ACCRUE_TRY(check_range("event_rules.anniversary_bonus_points",
                         p.event_rules.anniversary_bonus_points, 0, 1'000'000'000));
  if (p.rewards.size() > kMaxRewards) {
    return invalid("rewards", "at most " + std::to_string(kMaxRewards) + " rewards");
  }
  for (size_t i = 0; i < p.rewards.size(); ++i)
    ACCRUE_TRY(check_reward(at("rewards", i), p.rewards[i], p));
  std::ranges::sort(p.rewards, {}, &Reward::reward_id);
  if (auto dup = std::ranges::adjacent_find(p.rewards, {}, &Reward::reward_id);
      dup != p.rewards.end()) {
    return invalid("rewards", "reward_id " + dup->reward_id + " is used twice");
  }
  p.rule_index = detail::RuleIndex::build(p);
  return {};
}

}  // namespace accrue
