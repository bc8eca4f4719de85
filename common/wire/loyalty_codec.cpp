#include "common/wire/loyalty_codec.h"

#include <google/protobuf/util/json_util.h>

#include "common/civil_time.h"

namespace accrue::wire {
namespace {

namespace pb = accrue::loyalty::v1;
using Fail = std::unexpected<Error>;

Fail invalid(const std::string& field, const std::string& what) {
  return fail(ErrorCode::kInvalidArgument, field + ": " + what);
}

std::string at(std::string_view list, int i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

Result<Currency> currency(const std::string& field, const std::string& code) {
  auto c = Currency::from_code(code);
  if (!c) return invalid(field, c.error().message);
  return *c;
}

template <typename T>
std::vector<std::string> strings(const T& repeated) {
  return {repeated.begin(), repeated.end()};
}

Result<std::vector<CurrencyThreshold>> thresholds(
    const std::string& field, const google::protobuf::RepeatedPtrField<pb::CurrencyAmount>& in) {
  std::vector<CurrencyThreshold> out;
  for (int i = 0; i < in.size(); ++i) {
    ACCRUE_ASSIGN_OR_RETURN(auto c, currency(at(field, i) + ".currency", in[i].currency()));
    out.push_back({c, in[i].minor_units()});
  }
  return out;
}

void thresholds_to(const std::vector<CurrencyThreshold>& in,
                   google::protobuf::RepeatedPtrField<pb::CurrencyAmount>* out) {
  for (const auto& t : in) {
    auto* e = out->Add();
    e->set_currency(std::string(t.currency.code()));
    e->set_minor_units(t.minor_units);
  }
}

Result<CampaignWindow> window_from(const std::string& f, const pb::CampaignWindow& w) {
  CampaignWindow out;
  if (!w.starts_local().empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto v, parse_local_datetime(w.starts_local(), f + ".starts_local"));
    out.starts_local_ms = v;
  }
  if (!w.ends_local().empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto v, parse_local_datetime(w.ends_local(), f + ".ends_local"));
    out.ends_local_ms = v;
  }
  for (uint32_t d : w.days_of_week()) {
    if (d < 1 || d > 7) return invalid(f + ".days_of_week", "days are 1 (Monday) to 7 (Sunday)");
    out.days_of_week_mask = static_cast<uint8_t>(out.days_of_week_mask | (1u << (d - 1)));
  }
  if (w.from_minute_of_day() > 1439) return invalid(f + ".from_minute_of_day", "must be 0..1439");
  if (w.to_minute_of_day() > 1440) return invalid(f + ".to_minute_of_day", "must be 0..1440");
  out.from_minute = static_cast<int>(w.from_minute_of_day());
  out.to_minute = w.to_minute_of_day() == 0 ? 1440 : static_cast<int>(w.to_minute_of_day());
  return out;
}

pb::CampaignWindow window_to(const CampaignWindow& w) {
  pb::CampaignWindow out;
  if (w.starts_local_ms) out.set_starts_local(format_local_datetime(*w.starts_local_ms));
  if (w.ends_local_ms) out.set_ends_local(format_local_datetime(*w.ends_local_ms));
  for (uint32_t d = 1; d <= 7; ++d) {
    if (w.days_of_week_mask & (1u << (d - 1))) out.add_days_of_week(d);
  }
  out.set_from_minute_of_day(static_cast<uint32_t>(w.from_minute));
  out.set_to_minute_of_day(w.to_minute == 1440 ? 0 : static_cast<uint32_t>(w.to_minute));
  return out;
}

Result<EarningRule> rule_from(const std::string& f, const pb::EarningRule& r) {
  EarningRule out;
  out.rule_id = r.rule_id();
  out.name = r.name();
  out.priority = r.priority();
  out.stop_after = r.stop_after();
  switch (r.effect_case()) {
    case pb::EarningRule::kMultiplier:
      out.effect = RuleEffect::kMultiplier;
      out.multiplier_bp = r.multiplier().basis_points();
      break;
    case pb::EarningRule::kBonus:
      out.effect = RuleEffect::kBonus;
      out.bonus_points = r.bonus().points();
      out.bonus_per_unit = r.bonus().per_unit();
      break;
    case pb::EarningRule::kExclude:
      out.effect = RuleEffect::kExclude;
      break;
    case pb::EarningRule::EFFECT_NOT_SET:
      return invalid(f, "needs an effect: multiplier, bonus or exclude");
  }
  out.skus = strings(r.skus());
  out.categories = strings(r.categories());
  out.tiers = strings(r.tiers());
  if (r.has_window()) {
    ACCRUE_ASSIGN_OR_RETURN(auto w, window_from(f + ".window", r.window()));
    out.window = w;
  }
  ACCRUE_ASSIGN_OR_RETURN(auto mb, thresholds(f + ".min_basket", r.min_basket()));
  out.min_basket = std::move(mb);
  return out;
}

}  // namespace

