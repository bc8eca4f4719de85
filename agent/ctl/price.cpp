#include "agent/ctl/price.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>

#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/engine/lots.h"
#include "common/engine/redemption.h"
#include "common/engine/tiers.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::ctl {
namespace {

std::string line(const char* fmt, auto... args) {
  char buf[512];
  (void)std::snprintf(buf, sizeof buf, fmt, args...);  // longer text is cut, never overrun
  return buf;
}

}  // namespace

Result<std::string> price_report(const PriceOptions& o, TimeZoneSource& zones) {
  auto program = wire::program_from_json(o.program_json);
  if (!program) return fail(program.error().code, "program: " + program.error().message);
  loyalty::v1::Basket pb;
  google::protobuf::util::JsonParseOptions jopts;
  auto st = google::protobuf::util::JsonStringToMessage(o.basket_json, &pb, jopts);
  if (!st.ok()) {
    return fail(ErrorCode::kInvalidArgument, "basket: " + std::string(st.message()));
  }
  auto basket = wire::basket_from_proto(pb);
  if (!basket) return fail(basket.error().code, "basket: " + basket.error().message);
  ACCRUE_ASSIGN_OR_RETURN(auto zone, zones.load(program->time_zone));

  std::vector<std::string> tiers;
  if (!o.tier_id.empty()) {
    tiers.push_back(o.tier_id);
  } else {
    for (const auto& t : program->tiers.ladder) tiers.push_back(t.tier_id);
    if (tiers.empty()) tiers.push_back("");
  }

  int64_t total = 0;
  for (const auto& l : basket->lines) total += l.amount_minor;
  std::string out;
  out += line("Program %s v%u (%s), store time zone %s\n", program->program_id.c_str(),
              program->version, program->name.c_str(), program->time_zone.c_str());
  out += line("Basket: %zu lines, %s, at %s local\n\n", basket->lines.size(),
              Money(total, basket->currency).to_string().c_str(),
              format_local_datetime(zone.to_local_ms(basket->occurred_at_ms)).c_str());

  for (const auto& tier : tiers) {
    if (!tier.empty() && !program->tier_index(tier)) {
      return fail(ErrorCode::kInvalidArgument, "tier: '" + tier + "' is not in the program");
    }
    EarnContext ctx{tier, o.earned_today, &zone, o.country};
    ACCRUE_ASSIGN_OR_RETURN(auto r, compute_earn(*program, *basket, ctx));
    out += line("Tier %-10s earns %lld points  (base %lld, bonus %lld, capped %lld)\n",
                tier.empty() ? "-" : tier.c_str(), static_cast<long long>(r.points),
                static_cast<long long>(r.base_points), static_cast<long long>(r.bonus_points),
                static_cast<long long>(r.capped_points));
    for (size_t i = 0; i < basket->lines.size(); ++i) {
      const auto& l = basket->lines[i];
      out += line("    line %-3u %-14s %14s  %6lld pts\n", l.line_no, l.sku.c_str(),
                  Money(l.amount_minor, basket->currency).to_string().c_str(),
                  static_cast<long long>(r.lines[i].points));
    }
    std::string fired;
    for (const auto& id : r.rules_fired) fired += (fired.empty() ? "" : ", ") + id;
    out += "    rules fired: " + (fired.empty() ? std::string("none") : fired) + "\n";

    const int64_t balance = o.balance + r.points;
    Lot lot = open_lot(program->lots, zone, "new", basket->occurred_at_ms, r.points);
    if (program->lots.pending_days > 0) {
      out += line("    pending until %s local (return window)\n",
                  format_local_datetime(zone.to_local_ms(lot.available_at_ms)).c_str());
    }
    if (lot.expires_at_ms != kNeverExpires) {
      out += line("    expires at %s local\n",
                  format_local_datetime(zone.to_local_ms(lot.expires_at_ms)).c_str());
    }
    if (!program->tiers.ladder.empty()) {
      int64_t value = program->tiers.basis == TierBasis::kPointsEarned ? balance : total;
      TierFacts facts{tier, value, std::nullopt, "", basket->occurred_at_ms};
      auto d = evaluate_tier(program->tiers, facts);
      if (d) {
        out += line("    tier: %lld qualifying %s (balance + this basket) -> %s\n",
                    static_cast<long long>(value),
                    program->tiers.basis == TierBasis::kPointsEarned ? "points" : "minor units",
                    d->tier_id.c_str());
        if (!d->next_tier_id.empty()) {
          out += line("    %lld %s to %s\n", static_cast<long long>(d->distance_to_next),
                      program->tiers.basis == TierBasis::kPointsEarned ? "points" : "minor units",
                      d->next_tier_id.c_str());
        }
      }
    }
    // The largest redemption the balance allows: capped by the maximum, down to the step.
    const auto& rp = program->redemption;
    int64_t redeemable = rp.max_points > 0 ? std::min(balance, rp.max_points) : balance;
    if (rp.step_points > 0) redeemable -= redeemable % rp.step_points;
    auto value = redemption_value(rp, basket->currency, redeemable, o.country,
                                  tier_redemption_value_bp(*program, tier));
    if (value) {
      out += line("    balance %lld points: up to %lld redeemable = %s discount\n",
                  static_cast<long long>(balance), static_cast<long long>(redeemable),
                  value->to_string().c_str());
    } else {
      out += line("    balance %lld points: %s\n", static_cast<long long>(balance),
                  value.error().message.c_str());
    }
    out += "\n";
  }
  return out;
}

}  // namespace accrue::ctl
