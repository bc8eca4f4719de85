// The rules engine on a 50-line basket under a 20-rule program (target: >= 200k baskets/s on
// one core). The ceiling printed beside it is the cost of the unavoidable work: copying the
// basket lines and summing them, which any engine must do at least once per basket.
#include <absl/time/civil_time.h>
#include <absl/time/time.h>
#include <benchmark/benchmark.h>

#include "common/engine/earn.h"
#include "common/sys/system.h"

namespace accrue {
namespace {

Currency eur() { return *Currency::from_code("EUR"); }

Program twenty_rule_program() {
  Program p;
  p.program_id = "bench";
  p.version = 1;
  p.time_zone = "Europe/Warsaw";
  p.earn_rates = {{eur(), 1, 100}};
  p.excluded_categories = {"gift-cards", "tobacco"};
  p.tiers.ladder = {{"base", "", 0, 10000}, {"silver", "", 1000, 12500}, {"gold", "", 5000, 15000}};
  p.daily_cap_points = 100000;
  for (int i = 0; i < 20; ++i) {
    EarningRule r;
    r.rule_id = "rule-" + std::to_string(100 + i);
    r.priority = i;
    switch (i % 4) {
      case 0:
        r.effect = RuleEffect::kMultiplier;
        r.multiplier_bp = 15000;
        r.categories = {"cat-" + std::to_string(i % 10)};
        break;
      case 1:
        r.effect = RuleEffect::kBonus;
        r.bonus_points = 5;
        r.bonus_per_unit = true;
        r.skus = {"sku-" + std::to_string(i)};
        break;
      case 2:
        r.effect = RuleEffect::kMultiplier;
        r.multiplier_bp = 20000;
        r.tiers = {"gold"};
        r.categories = {"cat-" + std::to_string(i % 10)};
        break;
      default: {
        r.effect = RuleEffect::kBonus;
        r.bonus_points = 50;
        r.min_basket = {{eur(), 10000}};
        CampaignWindow w;
        w.days_of_week_mask = 0x7f;
        w.from_minute = 8 * 60;
        w.to_minute = 22 * 60;
        r.window = w;
      }
    }
    p.rules.push_back(r);
  }
  (void)validate_and_normalize(p);
  return p;
}

Basket fifty_line_basket() {
  Basket b{eur(), {}, 1'795'768'200'000};
  for (uint32_t i = 0; i < 50; ++i) {
    b.lines.push_back({i + 1,
                       "sku-" + std::to_string(i),
                       {"cat-" + std::to_string(i % 10), "dept-" + std::to_string(i % 3)},
                       1000 + (i % 3) * 1000,
                       999 + i * 137});
  }
  return b;
}

void BM_Earn50Lines20Rules(benchmark::State& state) {
  static ZoneinfoSource zones;
  Program p = twenty_rule_program();
  Basket b = fifty_line_basket();
  auto zone = zones.load(p.time_zone);
  EarnContext ctx{"gold", 120, &*zone};
  for (auto _ : state) {
    auto r = compute_earn(p, b, ctx);
    benchmark::DoNotOptimize(r);
  }
  state.counters["baskets/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Earn50Lines20Rules);

// Ceiling: copy the basket and sum its amounts (what the caller does to hand the basket over).
void BM_Ceiling_CopyAndSumBasket(benchmark::State& state) {
  Basket b = fifty_line_basket();
  for (auto _ : state) {
    Basket copy = b;
    int64_t sum = 0;
    for (const auto& l : copy.lines) sum += l.amount_minor;
    benchmark::DoNotOptimize(sum);
  }
  state.counters["baskets/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Ceiling_CopyAndSumBasket);

// Time zones: our TZif reader against abseil's (cctz) on the same system file, for the two
// questions the engine asks per event: the offset at an instant, and the instant of a local
// wall-clock time (a campaign window's edge). Instants spread over 2000-2099 so that both the
// transition table and the POSIX footer rule are exercised.
constexpr int kInstants = 1024;
int64_t spread_instant(int i) { return 946'684'800 + int64_t{i} * 3'082'000; }

void BM_ZoneOffset_Ours(benchmark::State& state) {
  static ZoneinfoSource zones;
  auto zone = zones.load("Europe/Warsaw");
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(zone->offset_at(spread_instant(i++ % kInstants)));
  }
}
BENCHMARK(BM_ZoneOffset_Ours);

void BM_ZoneOffset_Cctz(benchmark::State& state) {
  absl::TimeZone zone;
  absl::LoadTimeZone("Europe/Warsaw", &zone);
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        zone.At(absl::FromUnixSeconds(spread_instant(i++ % kInstants))).offset);
  }
}
BENCHMARK(BM_ZoneOffset_Cctz);

void BM_ZoneWallToUtc_Ours(benchmark::State& state) {
  static ZoneinfoSource zones;
  auto zone = zones.load("Europe/Warsaw");
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(zone->to_utc_ms(spread_instant(i++ % kInstants) * 1000));
  }
}
BENCHMARK(BM_ZoneWallToUtc_Ours);

void BM_ZoneWallToUtc_Cctz(benchmark::State& state) {
  absl::TimeZone zone;
  absl::LoadTimeZone("Europe/Warsaw", &zone);
  const absl::CivilSecond epoch(1970, 1, 1, 0, 0, 0);
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(zone.At(epoch + spread_instant(i++ % kInstants)).pre);
  }
}
BENCHMARK(BM_ZoneWallToUtc_Cctz);

}  // namespace
}  // namespace accrue

BENCHMARK_MAIN();