Result<Money> money_from_proto(const pb::Money& m) {
  ACCRUE_ASSIGN_OR_RETURN(auto c, currency("currency", m.currency()));
  return Money(m.minor_units(), c);
}

pb::Money money_to_proto(const Money& m) {
  pb::Money out;
  out.set_minor_units(m.minor_units());
  out.set_currency(std::string(m.currency().code()));
  return out;
}

Result<Basket> basket_from_proto(const pb::Basket& b) {
  ACCRUE_ASSIGN_OR_RETURN(auto c, currency("currency", b.currency()));
  Basket out{c, {}, b.occurred_at_ms()};
  if (b.lines_size() > static_cast<int>(kMaxBasketLines)) {
    return invalid("lines", "at most " + std::to_string(kMaxBasketLines) + " lines in a basket");
  }
  out.lines.reserve(static_cast<size_t>(b.lines_size()));
  for (const auto& l : b.lines()) {
    out.lines.push_back(
        {l.line_no(), l.sku(), strings(l.categories()), l.quantity_milli(), l.amount_minor()});
  }
  ACCRUE_TRY(validate_basket(out));
  return out;
}

pb::Basket basket_to_proto(const Basket& b) {
  pb::Basket out;
  out.set_currency(std::string(b.currency.code()));
  out.set_occurred_at_ms(b.occurred_at_ms);
  for (const auto& l : b.lines) {
    auto* pl = out.add_lines();
    pl->set_line_no(l.line_no);
    pl->set_sku(l.sku);
    for (const auto& c : l.categories) pl->add_categories(c);
    pl->set_quantity_milli(l.quantity_milli);
    pl->set_amount_minor(l.amount_minor);
  }
  return out;
}

Result<Reward> reward_from(const std::string& f, const pb::Reward& r) {
  Reward out;
  out.reward_id = r.reward_id();
  out.name = r.name();
  switch (r.effect_case()) {
    case pb::Reward::kFixedDiscount: {
      out.kind = RewardKind::kFixedDiscount;
      ACCRUE_ASSIGN_OR_RETURN(
          auto a, thresholds(f + ".fixed_discount.amounts", r.fixed_discount().amounts()));
      out.amounts = std::move(a);
      break;
    }
    case pb::Reward::kPercentDiscount: {
      out.kind = RewardKind::kPercentDiscount;
      out.percent_bp = r.percent_discount().basis_points();
      ACCRUE_ASSIGN_OR_RETURN(
          auto c, thresholds(f + ".percent_discount.caps", r.percent_discount().caps()));
      out.caps = std::move(c);
      break;
    }
    case pb::Reward::kFreeItem:
      out.kind = RewardKind::kFreeItem;
      out.skus = strings(r.free_item().skus());
      break;
    case pb::Reward::kPointsMultiplier:
      out.kind = RewardKind::kPointsMultiplier;
      out.multiplier_bp = r.points_multiplier().basis_points();
      break;
    case pb::Reward::kGift:
      out.kind = RewardKind::kGift;
      out.gift = r.gift().description();
      break;
    case pb::Reward::EFFECT_NOT_SET:
      return invalid(f,
                     "give its effect: fixed_discount, percent_discount, free_item, "
                     "points_multiplier or gift");
  }
  out.cost_points = r.cost_points();
  out.tiers = strings(r.tiers());
  out.segments = strings(r.segments());
  out.claim_from_ms = r.claim_from_ms();
  out.claim_until_ms = r.claim_until_ms();
  out.coupon_valid_days = r.coupon_valid_days();
  out.stock = r.stock();
  out.per_member_limit = r.per_member_limit();
  out.offline_claimable = r.offline_claimable();
  ACCRUE_ASSIGN_OR_RETURN(auto mb, thresholds(f + ".min_basket", r.min_basket()));
  out.min_basket = std::move(mb);
  return out;
}

