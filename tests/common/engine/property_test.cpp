// Property tests over generated programs and baskets: invariants that must hold for every input,
// checked on thousands of seeded random cases (the seed is printed on failure).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/checked.h"
#include "common/engine/earn.h"
#include "common/engine/lots.h"
#include "common/engine/returns.h"
#include "tests/common/test_support.h"

namespace accrue {
namespace {

using testing::cur;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int64_t between(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(int percent) { return between(1, 100) <= percent; }

  Program program() {
    Program p;
    p.program_id = "prop";
    p.version = 1;
    p.earn_rates = {{cur("EUR"), between(0, 20), between(1, 1000)}};
    p.rounding_mode = chance(50) ? RoundingMode::kFloor : RoundingMode::kHalfEven;
    p.rounding_scope = chance(50) ? RoundingScope::kPerLine : RoundingScope::kPerBasket;
    if (chance(30)) p.excluded_categories = {"c" + std::to_string(between(0, 4))};
    if (chance(20)) p.min_basket = {{cur("EUR"), between(0, 5000)}};
    p.tiers.ladder = {{"t0", "", 0, kOneX}, {"t1", "", 100, between(kOneX, 3 * kOneX)}};
    int rules = static_cast<int>(between(0, 6));
    for (int i = 0; i < rules; ++i) {
      EarningRule r;
      r.rule_id = "r" + std::to_string(i);
      r.priority = static_cast<int32_t>(between(0, 3));
      r.stop_after = chance(10);
      switch (between(0, 2)) {
        case 0:
          r.effect = RuleEffect::kMultiplier;
          r.multiplier_bp = between(kOneX, 5 * kOneX);
          break;
        case 1:
          r.effect = RuleEffect::kBonus;
          r.bonus_points = between(1, 500);
          r.bonus_per_unit = chance(50);
          break;
        default:
          r.effect = RuleEffect::kExclude;
          break;
      }
      if (chance(50)) r.categories = {"c" + std::to_string(between(0, 4))};
      if (chance(20)) r.tiers = {"t1"};
      p.rules.push_back(r);
    }
    if (chance(20)) p.daily_cap_points = between(1, 2000);
    auto ok = validate_and_normalize(p);
    EXPECT_TRUE(ok) << ok.error().message;
    return p;
  }

  Basket basket() {
    Basket b{cur("EUR"), {}, 1'767'225'600'000};
    int n = static_cast<int>(between(0, 30));
    for (int i = 0; i < n; ++i) {
      b.lines.push_back({static_cast<uint32_t>(i + 1),
                         "sku" + std::to_string(between(0, 9)),
                         {"c" + std::to_string(between(0, 4))},
                         between(1, 5) * 1000 + (chance(20) ? between(1, 999) : 0),
                         between(0, 100000)});
    }
    return b;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr int kCases = 3000;

TEST(EngineProperties, PointsAreNonNegativeAndFullyAttributedToLines) {
  for (uint64_t seed = 1; seed <= kCases; ++seed) {
    Gen g(seed);
    Program p = g.program();
    Basket b = g.basket();
    EarnContext ctx{g.chance(50) ? "t1" : "t0", g.between(0, 3000), nullptr};
    auto r = compute_earn(p, b, ctx);
    ASSERT_TRUE(r) << "seed " << seed << ": " << r.error().message;
    ASSERT_GE(r->points, 0) << "seed " << seed;
    Points sum = 0;
    for (const auto& l : r->lines) {
      ASSERT_GE(l.points, 0) << "seed " << seed;
      sum += l.points;
    }
    ASSERT_EQ(sum, r->points) << "seed " << seed;
    ASSERT_EQ(r->points, r->base_points + r->bonus_points - r->capped_points) << "seed " << seed;
    if (p.daily_cap_points > 0) {
      ASSERT_LE(r->points, std::max<Points>(0, p.daily_cap_points - ctx.earned_today));
    }
    // Deterministic: the same input gives the same answer.
    auto again = compute_earn(p, b, ctx);
    ASSERT_EQ(again->lines, r->lines);
  }
}

TEST(EngineProperties, RoundingStaysWithinItsBounds) {
  for (uint64_t seed = 1; seed <= kCases; ++seed) {
    Gen g(seed);
    Program p = g.program();
    p.rules.clear();
    p.excluded_categories.clear();
    p.min_basket.clear();
    p.daily_cap_points = 0;
    ASSERT_TRUE(validate_and_normalize(p));  // a changed program must be validated again
    Basket b = g.basket();
    auto r = compute_earn(p, b, {});
    ASSERT_TRUE(r);
    int128 num = 0;
    for (const auto& l : b.lines)
      num += static_cast<int128>(l.amount_minor) * p.earn_rates[0].points;
    const int128 den = p.earn_rates[0].per_minor_units;
    const int128 got = static_cast<int128>(r->points) * den;
    const int128 lines = static_cast<int128>(b.lines.size());
    if (p.rounding_mode == RoundingMode::kFloor) {
      ASSERT_LE(got, num) << "seed " << seed;  // floor never gives more than exact
      const int128 slack = p.rounding_scope == RoundingScope::kPerLine ? lines * den : den;
      ASSERT_LT(num - got, std::max<int128>(slack, 1)) << "seed " << seed;
    } else if (p.rounding_scope == RoundingScope::kPerBasket) {
      ASSERT_LE(2 * (got > num ? got - num : num - got), den) << "seed " << seed;
    } else {
      ASSERT_LE(2 * (got > num ? got - num : num - got), lines * den) << "seed " << seed;
    }
  }
}

TEST(EngineProperties, ReturnsNeverExceedWhatTheSaleEarned) {
  for (uint64_t seed = 1; seed <= kCases; ++seed) {
    Gen g(seed);
    Program p = g.program();
    Basket b = g.basket();
    auto earn = compute_earn(p, b, {});
    ASSERT_TRUE(earn);
    std::vector<SaleLine> sale;
    for (size_t i = 0; i < b.lines.size(); ++i) {
      sale.push_back({b.lines[i].line_no, b.lines[i].quantity_milli, earn->lines[i].points, 0, 0});
    }
    Points reversed = 0;
    // Return random parts until everything is back.
    for (int step = 0; step < 200; ++step) {
      std::vector<ReturnLine> req;
      for (const auto& s : sale) {
        int64_t left = s.quantity_milli - s.returned_quantity_milli;
        if (left > 0 && g.chance(60))
          req.push_back({s.line_no, g.chance(50) ? left : g.between(1, left)});
      }
      if (req.empty()) {
        bool all_back = std::ranges::all_of(
            sale, [](const SaleLine& s) { return s.returned_quantity_milli == s.quantity_milli; });
        if (all_back) break;
        continue;
      }
      auto r = compute_return(sale, req);
      ASSERT_TRUE(r) << "seed " << seed << ": " << r.error().message;
      for (const auto& l : r->lines) {
        auto& s = *std::ranges::find(sale, l.line_no, &SaleLine::line_no);
        s.returned_quantity_milli += l.quantity_milli;
        s.points_reversed += l.points;
        ASSERT_LE(s.points_reversed, s.points) << "seed " << seed;
      }
      reversed += r->points_reversed;
      ASSERT_LE(reversed, earn->points) << "seed " << seed;
    }
    bool all_back = std::ranges::all_of(
        sale, [](const SaleLine& s) { return s.returned_quantity_milli == s.quantity_milli; });
    if (all_back) {
      ASSERT_EQ(reversed, earn->points) << "seed " << seed;
    }
  }
}

TEST(EngineProperties, SpendingIsFirstInFirstOut) {
  for (uint64_t seed = 1; seed <= kCases; ++seed) {
    Gen g(seed);
    std::vector<Lot> lots;
    int n = static_cast<int>(g.between(0, 12));
    const TimestampMs now = 1'767'225'600'000;
    for (int i = 0; i < n; ++i) {
      TimestampMs earned = now - g.between(0, 400) * 86'400'000;
      Points pts = g.between(1, 500);
      lots.push_back({"l" + std::to_string(i), earned, earned + g.between(0, 20) * 86'400'000,
                      g.chance(30) ? earned + g.between(0, 500) * 86'400'000 : kNeverExpires, pts,
                      g.between(0, pts)});
    }
    auto bal = balance_of(lots, now, kNeverExpires);
    Points want = g.between(1, 3000);
    auto d = draw_fifo(lots, want, now);
    if (want > bal.available) {
      ASSERT_FALSE(d) << "seed " << seed;
      continue;
    }
    ASSERT_TRUE(d) << "seed " << seed;
    Points sum = 0;
    TimestampMs prev = INT64_MIN;
    for (size_t k = 0; k < d->size(); ++k) {
      const Draw& dr = (*d)[k];
      const Lot& lot = *std::ranges::find(lots, dr.lot_id, &Lot::lot_id);
      ASSERT_GE(lot.earned_at_ms, prev) << "seed " << seed;
      ASSERT_LE(dr.points, lot.remaining);
      if (k + 1 < d->size()) {
        ASSERT_EQ(dr.points, lot.remaining) << "only the last lot is partial";
      }
      prev = lot.earned_at_ms;
      sum += dr.points;
    }
    ASSERT_EQ(sum, want) << "seed " << seed;
  }
}

}  // namespace
}  // namespace accrue
