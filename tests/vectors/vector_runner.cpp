#include "tests/vectors/vector_runner.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/engine/events.h"
#include "common/engine/lots.h"
#include "common/engine/redemption.h"
#include "common/engine/returns.h"
#include "common/engine/rewards.h"
#include "common/engine/tiers.h"
#include "common/identifier.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::vectors {
namespace {

namespace tv = accrue::testing::v1;

// Collects differences; a vector passes when there are none.
class Check {
 public:
  template <typename A, typename B>
  void eq(std::string_view what, const A& got, const B& want) {
    if (!(got == want)) {
      std::ostringstream s;
      s << what << ": got " << got << ", want " << want << "; ";
      detail_ += s.str();
    }
  }
  void note(std::string_view what) { detail_ += std::string(what) + "; "; }
  // For a result that may be an error: true when the caller should go on checking values.
  template <typename T>
  bool outcome(const Result<T>& r, const std::string& want_error) {
    if (!want_error.empty()) {
      if (r)
        note("want error " + want_error + ", got success");
      else
        eq("error", std::string(to_string(r.error().code)), want_error);
      return false;
    }
    if (!r) {
      note("unexpected error: " + r.error().message);
      return false;
    }
    return true;
  }
  bool ok() const { return detail_.empty(); }
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

Result<TimestampMs> local_instant(const TimeZone& z, const std::string& text) {
  auto local = parse_local_datetime(text, "local time");
  if (!local) return std::unexpected(local.error());
  return z.to_utc_ms(*local);
}

std::string local_text(const TimeZone& z, TimestampMs t) {
  return t == kNeverExpires ? "never" : format_local_datetime(z.to_local_ms(t));
}

void run_earn(const Program& p, const TimeZone& z, const tv::EarnCase& c, Check& ck) {
  loyalty::v1::Basket pb = c.basket();
  if (!c.occurred_at_local().empty()) {
    auto t = local_instant(z, c.occurred_at_local());
    if (!t) return ck.note(t.error().message);
    pb.set_occurred_at_ms(*t);
  }
  auto basket = wire::basket_from_proto(pb);
  Result<EarnResult> r =
      basket
          ? compute_earn(p, *basket,
                         {c.tier_id(), c.earned_today(), &z, c.country(), c.coupon_multiplier_bp()})
          : Result<EarnResult>(std::unexpected(basket.error()));
  if (!ck.outcome(r, c.error_code())) return;
  ck.eq("points", r->points, c.points());
  ck.eq("base_points", r->base_points, c.base_points());
  ck.eq("bonus_points", r->bonus_points, c.bonus_points());
  ck.eq("capped_points", r->capped_points, c.capped_points());
  if (c.line_points_size() > 0) {
    ck.eq("lines", r->lines.size(), static_cast<size_t>(c.line_points_size()));
    for (int i = 0; i < c.line_points_size() && i < static_cast<int>(r->lines.size()); ++i) {
      ck.eq("line " + std::to_string(r->lines[i].line_no), r->lines[i].points, c.line_points(i));
    }
  }
  std::vector<std::string> want(c.rules_fired().begin(), c.rules_fired().end());
  std::string got_s, want_s;
  for (auto& s : r->rules_fired) got_s += s + " ";
  for (auto& s : want) want_s += s + " ";
  ck.eq("rules_fired", got_s, want_s);
}

void run_return(const Program& p, const TimeZone& z, const tv::ReturnCase& c, Check& ck) {
  auto basket = wire::basket_from_proto(c.basket());
  if (!basket) return ck.note(basket.error().message);
  auto earn = compute_earn(p, *basket, {c.tier_id(), 0, &z, {}});
  if (!earn) return ck.note(earn.error().message);
  ck.eq("points_earned", earn->points, c.points_earned());
  std::vector<SaleLine> sale;
  for (size_t i = 0; i < basket->lines.size(); ++i) {
    sale.push_back({basket->lines[i].line_no, basket->lines[i].quantity_milli,
                    earn->lines[i].points, 0, 0, basket->lines[i].amount_minor});
  }
  Points refunded = 0;
  for (int s = 0; s < c.steps_size(); ++s) {
    const auto& step = c.steps(s);
    std::vector<ReturnLine> req;
    for (const auto& l : step.lines()) req.push_back({l.line_no(), l.quantity_milli()});
    auto r = compute_return(sale, req);
    Check step_ck;
    if (step_ck.outcome(r, step.error_code())) {
      step_ck.eq("points_reversed", r->points_reversed, step.points_reversed());
      count_return(sale, *r);
      const Points refund = p.redemption.refund_on_return
                                ? redemption_refund(sale, c.points_redeemed(), refunded)
                                : 0;
      step_ck.eq("points_refunded", refund, step.points_refunded());
      refunded += refund;
    }
    if (!step_ck.ok()) ck.note("step " + std::to_string(s + 1) + ": " + step_ck.detail());
  }
}

void run_redeem(const Program& p, const tv::RedeemCase& c, Check& ck) {
  auto currency = Currency::from_code(c.currency());
  if (!currency) return ck.note(currency.error().message);
  const int64_t value_bp = tier_redemption_value_bp(p, c.tier_id());
  if (c.points() != 0) {
    auto v = redemption_value(p.redemption, *currency, c.points(), c.country(), value_bp);
    if (ck.outcome(v, c.error_code())) ck.eq("value_minor", v->minor_units(), c.value_minor());
  } else {
    auto n = points_for_discount(p.redemption, Money(c.discount_minor(), *currency), c.country(),
                                 value_bp);
    if (ck.outcome(n, c.error_code())) ck.eq("points_needed", *n, c.points_needed());
  }
}

void run_offline(const Program& p, const tv::OfflineCase& c, Check& ck) {
  constexpr TimestampMs now = 1'767'225'600'000;
  std::optional<TimestampMs> last;
  if (c.has_hours_since_sync()) last = now - c.hours_since_sync() * kMsPerHour;
  auto d = decide_offline_redemption(p.offline_limits, {c.points(), c.customer_redeemed_today(),
                                                        c.store_outstanding(), last, now});
  ck.eq("allowed", d.allowed, c.allowed());
  ck.eq("refusal", std::string(to_string(d.refusal)), c.refusal().empty() ? "none" : c.refusal());
  if (!d.allowed && d.message.empty()) ck.note("a refusal needs a message");
}

std::string_view change_name(TierChange c) {
  switch (c) {
    case TierChange::kNone:
      return "none";
    case TierChange::kUpgrade:
      return "upgrade";
    case TierChange::kDowngrade:
      return "downgrade";
    case TierChange::kPlaced:
      return "placed";
  }
  return "none";
}

void run_tier(const Program& p, const tv::TierCase& c, Check& ck) {
  constexpr TimestampMs now = 1'767'225'600'000;
  std::optional<TimestampMs> below;
  if (c.has_below_since_days_ago()) below = now - c.below_since_days_ago() * kMsPerDay;
  auto d = evaluate_tier(p.tiers, {c.current_tier(), c.value(), below, c.manual_floor(), now});
  if (!ck.outcome(d, c.error_code())) return;
  ck.eq("tier_id", d->tier_id, c.tier_id());
  ck.eq("change", std::string(change_name(d->change)), c.change());
  ck.eq("next_tier_id", d->next_tier_id, c.next_tier_id());
  ck.eq("distance_to_next", d->distance_to_next, c.distance_to_next());
  int64_t in_days = d->downgrade_at_ms ? (*d->downgrade_at_ms - now) / kMsPerDay : 0;
  ck.eq("downgrade_in_days", in_days, c.downgrade_in_days());
}

void run_lots(const Program& p, const TimeZone& z, const tv::LotCase& c, Check& ck) {
  std::vector<Lot> lots;
  for (const auto& spec : c.lots()) {
    auto at = local_instant(z, spec.earned_at_local());
    if (!at) return ck.note(at.error().message);
    Lot lot = open_lot(p.lots, z, spec.lot_id(), *at, spec.points());
    if (spec.has_remaining()) lot.remaining = spec.remaining();
    if (!spec.available_at_local().empty()) {
      ck.eq(spec.lot_id() + ".available_at", local_text(z, lot.available_at_ms),
            spec.available_at_local());
    }
    if (!spec.expires_at_local().empty()) {
      ck.eq(spec.lot_id() + ".expires_at", local_text(z, lot.expires_at_ms),
            spec.expires_at_local());
    }
    lots.push_back(lot);
  }
  auto now = local_instant(z, c.now_local());
  if (!now) return ck.note(now.error().message);
  auto b = balance_of(lots, *now, kNeverExpires);
  ck.eq("available", b.available, c.available());
  ck.eq("pending", b.pending, c.pending());
  auto draws_text = [](const auto& v) {
    std::string s;
    for (const auto& d : v) s += d.lot_id() + ":" + std::to_string(d.points()) + " ";
    return s;
  };
  auto got_text = [](const std::vector<Draw>& v) {
    std::string s;
    for (const auto& d : v) s += d.lot_id + ":" + std::to_string(d.points) + " ";
    return s;
  };
  ck.eq("expired", got_text(expire_due(lots, *now)), draws_text(c.expired()));
  if (c.spend() != 0) {
    auto d = draw_fifo(lots, c.spend(), *now);
    if (ck.outcome(d, c.error_code())) ck.eq("draws", got_text(*d), draws_text(c.draws()));
  }
}

void run_birthday(const Program& p, const TimeZone& z, const tv::BirthdayCase& c, Check& ck) {
  auto now = local_instant(z, c.now_local());
  if (!now) return ck.note(now.error().message);
  std::optional<int> last;
  if (c.has_last_awarded_year()) last = c.last_awarded_year();
  auto b =
      birthday_bonus(p, z, {static_cast<int>(c.month()), static_cast<int>(c.day()), last, *now});
  ck.eq("points", b ? b->points : 0, c.points());
}

void run_anniversary(const Program& p, const TimeZone& z, const tv::AnniversaryCase& c, Check& ck) {
  auto now = local_instant(z, c.now_local());
  if (!now) return ck.note(now.error().message);
  auto enrolled = local_instant(z, c.enrolled_local());
  if (!enrolled) return ck.note(enrolled.error().message);
  std::optional<int> last;
  if (c.has_last_awarded_year()) last = c.last_awarded_year();
  auto b = anniversary_bonus(p, z, {*enrolled, last, *now});
  ck.eq("points", b ? b->points : 0, c.points());
  if (b && c.year() != 0) ck.eq("year", b->year, c.year());
}

void run_identifier(const tv::IdentifierCase& c, Check& ck) {
  auto kind = identifier_kind_from_string(c.kind());
  if (!kind) return ck.note(kind.error().message);
  auto n = normalize_identifier(*kind, c.raw(), c.country());
  if (!ck.outcome(n, c.error_code())) return;
  ck.eq("normalized", n->value, c.normalized());
  if (!c.hash_hex().empty()) {
    std::vector<uint8_t> key(32, 'k');
    ck.eq("hash", to_hex(IdentifierHasher::create(key)->hash(*n)), c.hash_hex());
  }
}

void run_reward(const Program& p, const tv::RewardCase& c, Check& ck) {
  const Reward* r = p.reward(c.reward_id());
  if (r == nullptr) return ck.note("no reward " + c.reward_id());
  auto refusal_id = [](const Error& e) { return e.message_id.empty() ? e.message : e.message_id; };
  if (c.has_claim()) {
    const auto& s = c.claim();
    std::vector<std::string> segments(s.segments().begin(), s.segments().end());
    auto ok = check_claim(*r, {s.tier_id(), segments, s.now_ms(), s.available_points(),
                               s.member_coupons(), s.issued()});
    ck.eq("claim", ok ? std::string() : refusal_id(ok.error()), c.refusal());
    if (!ok && ok.error().message.empty()) ck.note("a refusal needs a message");
  }
  if (c.has_basket()) {
    auto basket = wire::basket_from_proto(c.basket());
    if (!basket) return ck.note("basket: " + basket.error().message);
    auto effect = coupon_effect(*r, *basket);
    ck.eq("coupon", effect ? std::string() : refusal_id(effect.error()), c.refusal());
    if (effect) {
      ck.eq("discount_minor", effect->discount.minor_units(), c.discount_minor());
      ck.eq("free_line_no", effect->free_line_no.value_or(0), c.free_line_no());
      ck.eq("points_multiplier_bp", effect->points_multiplier_bp, c.points_multiplier_bp());
      ck.eq("gift", effect->gift, c.gift());
    }
  }
}

Outcome run_vector(const std::string& file, const tv::VectorFile& vf, const tv::Vector& v,
                   TimeZoneSource& zones) {
  Outcome out{file, v.name(), "", false, ""};
  Check ck;
  const auto& pb = v.has_program() ? v.program() : vf.program();
  Result<Program> program = Program{};
  Result<TimeZone> zone = TimeZone::utc();
  if (v.kind_case() != tv::Vector::kIdentifier) {
    program = wire::program_from_proto(pb);
    if (!program) {
      out.detail = "program: " + program.error().message;
      return out;
    }
    // A store in its own zone runs the programme there (the store registry's zone).
    const bool own_zone = v.kind_case() == tv::Vector::kEarn && !v.earn().store_time_zone().empty();
    zone = zones.load(own_zone ? v.earn().store_time_zone() : program->time_zone);
    if (!zone) {
      out.detail = zone.error().message;
      return out;
    }
  }
  switch (v.kind_case()) {
    case tv::Vector::kEarn:
      out.kind = "earn";
      run_earn(*program, *zone, v.earn(), ck);
      break;
    case tv::Vector::kReturn:
      out.kind = "return";
      run_return(*program, *zone, v.return_(), ck);
      break;
    case tv::Vector::kRedeem:
      out.kind = "redeem";
      run_redeem(*program, v.redeem(), ck);
      break;
    case tv::Vector::kOffline:
      out.kind = "offline";
      run_offline(*program, v.offline(), ck);
      break;
    case tv::Vector::kTier:
      out.kind = "tier";
      run_tier(*program, v.tier(), ck);
      break;
    case tv::Vector::kLots:
      out.kind = "lots";
      run_lots(*program, *zone, v.lots(), ck);
      break;
    case tv::Vector::kBirthday:
      out.kind = "birthday";
      run_birthday(*program, *zone, v.birthday(), ck);
      break;
    case tv::Vector::kAnniversary:
      out.kind = "anniversary";
      run_anniversary(*program, *zone, v.anniversary(), ck);
      break;
    case tv::Vector::kIdentifier:
      out.kind = "identifier";
      run_identifier(v.identifier(), ck);
      break;
    case tv::Vector::kReward:
      out.kind = "reward";
      run_reward(*program, v.reward(), ck);
      break;
    case tv::Vector::KIND_NOT_SET:
      ck.note("vector has no case");
      break;
  }
  out.passed = ck.ok();
  out.detail = ck.detail();
  return out;
}

}  // namespace

Result<std::vector<LoadedFile>> load_directory(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::ranges::sort(files);
  std::vector<LoadedFile> out;
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    LoadedFile f{path.filename().string(), {}};
    auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &f.file);
    if (!st.ok()) {
      return fail(ErrorCode::kInvalidArgument, f.name + ": " + std::string(st.message()));
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Outcome> run_directory(const std::string& dir, TimeZoneSource& zones) {
  std::vector<Outcome> outcomes;
  auto files = load_directory(dir);
  if (!files) {
    outcomes.push_back({"(directory)", "(files)", "", false, files.error().message});
    return outcomes;
  }
  for (const auto& f : *files) {
    for (const auto& v : f.file.vectors()) outcomes.push_back(run_vector(f.name, f.file, v, zones));
  }
  return outcomes;
}

}  // namespace accrue::vectors