void reward_to(const Reward& r, pb::Reward* out) {
  out->set_reward_id(r.reward_id);
  out->set_name(r.name);
  switch (r.kind) {
    case RewardKind::kFixedDiscount:
      thresholds_to(r.amounts, out->mutable_fixed_discount()->mutable_amounts());
      break;
    case RewardKind::kPercentDiscount:
      out->mutable_percent_discount()->set_basis_points(r.percent_bp);
      thresholds_to(r.caps, out->mutable_percent_discount()->mutable_caps());
      break;
    case RewardKind::kFreeItem:
      for (const auto& s : r.skus) out->mutable_free_item()->add_skus(s);
      break;
    case RewardKind::kPointsMultiplier:
      out->mutable_points_multiplier()->set_basis_points(r.multiplier_bp);
      break;
    case RewardKind::kGift:
      out->mutable_gift()->set_description(r.gift);
      break;
  }
  out->set_cost_points(r.cost_points);
  for (const auto& t : r.tiers) out->add_tiers(t);
  for (const auto& s : r.segments) out->add_segments(s);
  out->set_claim_from_ms(r.claim_from_ms);
  out->set_claim_until_ms(r.claim_until_ms);
  out->set_coupon_valid_days(r.coupon_valid_days);
  out->set_stock(r.stock);
  out->set_per_member_limit(r.per_member_limit);
  out->set_offline_claimable(r.offline_claimable);
  thresholds_to(r.min_basket, out->mutable_min_basket());
}

