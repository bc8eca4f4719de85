#include "common/wire/loyalty_codec.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/civil_time.h"
#include "tests/common/test_support.h"

namespace accrue::wire {
namespace {

using accrue::testing::cur;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A program that uses every field, so the round trip covers all of them.
Program full_program() {
  Program p;
  p.program_id = "full";
  p.version = 7;
  p.name = "Everything";
  p.time_zone = "Europe/Warsaw";
  p.earn_rates = {{cur("EUR"), 1, 100}, {cur("JPY"), 1, 100}};
  p.rounding_mode = RoundingMode::kHalfEven;
  p.rounding_scope = RoundingScope::kPerBasket;
  p.excluded_skus = {"S1"};
  p.excluded_categories = {"gift"};
  p.min_basket = {{cur("EUR"), 500}};
  EarningRule r;
  r.rule_id = "r1";
  r.name = "Rule";
  r.priority = 3;
  r.stop_after = true;
  r.effect = RuleEffect::kBonus;
  r.bonus_points = 9;
  r.bonus_per_unit = true;
  r.skus = {"A", "B"};
  r.categories = {"c"};
  r.tiers = {"gold"};
  CampaignWindow w;
  w.starts_local_ms = *parse_local_datetime("2026-11-27T00:00", "s");
  w.ends_local_ms = *parse_local_datetime("2026-11-30T00:00:30", "e");
  w.days_of_week_mask = 0b1010101;
  w.from_minute = 60;
  w.to_minute = 1440;
  r.window = w;
  r.min_basket = {{cur("JPY"), 1000}};
  EarningRule m;
  m.rule_id = "r2";
  m.multiplier_bp = 25000;
  EarningRule x;
  x.rule_id = "r3";
  x.effect = RuleEffect::kExclude;
  p.rules = {r, m, x};
  p.tiers.basis = TierBasis::kAmountSpent;
  p.tiers.window_days = 180;
  p.tiers.downgrade_grace_days = 14;
  p.tiers.spend_currency = cur("EUR");
  p.tiers.ladder = {{"base", "Base", 0, 10000}, {"gold", "Gold", 100000, 20000}};
  p.lots = {14, ExpiryKind::kEndOfMonth, 12};
  p.redemption.rates = {{cur("EUR"), 100, 100}};
  p.redemption.min_points = 50;
  p.redemption.max_points = 5000;
  p.redemption.step_points = 50;
  p.redemption.refund_on_return = true;
  p.offline_limits = {1, 2, 3, 4};
  p.daily_cap_points = 1000;
  p.event_rules = {5, 6};
  p.effective_from_ms = 1'767'225'600'000;
  Reward fixed;
  fixed.reward_id = "five-off";
  fixed.name = "5 off";
  fixed.kind = RewardKind::kFixedDiscount;
  fixed.amounts = {{cur("EUR"), 500}, {cur("JPY"), 700}};
  fixed.cost_points = 500;
  fixed.tiers = {"gold"};
  fixed.segments = {"vip"};
  fixed.claim_from_ms = 1'767'225'600'000;
  fixed.claim_until_ms = 1'767'312'000'000;
  fixed.coupon_valid_days = 14;
  fixed.stock = 100;
  fixed.per_member_limit = 2;
  fixed.offline_claimable = true;
  fixed.min_basket = {{cur("EUR"), 2000}};
  Reward percent = fixed;
  percent.reward_id = "ten-percent";
  percent.kind = RewardKind::kPercentDiscount;
  percent.percent_bp = 1000;
  percent.caps = {{cur("EUR"), 2000}};
  Reward item = fixed;
  item.reward_id = "coffee";
  item.kind = RewardKind::kFreeItem;
  item.skus = {"COFFEE-L", "COFFEE-S"};
  Reward multiplier = fixed;
  multiplier.reward_id = "double";
  multiplier.kind = RewardKind::kPointsMultiplier;
  multiplier.multiplier_bp = 20000;
  Reward gift = fixed;
  gift.reward_id = "tote";
  gift.kind = RewardKind::kGift;
  gift.gift = "A tote bag";
  p.rewards = {fixed, percent, item, multiplier, gift};
  EXPECT_TRUE(validate_and_normalize(p));
  return p;
}

void expect_same(const Program& a, const Program& b) {
  // Compare through the wire form: the codec is the definition of equality for programs.
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(program_to_proto(a), program_to_proto(b)));
}

TEST(LoyaltyCodecTest, ProgramRoundTripsThroughProtobuf) {
  Program p = full_program();
  auto proto = program_to_proto(p);
  auto back = program_from_proto(proto);
  ASSERT_TRUE(back) << back.error().message;
  expect_same(p, *back);
  const EarningRule& r1 = back->rules[2];  // sorted by (priority, id): r2, r3, r1
  ASSERT_EQ(r1.rule_id, "r1");
  ASSERT_TRUE(r1.window);
  EXPECT_EQ(r1.window->days_of_week_mask, 0b1010101);
  EXPECT_EQ(r1.window->to_minute, 1440);
  EXPECT_EQ(back->tiers.spend_currency, cur("EUR"));
  EXPECT_TRUE(back->redemption.refund_on_return);
  ASSERT_EQ(back->rewards.size(), 5u);
  ASSERT_NE(back->reward("ten-percent"), nullptr);
  EXPECT_EQ(back->reward("ten-percent")->caps[0].minor_units, 2000);
  EXPECT_EQ(back->reward("coffee")->skus, (std::vector<std::string>{"COFFEE-L", "COFFEE-S"}));
  EXPECT_TRUE(back->reward("tote")->offline_claimable);
  // Binary serialisation is stable for the same program.
  EXPECT_EQ(proto.SerializeAsString(), program_to_proto(*back).SerializeAsString());
}

TEST(LoyaltyCodecTest, ProgramRoundTripsThroughJson) {
  Program p = full_program();
  auto back = program_from_json(program_to_json(p));
  ASSERT_TRUE(back) << back.error().message;
  expect_same(p, *back);
}

TEST(LoyaltyCodecTest, TheDemoProgramIsValid) {
  auto p = program_from_json(read("packaging/demo/program.json"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->program_id, "fashion-rewards");
}

TEST(LoyaltyCodecTest, ARewardWithoutAnEffectIsRefusedByName) {
  auto r = program_from_json(
      R"({"program_id": "x", "version": 1, "earn_rates": [{"currency": "EUR", "points": 1,
          "per_minor_units": 100}], "rewards": [{"reward_id": "r", "name": "R"}]})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "rewards[0]: give its effect: fixed_discount, percent_discount, free_item, "
            "points_multiplier or gift");
}

