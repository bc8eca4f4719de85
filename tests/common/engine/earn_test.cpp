#include "common/engine/earn.h"

#include <gtest/gtest.h>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

using testing::cur;
using testing::line;
using testing::simple_program;

Program valid(Program p) {
  auto r = validate_and_normalize(p);
  EXPECT_TRUE(r) << r.error().message;
  return p;
}

Basket eur(std::vector<BasketLine> lines, TimestampMs at = 1'767'225'600'000) {
  return Basket{cur("EUR"), std::move(lines), at};
}

EarningRule multiplier(std::string id, int64_t bp) {
  EarningRule r;
  r.rule_id = std::move(id);
  r.effect = RuleEffect::kMultiplier;
  r.multiplier_bp = bp;
  return r;
}

EarningRule bonus(std::string id, Points pts, bool per_unit = false) {
  EarningRule r;
  r.rule_id = std::move(id);
  r.effect = RuleEffect::kBonus;
  r.bonus_points = pts;
  r.bonus_per_unit = per_unit;
  return r;
}

TEST(EarnTest, OnePointPerEuroFlooredPerLine) {
  Program p = valid(simple_program());
  auto r = compute_earn(p, eur({line(1, "A", 1999), line(2, "B", 1999)}), {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->points, 38);
  EXPECT_EQ(r->lines, (std::vector<LinePoints>{{1, 19}, {2, 19}}));
  EXPECT_EQ(r->program_version, 1u);
}

TEST(EarnTest, PerBasketRoundingSumsBeforeRounding) {
  Program p = simple_program();
  p.rounding_scope = RoundingScope::kPerBasket;
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "A", 1999), line(2, "B", 1999)}), {});
  EXPECT_EQ(r->points, 39);
  EXPECT_EQ(r->lines[0].points + r->lines[1].points, 39);
}

TEST(EarnTest, HalfEvenRoundsTiesToEven) {
  Program p = simple_program();
  p.rounding_mode = RoundingMode::kHalfEven;
  p.earn_rates = {{cur("EUR"), 1, 200}};
  p = valid(p);
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", 300)}), {})->points, 2);  // 1.5 -> 2
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", 500)}), {})->points, 2);  // 2.5 -> 2
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", 501)}), {})->points, 3);
}

TEST(EarnTest, ExclusionsEarnNothing) {
  Program p = simple_program();
  p.excluded_skus = {"TOBACCO"};
  p.excluded_categories = {"gift-cards"};
  p = valid(p);
  auto r = compute_earn(
      p,
      eur({line(1, "TOBACCO", 1000), line(2, "G", 5000, 1000, {"gift-cards"}), line(3, "X", 700)}),
      {});
  EXPECT_EQ(r->points, 7);
  EXPECT_EQ(r->lines[0].points, 0);
  EXPECT_EQ(r->lines[1].points, 0);
}

TEST(EarnTest, MinimumBasketCountsOnlyEligibleLines) {
  Program p = simple_program();
  p.excluded_skus = {"GIFT"};
  p.min_basket = {{cur("EUR"), 2000}};
  p = valid(p);
  EXPECT_EQ(compute_earn(p, eur({line(1, "GIFT", 5000), line(2, "X", 1500)}), {})->points, 0);
  EXPECT_EQ(compute_earn(p, eur({line(1, "X", 2000)}), {})->points, 20);
}

TEST(EarnTest, MultipliersStackAdditivelyOnMatchedLines) {
  Program p = simple_program();
  auto shoes = multiplier("shoes", 20000);
  shoes.categories = {"shoes"};
  auto all = multiplier("all", 15000);
  p.rules = {shoes, all};
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "S", 1000, 1000, {"shoes"}), line(2, "T", 1000)}), {});
  EXPECT_EQ(r->lines[0].points, 25);  // 10 x 2.5
  EXPECT_EQ(r->lines[1].points, 15);  // 10 x 1.5
  EXPECT_EQ(r->rules_fired, (std::vector<std::string>{"all", "shoes"}));
}

TEST(EarnTest, StopAfterEndsEvaluation) {
  Program p = simple_program();
  auto first = multiplier("a-first", 30000);
  first.priority = 1;
  first.stop_after = true;
  auto second = bonus("b-second", 100);
  second.priority = 2;
  p.rules = {second, first};
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "X", 1000)}), {});
  EXPECT_EQ(r->points, 30);
  EXPECT_EQ(r->rules_fired, (std::vector<std::string>{"a-first"}));
}

TEST(EarnTest, BonusPerUnitCountsWholeUnits) {
  Program p = simple_program();
  auto socks = bonus("socks", 5, true);
  socks.skus = {"SOCK"};
  p.rules = {socks};
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "SOCK", 300, 2500)}), {});  // 2.5 pairs -> 2 units
  EXPECT_EQ(r->bonus_points, 10);
  EXPECT_EQ(r->points, 13);
}