Result<Program> program_from_proto(const pb::Program& p) {
  Program out;
  out.program_id = p.program_id();
  out.version = p.version();
  out.name = p.name();
  out.time_zone = p.time_zone().empty() ? "UTC" : p.time_zone();
  for (int i = 0; i < p.earn_rates_size(); ++i) {
    const auto& r = p.earn_rates(i);
    ACCRUE_ASSIGN_OR_RETURN(auto c, currency(at("earn_rates", i) + ".currency", r.currency()));
    out.earn_rates.push_back({c, r.points(), r.per_minor_units(), r.country()});
  }
  switch (p.rounding().mode()) {
    case pb::ROUNDING_MODE_UNSPECIFIED:
    case pb::ROUNDING_MODE_FLOOR:
      out.rounding_mode = RoundingMode::kFloor;
      break;
    case pb::ROUNDING_MODE_HALF_EVEN:
      out.rounding_mode = RoundingMode::kHalfEven;
      break;
    default:
      return invalid("rounding.mode", "unknown value");
  }
  switch (p.rounding().scope()) {
    case pb::ROUNDING_SCOPE_UNSPECIFIED:
    case pb::ROUNDING_SCOPE_PER_LINE:
      out.rounding_scope = RoundingScope::kPerLine;
      break;
    case pb::ROUNDING_SCOPE_PER_BASKET:
      out.rounding_scope = RoundingScope::kPerBasket;
      break;
    default:
      return invalid("rounding.scope", "unknown value");
  }
  out.excluded_skus = strings(p.excluded_skus());
  out.excluded_categories = strings(p.excluded_categories());
  ACCRUE_ASSIGN_OR_RETURN(auto mb, thresholds("min_basket", p.min_basket()));
  out.min_basket = std::move(mb);
  if (p.rules_size() > static_cast<int>(kMaxRules)) {
    return invalid("rules", "at most " + std::to_string(kMaxRules) + " rules");
  }
  for (int i = 0; i < p.rules_size(); ++i) {
    ACCRUE_ASSIGN_OR_RETURN(auto r, rule_from(at("rules", i), p.rules(i)));
    out.rules.push_back(std::move(r));
  }

  const auto& t = p.tiers();
  switch (t.basis()) {
    case pb::TIER_BASIS_UNSPECIFIED:
    case pb::TIER_BASIS_POINTS_EARNED:
      out.tiers.basis = TierBasis::kPointsEarned;
      break;
    case pb::TIER_BASIS_AMOUNT_SPENT:
      out.tiers.basis = TierBasis::kAmountSpent;
      break;
    default:
      return invalid("tiers.basis", "unknown value");
  }
  out.tiers.window_days = t.window_days() == 0 ? 365 : t.window_days();
  out.tiers.downgrade_grace_days = t.downgrade_grace_days();
  if (!t.spend_currency().empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto c, currency("tiers.spend_currency", t.spend_currency()));
    out.tiers.spend_currency = c;
  }
  for (const auto& tier : t.ladder()) {
    out.tiers.ladder.push_back({tier.tier_id(), tier.name(), tier.threshold(),
                                tier.earn_multiplier_bp(), tier.redemption_value_bp()});
  }

  const auto& l = p.lots();
  out.lots.pending_days = l.pending_days();
  out.lots.count = l.count();
  switch (l.expiry()) {
    case pb::EXPIRY_KIND_UNSPECIFIED:
    case pb::EXPIRY_KIND_NEVER:
      out.lots.expiry = ExpiryKind::kNever;
      break;
    case pb::EXPIRY_KIND_AFTER_DAYS:
      out.lots.expiry = ExpiryKind::kAfterDays;
      break;
    case pb::EXPIRY_KIND_END_OF_MONTH:
      out.lots.expiry = ExpiryKind::kEndOfMonth;
      break;
    case pb::EXPIRY_KIND_END_OF_YEAR:
      out.lots.expiry = ExpiryKind::kEndOfYear;
      break;
    default:
      return invalid("lots.expiry", "unknown value");
  }

  const auto& rp = p.redemption();
  for (int i = 0; i < rp.rates_size(); ++i) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto c, currency(at("redemption.rates", i) + ".currency", rp.rates(i).currency()));
    out.redemption.rates.push_back(
        {c, rp.rates(i).points(), rp.rates(i).value_minor_units(), rp.rates(i).country()});
  }
  out.redemption.min_points = rp.min_points() == 0 ? 1 : rp.min_points();
  out.redemption.max_points = rp.max_points();
  out.redemption.step_points = rp.step_points();
  out.redemption.refund_on_return = rp.refund_on_return();

  const auto& o = p.offline_limits();
  out.offline_limits = {o.max_points_per_redemption(),
                        o.max_points_per_customer_per_day(),
                        o.max_store_outstanding_points(),
                        o.max_hours_since_sync(),
                        o.max_store_offline_coupons(),
                        o.max_store_offline_claims(),
                        o.overdraft_settlement() == pb::OVERDRAFT_SETTLEMENT_WRITE_OFF
                            ? OfflineLimits::Settlement::kWriteOff
                            : OfflineLimits::Settlement::kRepayFromEarnings};
  out.daily_cap_points = p.daily_cap_points();
  out.event_rules = {p.event_rules().enrolment_bonus_points(),
                     p.event_rules().birthday_bonus_points(),
                     p.event_rules().anniversary_bonus_points()};
  out.effective_from_ms = p.effective_from_ms();
  out.transfers = {p.transfers().allowed(), p.transfers().max_points()};
  if (out.transfers.max_points < 0) {
    return fail(ErrorCode::kInvalidArgument, "transfers.max_points: must not be negative");
  }
  if (p.rewards_size() > static_cast<int>(kMaxRewards)) {
    return invalid("rewards", "at most " + std::to_string(kMaxRewards) + " rewards");
  }
  for (int i = 0; i < p.rewards_size(); ++i) {
    ACCRUE_ASSIGN_OR_RETURN(auto r, reward_from(at("rewards", i), p.rewards(i)));
    out.rewards.push_back(std::move(r));
  }
  ACCRUE_TRY(validate_and_normalize(out));
  return out;
}

