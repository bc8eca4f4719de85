#include "common/program.h"

#include <gtest/gtest.h>

#include "tests/common/test_support.h"

namespace accrue {
namespace {

using testing::cur;
using testing::simple_program;

std::string error_of(Program p) {
  auto r = validate_and_normalize(p);
  return r ? "" : r.error().message;
}

TEST(ProgramTest, ASimpleProgramIsValid) { EXPECT_EQ(error_of(simple_program()), ""); }

TEST(ProgramTest, SortsRulesByPriorityThenId) {
  Program p = simple_program();
  for (auto [id, prio] : {std::pair{"c", 5}, {"b", 1}, {"a", 5}}) {
    EarningRule r;
    r.rule_id = id;
    r.priority = prio;
    r.multiplier_bp = 20000;
    p.rules.push_back(r);
  }
  ASSERT_TRUE(validate_and_normalize(p));
  EXPECT_EQ(p.rules[0].rule_id, "b");
  EXPECT_EQ(p.rules[1].rule_id, "a");
  EXPECT_EQ(p.rules[2].rule_id, "c");
}

TEST(ProgramTest, AStoresCountryHasItsOwnRateOrTheCurrencysRate) {
  Program p = simple_program();
  p.earn_rates.push_back({cur("EUR"), 2, 100, "ie"});
  ASSERT_TRUE(validate_and_normalize(p));
  EXPECT_EQ(p.earn_rates[1].country, "IE");
  EXPECT_EQ(p.earn_rate(cur("EUR"), "IE")->points, 2);
  EXPECT_EQ(p.earn_rate(cur("EUR"), "DE")->points, p.earn_rates[0].points);
  EXPECT_EQ(p.earn_rate(cur("EUR"))->points, p.earn_rates[0].points);
  p.earn_rates.erase(p.earn_rates.begin());
  EXPECT_EQ(p.earn_rate(cur("EUR"), "DE"), nullptr) << "only Ireland has a EUR rate now";
}

TEST(ProgramTest, ErrorsNameTheField) {
  Program p = simple_program();
  p.program_id = "";
  EXPECT_EQ(error_of(p), "program_id: must have 1 to 64 characters");

  p = simple_program();
  p.version = 0;
  EXPECT_EQ(error_of(p), "version: must be 1 or more");

  p = simple_program();
  p.earn_rates.push_back({cur("EUR"), 2, 100, ""});
  EXPECT_EQ(error_of(p), "earn_rates[1]: currency EUR twice");

  p = simple_program();
  p.earn_rates.push_back({cur("EUR"), 2, 100, "ie"});
  p.earn_rates.push_back({cur("EUR"), 3, 100, "IE"});
  EXPECT_EQ(error_of(p), "earn_rates[2]: currency EUR in IE twice")
      << "countries are upper-cased first";

  p = simple_program();
  p.earn_rates.push_back({cur("EUR"), 2, 100, "Ireland"});
  EXPECT_EQ(error_of(p), "earn_rates[1].country: must be an ISO 3166-1 alpha-2 code like DE");

  p = simple_program();
  p.earn_rates[0].per_minor_units = 0;
  EXPECT_EQ(error_of(p), "earn_rates[0].per_minor_units: must be between 1 and 1000000000");

  p = simple_program();
  EarningRule r;
  r.rule_id = "x";
  r.multiplier_bp = 5000;
  p.rules = {r};
  EXPECT_EQ(error_of(p), "rules[0].multiplier.basis_points: must be between 10000 and 10000000");

  p = simple_program();
  r.multiplier_bp = 20000;
  r.tiers = {"platinum"};
  p.rules = {r};
  EXPECT_EQ(error_of(p), "rules[0].tiers[0]: 'platinum' is not a tier of this program");

  p = simple_program();
  p.tiers.ladder = {{"a", "A", 10, 0}};
  EXPECT_EQ(error_of(p), "tiers.ladder[0].threshold: must be 0");

  p = simple_program();
  p.tiers.ladder = {{"a", "A", 0, 0}, {"b", "B", 0, 0}};
  EXPECT_EQ(error_of(p), "tiers.ladder[1].threshold: must be above the previous tier's");

  p = simple_program();
  p.lots.expiry = ExpiryKind::kAfterDays;
  EXPECT_EQ(error_of(p), "lots.count: must be between 1 and 36500");

  p = simple_program();
  p.redemption.min_points = 100;
  p.redemption.max_points = 50;
  EXPECT_EQ(error_of(p), "redemption.max_points: must be between 100 and 1000000000000000");

  p = simple_program();
  p.excluded_skus = {"A", "A"};
  EXPECT_EQ(error_of(p), "excluded_skus: lists a value twice");

  p = simple_program();
  CampaignWindow w;
  w.starts_local_ms = 10;
  w.ends_local_ms = 10;
  r = EarningRule{};
  r.rule_id = "w";
  r.multiplier_bp = 20000;
  r.window = w;
  p.rules = {r};
  EXPECT_EQ(error_of(p), "rules[0].window: ends_local must be after starts_local");
}

TEST(ProgramTest, TierMultiplierZeroMeansOneX) {
  Program p = simple_program();
  p.tiers.ladder = {{"a", "A", 0, 0}};
  ASSERT_TRUE(validate_and_normalize(p));
  EXPECT_EQ(p.tiers.ladder[0].earn_multiplier_bp, kOneX);
}

TEST(ProgramTest, ATiersRedemptionValueIsOneXToTenX) {
  Program p = simple_program();
  p.tiers.ladder = {{"a", "A", 0, 0, 0}, {"b", "B", 100, 0, 15000}};
  ASSERT_TRUE(validate_and_normalize(p));
  EXPECT_EQ(p.tiers.ladder[0].redemption_value_bp, kOneX) << "0 means 1x";
  EXPECT_EQ(p.tiers.ladder[1].redemption_value_bp, 15000);
  for (int64_t bad : {int64_t{9999}, kMaxRedemptionValueBp + 1}) {
    Program q = simple_program();
    q.tiers.ladder = {{"a", "A", 0, 0, bad}};
    auto r = validate_and_normalize(q);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("tiers.ladder[0].redemption_value_bp"), std::string::npos)
        << r.error().message;
  }
}

// The rewards catalogue: each kind's own fields checked, tiers that exist, a window that ends
// after it starts, ids used once; the catalogue sorted for lookup.
TEST(ProgramTest, RewardsAreCheckedFieldByFieldAndFoundById) {
  auto with = [](auto edit) {
    Program p = simple_program();
    p.tiers.ladder = {{"basic", "Basic", 0}, {"gold", "Gold", 100}};
    Reward r;
    r.reward_id = "five-off";
    r.name = "5 EUR off";
    r.kind = RewardKind::kFixedDiscount;
    r.amounts = {{cur("EUR"), 500}};
    p.rewards = {r};
    edit(p.rewards[0], p);
    return error_of(p);
  };
  EXPECT_EQ(with([](Reward&, Program&) {}), "");
  EXPECT_EQ(with([](Reward& r, Program&) { r.reward_id = "Five Off"; }),
            "rewards[0].reward_id: must have 1 to 40 characters of a-z, 0-9 and '-'");
  EXPECT_EQ(with([](Reward& r, Program&) { r.amounts.clear(); }),
            "rewards[0].fixed_discount.amounts: name at least one");
  EXPECT_EQ(with([](Reward& r, Program&) {
              r.amounts = {{cur("EUR"), 0}};
            }),
            "rewards[0].fixed_discount.amounts[0].minor_units: must be between 1 and "
            "1000000000000000");
  EXPECT_EQ(with([](Reward& r, Program&) {
              r.kind = RewardKind::kPercentDiscount;
              r.percent_bp = 10001;
            }),
            "rewards[0].percent_discount.basis_points: must be between 1 and 10000");
  EXPECT_EQ(with([](Reward& r, Program&) { r.kind = RewardKind::kFreeItem; }),
            "rewards[0].free_item.skus: name at least one");
  EXPECT_EQ(with([](Reward& r, Program&) {
              r.kind = RewardKind::kPointsMultiplier;
              r.multiplier_bp = kOneX;
            }),
            "rewards[0].points_multiplier.basis_points: must be between 10001 and 100000");
  EXPECT_EQ(with([](Reward& r, Program&) { r.kind = RewardKind::kGift; }),
            "rewards[0].gift.description: must have 1 to 200 bytes");
  EXPECT_EQ(with([](Reward& r, Program&) { r.tiers = {"platinum"}; }),
            "rewards[0].tiers[0]: no such tier");
  EXPECT_EQ(with([](Reward& r, Program&) {
              r.claim_from_ms = 2000;
              r.claim_until_ms = 1000;
            }),
            "rewards[0].claim_until_ms: must be after claim_from_ms (or 0: no end)");
  EXPECT_EQ(with([](Reward& r, Program& p) { p.rewards.push_back(r); }),
            "rewards: reward_id five-off is used twice");

  Program p = simple_program();
  Reward tote;
  tote.reward_id = "tote";
  tote.name = "Tote";
  tote.gift = "A tote bag";
  Reward coffee = tote;
  coffee.reward_id = "coffee";
  p.rewards = {tote, coffee};
  ASSERT_TRUE(validate_and_normalize(p));
  EXPECT_EQ(p.rewards[0].reward_id, "coffee") << "sorted by id";
  EXPECT_EQ(p.rewards[0].coupon_valid_days, kDefaultCouponValidDays) << "0 means 30 days";
  ASSERT_NE(p.reward("tote"), nullptr);
  EXPECT_EQ(p.reward("tote")->gift, "A tote bag");
  EXPECT_EQ(p.reward("hat"), nullptr);
}

}  // namespace
}  // namespace accrue
