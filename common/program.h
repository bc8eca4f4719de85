// The loyalty program: one immutable, versioned set of rules that the store agent and the cloud
// both evaluate with the same code (invariant "one engine, one version", docs/architecture.md).
// Built from its protobuf form by program_from_proto (common/wire/loyalty_codec.h), which validates
// it; the engine functions assume a validated program.
//
// Units: points are int64; amounts are int64 minor units of the named currency; multipliers are
// basis points (10000 = 1x); durations are whole days or hours as named.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/money.h"

namespace accrue {

namespace detail {
struct RuleIndex;
}

using Points = int64_t;

inline constexpr int64_t kOneX = 10000;  // basis points of a 1x multiplier
inline constexpr int64_t kMaxMultiplierBp = 1000 * kOneX;
// A tier's point is worth at most 10x the programme's rate at redemption (more is a typo).
inline constexpr int64_t kMaxRedemptionValueBp = 10 * kOneX;
inline constexpr int64_t kMaxAmountMinor = 1'000'000'000'000'000;  // 10^15 per line / basket
inline constexpr int64_t kMaxPoints = 1'000'000'000'000'000;
inline constexpr size_t kMaxBasketLines = 1000;
inline constexpr size_t kMaxRules = 500;
inline constexpr int64_t kMaxQuantityMilli = 1'000'000'000;  // a million units

enum class RoundingMode { kFloor, kHalfEven };
enum class RoundingScope { kPerLine, kPerBasket };

// Rates are per currency, optionally narrowed to the stores of one country: a basket earns at
// the rate for its currency and its store's country when the programme has one, else at the
// currency's rate without a country (e.g. EUR 1/1.00 everywhere, EUR in IE 2/1.00).
struct EarnRate {
  Currency currency;
  Points points;  // `points` for every `per_minor_units` spent
  int64_t per_minor_units;
  std::string country = {};  // ISO 3166-1 alpha-2; empty: every country without its own rate
};

struct CurrencyThreshold {
  Currency currency;
  int64_t minor_units;
};

struct CampaignWindow {
  std::optional<int64_t> starts_local_ms;  // inclusive, local wall clock
  std::optional<int64_t> ends_local_ms;    // exclusive
  uint8_t days_of_week_mask = 0;           // bit (d-1) for ISO day d; 0 = every day
  int from_minute = 0;                     // inclusive
  int to_minute = 1440;                    // exclusive
};

enum class RuleEffect { kMultiplier, kBonus, kExclude };

struct EarningRule {
  std::string rule_id;
  std::string name;
  int32_t priority = 0;
  bool stop_after = false;
  RuleEffect effect = RuleEffect::kMultiplier;
  int64_t multiplier_bp = kOneX;  // kMultiplier
  Points bonus_points = 0;        // kBonus
  bool bonus_per_unit = false;    // kBonus
  std::vector<std::string> skus;
  std::vector<std::string> categories;
  std::vector<std::string> tiers;
  std::optional<CampaignWindow> window;
  std::vector<CurrencyThreshold> min_basket;
};

enum class TierBasis { kPointsEarned, kAmountSpent };

struct Tier {
  std::string tier_id;
  std::string name;
  int64_t threshold = 0;
  int64_t earn_multiplier_bp = kOneX;
  // What a point is worth at redemption for this tier, against the programme's rate (kOneX: as
  // the rate says; 12000: 100 points buy 1.20 where the rate gives 1.00).
  int64_t redemption_value_bp = kOneX;
};

struct TierPolicy {
  TierBasis basis = TierBasis::kPointsEarned;
  uint32_t window_days = 365;
  uint32_t downgrade_grace_days = 0;
  std::optional<Currency> spend_currency;
  std::vector<Tier> ladder;  // ascending thresholds, first is 0; may be empty (no tiers)
};

enum class ExpiryKind { kNever, kAfterDays, kEndOfMonth, kEndOfYear };

struct LotPolicy {
  uint32_t pending_days = 0;
  ExpiryKind expiry = ExpiryKind::kNever;
  uint32_t count = 0;
};

struct RedemptionRate {
  Currency currency;
  Points points;              // `points` are worth
  int64_t value_minor_units;  // this much of `currency`
  std::string country = {};   // as EarnRate::country
};

namespace detail {
// The country's own rate for the currency, else the currency's rate without a country.
template <typename Rate>
const Rate* rate_in(const std::vector<Rate>& rates, const Currency& c, std::string_view country) {
  const Rate* any = nullptr;
  for (const auto& r : rates) {
    if (r.currency != c) continue;
    if (!country.empty() && r.country == country) return &r;
    if (r.country.empty()) any = &r;
  }
  return any;
}
}  // namespace detail

struct RedemptionPolicy {
  std::vector<RedemptionRate> rates;
  Points min_points = 1;
  Points max_points = 0;          // 0 = no maximum
  Points step_points = 0;         // 0 = any amount
  bool refund_on_return = false;  // returns give back the points redeemed on their sale
};

struct OfflineLimits {
  Points max_points_per_redemption = 0;
  Points max_points_per_customer_per_day = 0;
  Points max_store_outstanding_points = 0;
  uint32_t max_hours_since_sync = 0;
  // Coupons a store accepts without the cloud's word before its uploads confirm them (the bound
  // on double use while offline); 0 = no bound.
  uint32_t max_store_offline_coupons = 0;
  // Offline-claimable rewards a store issues without the cloud's word before its uploads confirm
  // them (the bound on claims past the stock or a member's limit); 0 = no bound.
  uint32_t max_store_offline_claims = 0;
  // An overdraft (points two offline stores both honoured) is repaid by the member's next
  // earnings, or waits for head office to write it off.
  enum class Settlement { kRepayFromEarnings, kWriteOff };
  Settlement overdraft_settlement = Settlement::kRepayFromEarnings;
};

struct EventRules {
  Points enrolment_bonus_points = 0;
  Points birthday_bonus_points = 0;
  Points anniversary_bonus_points = 0;  // each anniversary of the enrolment, from the first
};

// A reward of the catalogue (loyalty.proto, Reward): what a claim costs and who may make it, and
// what the coupon it issues does to a basket (common/engine/rewards.h).
enum class RewardKind { kFixedDiscount, kPercentDiscount, kFreeItem, kPointsMultiplier, kGift };

inline constexpr size_t kMaxRewards = 500;
inline constexpr uint32_t kDefaultCouponValidDays = 30;

struct Reward {
  std::string reward_id;  // [a-z0-9-], 1..40
  std::string name;
  RewardKind kind = RewardKind::kGift;
  std::vector<CurrencyThreshold> amounts;  // kFixedDiscount: per currency
  int64_t percent_bp = 0;                  // kPercentDiscount: 1..10000
  std::vector<CurrencyThreshold> caps;     // kPercentDiscount: per currency, optional
  std::vector<std::string> skus;           // kFreeItem, sorted after validation
  int64_t multiplier_bp = 0;               // kPointsMultiplier
  std::string gift;                        // kGift: what is handed over
  Points cost_points = 0;
  std::vector<std::string> tiers;     // empty: every tier; sorted after validation
  std::vector<std::string> segments;  // empty: everyone; sorted after validation
  TimestampMs claim_from_ms = 0;      // 0: no start
  TimestampMs claim_until_ms = 0;     // 0: no end
  uint32_t coupon_valid_days = kDefaultCouponValidDays;
  int64_t stock = 0;              // coupons ever issued; 0: unlimited
  uint32_t per_member_limit = 0;  // 0: unlimited
  bool offline_claimable = false;
  std::vector<CurrencyThreshold> min_basket;
};

struct Program {
  std::string program_id;
  uint32_t version = 0;
  std::string name;
  std::string time_zone = "UTC";
  std::vector<EarnRate> earn_rates;
  RoundingMode rounding_mode = RoundingMode::kFloor;
  RoundingScope rounding_scope = RoundingScope::kPerLine;
  std::vector<std::string> excluded_skus;        // sorted after validation
  std::vector<std::string> excluded_categories;  // sorted after validation
  std::vector<CurrencyThreshold> min_basket;
  std::vector<EarningRule> rules;  // sorted by (priority, rule_id) after validation
  TierPolicy tiers;
  LotPolicy lots;
  RedemptionPolicy redemption;
  OfflineLimits offline_limits;
  Points daily_cap_points = 0;  // 0 = no cap
  EventRules event_rules;
  TimestampMs effective_from_ms = 0;
  struct Transfers {
    bool allowed = false;
    Points max_points = 0;  // per transfer; 0 = no limit
  } transfers;
  std::vector<Reward> rewards;  // sorted by reward_id after validation

  // Built by validate_and_normalize; the engine's lookup structure for the rules above. A
  // validated program is immutable: after changing it, validate it again.
  std::shared_ptr<const detail::RuleIndex> rule_index;

  // The rate for `c` in a store of `country` (see EarnRate); nullptr when there is none.
  const EarnRate* earn_rate(const Currency& c, std::string_view country = {}) const;
  const RedemptionRate* redemption_rate(const Currency& c, std::string_view country = {}) const;
  // Index in the ladder, or nullopt for an unknown tier id.
  std::optional<size_t> tier_index(std::string_view tier_id) const;
  // The catalogue's reward, or nullptr.
  const Reward* reward(std::string_view reward_id) const;
};

// Checks every limit and cross-reference, puts the program in canonical order (rules by
// priority then id, exclusion lists sorted, sku/category/tier lists sorted) and builds the
// engine's rule index. The first problem is
// returned as kInvalidArgument with a message naming the field, e.g.
// "rules[3].multiplier.basis_points: must be between 10000 and 10000000".
Result<void> validate_and_normalize(Program& program);

}  // namespace accrue