pb::Program program_to_proto(const Program& p) {
  pb::Program out;
  out.set_program_id(p.program_id);
  out.set_version(p.version);
  out.set_name(p.name);
  out.set_time_zone(p.time_zone);
  for (const auto& r : p.earn_rates) {
    auto* e = out.add_earn_rates();
    e->set_currency(std::string(r.currency.code()));
    e->set_points(r.points);
    e->set_per_minor_units(r.per_minor_units);
    e->set_country(r.country);
  }
  out.mutable_rounding()->set_mode(p.rounding_mode == RoundingMode::kFloor
                                       ? pb::ROUNDING_MODE_FLOOR
                                       : pb::ROUNDING_MODE_HALF_EVEN);
  out.mutable_rounding()->set_scope(p.rounding_scope == RoundingScope::kPerLine
                                        ? pb::ROUNDING_SCOPE_PER_LINE
                                        : pb::ROUNDING_SCOPE_PER_BASKET);
  for (const auto& s : p.excluded_skus) out.add_excluded_skus(s);
  for (const auto& s : p.excluded_categories) out.add_excluded_categories(s);
  thresholds_to(p.min_basket, out.mutable_min_basket());
  for (const auto& r : p.rules) {
    auto* pr = out.add_rules();
    pr->set_rule_id(r.rule_id);
    pr->set_name(r.name);
    pr->set_priority(r.priority);
    pr->set_stop_after(r.stop_after);
    switch (r.effect) {
      case RuleEffect::kMultiplier:
        pr->mutable_multiplier()->set_basis_points(r.multiplier_bp);
        break;
      case RuleEffect::kBonus:
        pr->mutable_bonus()->set_points(r.bonus_points);
        pr->mutable_bonus()->set_per_unit(r.bonus_per_unit);
        break;
      case RuleEffect::kExclude:
        pr->mutable_exclude();
        break;
    }
    for (const auto& s : r.skus) pr->add_skus(s);
    for (const auto& s : r.categories) pr->add_categories(s);
    for (const auto& s : r.tiers) pr->add_tiers(s);
    if (r.window) *pr->mutable_window() = window_to(*r.window);
    thresholds_to(r.min_basket, pr->mutable_min_basket());
  }
  auto* t = out.mutable_tiers();
  t->set_basis(p.tiers.basis == TierBasis::kPointsEarned ? pb::TIER_BASIS_POINTS_EARNED
                                                         : pb::TIER_BASIS_AMOUNT_SPENT);
  t->set_window_days(p.tiers.window_days);
  t->set_downgrade_grace_days(p.tiers.downgrade_grace_days);
  if (p.tiers.spend_currency) t->set_spend_currency(std::string(p.tiers.spend_currency->code()));
  for (const auto& tier : p.tiers.ladder) {
    auto* pt = t->add_ladder();
    pt->set_tier_id(tier.tier_id);
    pt->set_name(tier.name);
    pt->set_threshold(tier.threshold);
    pt->set_earn_multiplier_bp(tier.earn_multiplier_bp);
    // 1x stays unset, so a programme that does not use it keeps the bytes it had.
    if (tier.redemption_value_bp != kOneX) pt->set_redemption_value_bp(tier.redemption_value_bp);
  }
  auto* l = out.mutable_lots();
  l->set_pending_days(p.lots.pending_days);
  l->set_count(p.lots.count);
  switch (p.lots.expiry) {
    case ExpiryKind::kNever:
      l->set_expiry(pb::EXPIRY_KIND_NEVER);
      break;
    case ExpiryKind::kAfterDays:
      l->set_expiry(pb::EXPIRY_KIND_AFTER_DAYS);
      break;
    case ExpiryKind::kEndOfMonth:
      l->set_expiry(pb::EXPIRY_KIND_END_OF_MONTH);
      break;
    case ExpiryKind::kEndOfYear:
      l->set_expiry(pb::EXPIRY_KIND_END_OF_YEAR);
      break;
  }
  auto* rp = out.mutable_redemption();
  for (const auto& r : p.redemption.rates) {
    auto* pr = rp->add_rates();
    pr->set_currency(std::string(r.currency.code()));
    pr->set_points(r.points);
    pr->set_value_minor_units(r.value_minor_units);
    pr->set_country(r.country);
  }
  rp->set_min_points(p.redemption.min_points);
  rp->set_max_points(p.redemption.max_points);
  rp->set_step_points(p.redemption.step_points);
  rp->set_refund_on_return(p.redemption.refund_on_return);
  auto* o = out.mutable_offline_limits();
  o->set_max_points_per_redemption(p.offline_limits.max_points_per_redemption);
  o->set_max_points_per_customer_per_day(p.offline_limits.max_points_per_customer_per_day);
  o->set_max_store_outstanding_points(p.offline_limits.max_store_outstanding_points);
  o->set_max_hours_since_sync(p.offline_limits.max_hours_since_sync);
  o->set_max_store_offline_coupons(p.offline_limits.max_store_offline_coupons);
  o->set_max_store_offline_claims(p.offline_limits.max_store_offline_claims);
  o->set_overdraft_settlement(
      p.offline_limits.overdraft_settlement == OfflineLimits::Settlement::kWriteOff
          ? pb::OVERDRAFT_SETTLEMENT_WRITE_OFF
          : pb::OVERDRAFT_SETTLEMENT_UNSPECIFIED);  // the default: programmes encode as before
  out.set_daily_cap_points(p.daily_cap_points);
  out.mutable_event_rules()->set_enrolment_bonus_points(p.event_rules.enrolment_bonus_points);
  out.mutable_event_rules()->set_birthday_bonus_points(p.event_rules.birthday_bonus_points);
  out.mutable_event_rules()->set_anniversary_bonus_points(p.event_rules.anniversary_bonus_points);
  if (p.transfers.allowed || p.transfers.max_points != 0) {
    out.mutable_transfers()->set_allowed(p.transfers.allowed);
    out.mutable_transfers()->set_max_points(p.transfers.max_points);
  }
  out.set_effective_from_ms(p.effective_from_ms);
  for (const auto& r : p.rewards) reward_to(r, out.add_rewards());
  return out;
}