TEST(EarnTest, CampaignWindowUsesStoreLocalTime) {
  Program p = simple_program();
  auto bf = multiplier("bf", 20000);
  CampaignWindow w;
  w.starts_local_ms = *parse_local_datetime("2026-11-27T00:00", "s");
  w.ends_local_ms = *parse_local_datetime("2026-11-28T00:00", "e");
  bf.window = w;
  p.rules = {bf};
  p = valid(p);
  auto waw = testing::zones().load("Europe/Warsaw");
  ASSERT_TRUE(waw);
  EarnContext ctx{"", 0, &*waw};
  // 2026-11-26T23:30Z is already 00:30 on the 27th in Warsaw.
  int64_t t = days_from_civil(2026, 11, 26) * kMsPerDay + 23 * kMsPerHour + 30 * 60'000;
  EXPECT_EQ(compute_earn(p, eur({line(1, "X", 1000)}, t), ctx)->points, 20);
  EXPECT_EQ(compute_earn(p, eur({line(1, "X", 1000)}, t), {})->points, 10);  // in UTC: not yet
}

TEST(EarnTest, DailyCapTrimsAndKeepsLineAttribution) {
  Program p = simple_program();
  p.daily_cap_points = 100;
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "A", 6000), line(2, "B", 3000)}), {"", 40, nullptr});
  EXPECT_EQ(r->points, 60);
  EXPECT_EQ(r->capped_points, 30);
  EXPECT_EQ(r->lines[0].points + r->lines[1].points, 60);
  EXPECT_EQ(r->lines[0].points, 40);
}

TEST(EarnTest, UnknownCurrencyIsAPreconditionError) {
  Program p = valid(simple_program());
  auto r = compute_earn(p, Basket{cur("JPY"), {line(1, "A", 1000)}, 0}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "Points cannot be earned in JPY.");
  EXPECT_EQ(r.error().message_id, "earn.no_rate");
}

TEST(EarnTest, BadBasketsAreRejected) {
  Program p = valid(simple_program());
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", -1)}), {}).error().message,
            "lines[0].amount_minor: must not be negative");
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", 1), line(1, "B", 1)}), {}).error().message,
            "lines: line_no 1 appears twice");
  EXPECT_FALSE(compute_earn(p, eur({line(1, "A", 1, 0)}), {}));
  EXPECT_FALSE(compute_earn(p, eur({line(1, "A", kMaxAmountMinor), line(2, "B", 1)}), {}));
  EXPECT_EQ(compute_earn(p, eur({line(1, "A", 1)}, -1), {}).error().message,
            "occurred_at_ms: must be a time between 1970 and 2100");
  EXPECT_FALSE(compute_earn(p, eur({line(1, "A", 1)}, INT64_MAX), {}));
  std::vector<BasketLine> many;
  for (uint32_t i = 0; i <= kMaxBasketLines; ++i) many.push_back(line(i, "A", 1));
  EXPECT_FALSE(compute_earn(p, eur(many), {}));
}

TEST(EarnTest, ExtremeProgramsOverflowCleanly) {
  Program p = simple_program();
  p.earn_rates = {{cur("EUR"), 1'000'000, 1}};
  p.rules = {multiplier("huge", kMaxMultiplierBp)};
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "A", kMaxAmountMinor)}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kOverflow);
}

TEST(EarnTest, BasketBonusesOnTheSameLinesAreSharedOutTogether) {
  Program p = simple_program();
  p.rules = {bonus("a", 1), bonus("b", 1)};
  p = valid(p);
  // Shared one rule at a time, both points would go to line 1 (ties go to the earlier line).
  auto r = compute_earn(p, eur({line(1, "A", 100), line(2, "B", 100)}), {});
  EXPECT_EQ(r->bonus_points, 2);
  EXPECT_EQ(r->lines, (std::vector<LinePoints>{{1, 2}, {2, 2}}));
}

TEST(EarnTest, ProgramChangedAfterValidationIsRefused) {
  Program p = valid(simple_program());
  p.rules.push_back(bonus("late", 5));
  auto r = compute_earn(p, eur({line(1, "A", 100)}), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  Program raw = simple_program();  // never validated
  EXPECT_FALSE(compute_earn(raw, eur({line(1, "A", 100)}), {}));
}

TEST(EarnTest, TierMultiplierAppliesToBasePointsOnly) {
  Program p = simple_program();
  p.tiers.ladder = {{"base", "Base", 0, kOneX}, {"gold", "Gold", 100, 15000}};
  p.rules = {bonus("b", 7)};
  p = valid(p);
  auto r = compute_earn(p, eur({line(1, "A", 1000)}), {"gold", 0, nullptr});
  EXPECT_EQ(r->base_points, 15);
  EXPECT_EQ(r->bonus_points, 7);
  EXPECT_EQ(r->points, 22);
}

}  // namespace
}  // namespace accrue