TEST(LoyaltyCodecTest, JsonErrorsAreClear) {
  auto unknown = program_from_json(R"({"program_id": "x", "version": 1, "bogus": 1})");
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(unknown.error().message.starts_with("program JSON:"));
  auto missing_effect = program_from_json(
      R"({"program_id": "x", "version": 1, "earn_rates": [{"currency": "EUR", "points": 1,
          "per_minor_units": 100}], "rules": [{"rule_id": "r"}]})");
  ASSERT_FALSE(missing_effect);
  EXPECT_EQ(missing_effect.error().message,
            "rules[0]: needs an effect: multiplier, bonus or exclude");
  auto bad_currency = program_from_json(
      R"({"program_id": "x", "version": 1, "earn_rates": [{"currency": "EURO"}]})");
  ASSERT_FALSE(bad_currency);
  EXPECT_EQ(bad_currency.error().message,
            "earn_rates[0].currency: currency: 'EURO' is not an active ISO 4217 code");
  auto bad_window = program_from_json(
      R"({"program_id": "x", "version": 1, "earn_rates": [{"currency": "EUR", "points": 1,
          "per_minor_units": 100}], "rules": [{"rule_id": "r", "exclude": {},
          "window": {"days_of_week": [8]}}]})");
  ASSERT_FALSE(bad_window);
  EXPECT_EQ(bad_window.error().message,
            "rules[0].window.days_of_week: days are 1 (Monday) to 7 (Sunday)");
  EXPECT_FALSE(program_from_json("{"));
  EXPECT_FALSE(program_from_json(""));
}

TEST(LoyaltyCodecTest, BasketRoundTripsAndValidates) {
  Basket b{cur("KWD"), {{1, "A", {"x", "y"}, 1500, 1234}, {2, "B", {}, 1000, 0}}, 42};
  auto back = basket_from_proto(basket_to_proto(b));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->lines.size(), 2u);
  EXPECT_EQ(back->lines[0].categories, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(back->lines[0].quantity_milli, 1500);
  EXPECT_EQ(back->occurred_at_ms, 42);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(basket_to_proto(b),
                                                                 basket_to_proto(*back)));
  auto proto = basket_to_proto(b);
  proto.mutable_lines(1)->set_amount_minor(-5);
  EXPECT_EQ(basket_from_proto(proto).error().message,
            "lines[1].amount_minor: must not be negative");
  proto.set_currency("XXX");
  EXPECT_FALSE(basket_from_proto(proto));
}

TEST(LoyaltyCodecTest, MoneyAndCustomerRoundTrip) {
  Money m(-12345, cur("BHD"));
  EXPECT_EQ(*money_from_proto(money_to_proto(m)), m);
  CustomerSnapshot c{"0190a5b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b",
                     CustomerStatus::kBlocked,
                     "gold",
                     "Anna K.",
                     "store-7",
                     1200,
                     300,
                     99,
                     2,
                     29};
  EXPECT_EQ(*customer_from_proto(customer_to_proto(c)), c);
  auto proto = customer_to_proto(c);
  proto.set_status(loyalty::v1::CUSTOMER_STATUS_UNSPECIFIED);
  EXPECT_FALSE(customer_from_proto(proto));
  proto = customer_to_proto(c);
  proto.set_birthday_day(0);
  EXPECT_FALSE(customer_from_proto(proto));
}

}  // namespace
}  // namespace accrue::wire