Result<CustomerSnapshot> customer_from_proto(const pb::CustomerSnapshot& c) {
  CustomerSnapshot out;
  out.customer_id = c.customer_id();
  switch (c.status()) {
    case pb::CUSTOMER_STATUS_ACTIVE:
      out.status = CustomerStatus::kActive;
      break;
    case pb::CUSTOMER_STATUS_BLOCKED:
      out.status = CustomerStatus::kBlocked;
      break;
    case pb::CUSTOMER_STATUS_PROVISIONAL:
      out.status = CustomerStatus::kProvisional;
      break;
    default:
      return invalid("status", "must be active, blocked or provisional");
  }
  if (c.display_name().size() > 100) return invalid("display_name", "longer than 100 bytes");
  if (c.birthday_month() > 12 || c.birthday_day() > 31 ||
      ((c.birthday_month() == 0) != (c.birthday_day() == 0))) {
    return invalid("birthday", "month 1..12 and day 1..31, or both 0");
  }
  out.tier_id = c.tier_id();
  out.display_name = c.display_name();
  out.home_store_id = c.home_store_id();
  out.available_points = c.available_points();
  out.pending_points = c.pending_points();
  out.as_of_ms = c.as_of_ms();
  out.birthday_month = static_cast<int>(c.birthday_month());
  out.birthday_day = static_cast<int>(c.birthday_day());
  return out;
}

pb::CustomerSnapshot customer_to_proto(const CustomerSnapshot& c) {
  pb::CustomerSnapshot out;
  out.set_customer_id(c.customer_id);
  switch (c.status) {
    case CustomerStatus::kActive:
      out.set_status(pb::CUSTOMER_STATUS_ACTIVE);
      break;
    case CustomerStatus::kBlocked:
      out.set_status(pb::CUSTOMER_STATUS_BLOCKED);
      break;
    case CustomerStatus::kProvisional:
      out.set_status(pb::CUSTOMER_STATUS_PROVISIONAL);
      break;
    case CustomerStatus::kErased:  // never sent: the change feed removes such a member
    case CustomerStatus::kMerged:
      out.set_status(pb::CUSTOMER_STATUS_UNSPECIFIED);
      break;
  }
  out.set_tier_id(c.tier_id);
  out.set_display_name(c.display_name);
  out.set_home_store_id(c.home_store_id);
  out.set_available_points(c.available_points);
  out.set_pending_points(c.pending_points);
  out.set_as_of_ms(c.as_of_ms);
  out.set_birthday_month(static_cast<uint32_t>(c.birthday_month));
  out.set_birthday_day(static_cast<uint32_t>(c.birthday_day));
  return out;
}

Result<Program> program_from_json(std::string_view json) {
  pb::Program p;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &p, opts);
  if (!st.ok()) {
    return fail(ErrorCode::kInvalidArgument, "program JSON: " + std::string(st.message()));
  }
  return program_from_proto(p);
}

std::string program_to_json(const Program& p) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(program_to_proto(p), &out, opts);
  return out;
}

}  // namespace accrue::wire
