// Ingestion, part 3: one function per event kind. None does I/O: each reads the batch state,
// adds its rows to the state's Writes, or answers why the event is refused (changing nothing).
#include <algorithm>

#include "cloud/sync/feed.h"
#include "cloud/sync/ingest_parts.h"
#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/hex.h"
#include "common/identifier.h"
#include "common/uuid.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud::ingest {

namespace json = boost::json;

namespace {

constexpr uint8_t kRefundPurpose = 1;  // derived_v7: a return's refund of redeemed points

Rejection unknown_customer(const std::string& id) {
  return {"unknown_customer", "customer " + id + " is not known"};
}

constexpr int64_t kDayMs = 86'400'000;

Rejection not_enough_points(int64_t available, int64_t asked, std::string_view verb) {
  return {"insufficient_points", "Not enough points: " + std::to_string(available) +
                                     " available, " + std::to_string(asked) + " " +
                                     std::string(verb) + "."};
}

int64_t local_day(const PublishedProgram& p, TimestampMs at) {
  return day_of_ms(p.zone.to_local_ms(at));
}

json::object ledger_row(const sv1::EventEnvelope& e, LedgerKind kind, int64_t points) {
  json::object r;
  r["event_id"] = e.event_id();
  r["kind"] = to_int(kind);
  r["points"] = points;
  r["store_id"] = e.store_id();
  r["agent_id"] = e.agent_id();
  if (e.seq() != 0) r["seq"] = e.seq();
  r["program_id"] = e.program_id();
  r["program_version"] = e.program_version();
  r["occurred_at_ms"] = e.occurred_at_ms();
  return r;
}

// The return's row of sale_return (cloud/migrations/0018_returns_anywhere.sql).
json::object sale_return_row(const sv1::EventEnvelope& e, std::string_view status) {
  const auto& r = e.return_();
  json::object row{{"store_id", e.store_id()},   {"till_id", r.till_id()},
                   {"pos_tx_id", r.pos_tx_id()}, {"event_id", e.event_id()},
                   {"agent_id", e.agent_id()},   {"status", status}};
  if (r.original_event_id().empty()) {
    row["sale_store_id"] = r.original_store_id().empty() ? e.store_id() : r.original_store_id();
    row["sale_till_id"] = r.original_till_id().empty() ? r.till_id() : r.original_till_id();
    row["sale_pos_tx_id"] = r.original_pos_tx_id();
  }
  return row;
}

// `amount` * `part` / `whole` (0 <= part <= whole), rounded down, without overflowing.
int64_t pro_rata(int64_t amount, int64_t part, int64_t whole) {
  if (whole <= 0) return 0;
  return amount / whole * part + amount % whole * part / whole;
}

// Applies draws (lot id, points) to the customer's lots.
void take(BatchState& s, const CustomerState& c, const std::vector<Draw>& draws) {
  for (const Draw& d : draws) {
    for (size_t i : c.lots) {
      if (s.lots[i].lot.lot_id == d.lot_id) {
        s.lots[i].lot.remaining -= d.points;
        s.lots[i].dirty = true;
        break;
      }
    }
  }
}

// Draws up to `points` from the available lots, oldest first; what they cannot cover stays
// uncovered (an offline redemption the store allowed beyond what the cloud knew).
void draw_available(BatchState& s, const CustomerState& c, int64_t points, TimestampMs at) {
  take(s, c, plan_reversal(s.lots_of(c), "", points, at).draws);
}

// Whether the programme has a member's next earnings repay her overdraft.
bool repays(const PublishedProgram& p) {
  return p.program.offline_limits.overdraft_settlement ==
         OfflineLimits::Settlement::kRepayFromEarnings;
}

// A lot for `points` the caller has already credited to the balance. With `repay`, what the
// member owes (her balance below her lots: points two offline stores both honoured, or a return
// of points she had spent) is paid from it first: the lot keeps the rest.
void open_new_lot(BatchState& s, CustomerState& c, const LotPolicy& policy, const TimeZone& zone,
                  const std::string& lot_id, TimestampMs at, int64_t points, bool repay) {
  if (points <= 0) return;
  LotState l;
  l.customer_id = c.customer_id;
  l.lot = open_lot(policy, zone, lot_id, at, points);
  l.is_new = true;
  if (repay) {
    int64_t in_lots = points;
    for (size_t i : c.lots) in_lots += s.lots[i].lot.remaining;
    const int64_t owed = in_lots - (c.points + s.out.balances[c.customer_id].points);
    if (owed > 0) {
      const int64_t pay = std::min(owed, points);
      l.lot.remaining -= pay;
      s.out.repaid[c.customer_id] += pay;
    }
  }
  s.lots.push_back(std::move(l));
  c.lots.push_back(s.lots.size() - 1);
}

// Points available at once (enrolment bonuses, adjustments): no pending days.
void open_available_lot(BatchState& s, CustomerState& c, const PublishedProgram& p,
                        const std::string& lot_id, TimestampMs at, int64_t points) {
  LotPolicy immediate = p.program.lots;
  immediate.pending_days = 0;
  open_new_lot(s, c, immediate, p.zone, lot_id, at, points, repays(p));
}

// Points that count as earned (the balance, lifetime earned, tier qualification on that day).
void credit_earned(BatchState& s, const std::string& customer_id, const PublishedProgram& p,
                   TimestampMs at, int64_t points) {
  auto& d = s.out.balances[customer_id];
  d.points += points;
  d.earned += points;
  s.out.day_deltas[{customer_id, local_day(p, at)}].qualifying_points += points;
}

// The customer's row goes into the change feed once per batch (the stores that have her in
// scope download her again).
void feed_customer(BatchState& s, const std::string& id) {
  if (s.out.touched.insert(id).second) {
    s.out.feed.push_back(json::object{{"kind", to_int(FeedKind::kCustomer)}, {"customer_id", id}});
  }
}

// The provisional accruals against `hash` become the member's: a claim row each, a lot, and
// the sale's receipt now names her; her stores and the cache hear of it.
void claim_provisional(BatchState& s, const sv1::EventEnvelope& e, CustomerState& cs,
                       const std::string& hash, const EventContext& ctx) {
  auto it = s.unclaimed.find(hash);
  if (it == s.unclaimed.end()) return;
  feed_customer(s, cs.customer_id);
  const auto& p = s.program_of(e);
  for (const auto& [event_id, points, at] : it->second) {
    json::object row = ledger_row(e, LedgerKind::kClaimed, points);
    row["event_id"] = ctx.next_id().to_string();
    row["customer_id"] = cs.customer_id;
    row["ref_event_id"] = event_id;
    row["occurred_at_ms"] = at;
    row["seq"] = nullptr;
    s.out.ledger.push_back(std::move(row));
    credit_earned(s, cs.customer_id, p, at, points);
    open_new_lot(s, cs, p.program.lots, p.zone, event_id, at, points, repays(p));
    s.out.receipt_claims.push_back(
        json::object{{"event_id", event_id}, {"customer_id", cs.customer_id}});
    auto [sale, is_new] = s.sales.try_emplace(event_id);
    sale->second.customer_id = cs.customer_id;
    if (is_new) sale->second.left = points;
  }
  s.unclaimed.erase(it);
}

// The redemptions that paid for a sale, as its till named them: each the member's, made in this
// store, and not paying for another sale already; any other is left out (the store's claim is
// counted as a mismatch). Returns their points, which the sale's returns may refund.
int64_t link_redemptions(BatchState& s, const sv1::EventEnvelope& e, const CustomerState& cs,
                         const EventContext& ctx) {
  int64_t redeemed = 0;
  for (const auto& named : e.accrual().redemption_event_ids()) {
    auto uuid = Uuid::parse(named);
    auto it = uuid ? s.redemptions.find(uuid->to_string()) : s.redemptions.end();
    if (it == s.redemptions.end() || it->second.linked ||
        it->second.customer_id != cs.customer_id || it->second.store_id != e.store_id()) {
      ctx.count_mismatch();
      continue;
    }
    it->second.linked = true;
    redeemed += it->second.points;
    s.out.sale_redemptions.push_back(json::object{{"redemption_event_id", it->first},
                                                  {"sale_event_id", e.event_id()},
                                                  {"points", it->second.points}});
  }
  return redeemed;
}

// The factor of the points-multiplier coupon an accrual names, when the cloud holds its use (in
// an earlier batch or earlier in this one), in the same store, not voided, of a reward that is a
// points multiplier with that factor in the accrual's programme; else 0 (the sale earns without
// it, and a store that applied it is counted as a mismatch).
int64_t coupon_multiplier(const BatchState& s, const sv1::EventEnvelope& e,
                          const PublishedProgram& p) {
  const auto& a = e.accrual();
  if (a.points_multiplier_bp() == 0) return 0;
  const std::string& id = a.multiplier_coupon_use_event_id();
  std::optional<std::pair<std::string, std::string>> use;  // store, reward id
  if (auto it = s.multiplier_uses.find(id); it != s.multiplier_uses.end()) use = it->second;
  for (const auto& v : s.out.coupon_events) {
    const auto& row = v.as_object();
    const std::string kind(row.at("kind").as_string());
    if (kind == "use" && row.at("event_id").as_string() == id) {
      use = {std::string(row.at("store_id").as_string()),
             std::string(row.at("reward_id").as_string())};
    } else if (kind == "void" && row.at("use_event_id").as_string() == id) {
      use.reset();
    }
  }
  if (!use || use->first != e.store_id()) return 0;
  const Reward* reward = p.program.reward(use->second);
  if (!reward || reward->kind != RewardKind::kPointsMultiplier ||
      reward->multiplier_bp != a.points_multiplier_bp()) {
    return 0;
  }
  return a.points_multiplier_bp();
}

std::optional<Rejection> apply_accrual(BatchState& s, const sv1::EventEnvelope& e,
                                       const EventContext& ctx) {
  const auto& a = e.accrual();
  const auto& p = s.program_of(e);
  const TimestampMs at = e.occurred_at_ms();
  auto basket = wire::basket_from_proto(a.basket());
  if (!basket) return Rejection{"bad_basket", basket.error().message};
  CustomerState* cs = s.accrual_customer(a);
  if (!cs && !a.customer_id().empty()) return unknown_customer(a.customer_id());
  const int64_t day = local_day(p, at);
  const int64_t today =
      cs && p.program.daily_cap_points > 0 ? s.earned_today(cs->customer_id, day) : 0;
  auto earn = compute_earn(
      p.program, *basket,
      {cs ? cs->tier_id : "", today, &p.zone, ctx.country, coupon_multiplier(s, e, p)});
  if (!earn) return Rejection{"bad_basket", earn.error().message};
  const int64_t points = earn->points;
  int64_t total = 0;
  for (const auto& l : basket->lines) total += l.amount_minor;
  const std::string currency(basket->currency.code());

  json::object row = ledger_row(e, LedgerKind::kAccrual, points);
  if (points != a.points() && ctx.flow != Flow::kHeadOffice) {  // the web shop computes none
    row["agent_points"] = a.points();
    ctx.count_mismatch();
  }
  row["amount_minor"] = total;
  row["currency"] = currency;
  row["till_id"] = a.till_id();
  row["pos_tx_id"] = a.pos_tx_id();
  row["local_day"] = day;
  if (cs) {
    row["customer_id"] = cs->customer_id;
    auto& d = s.out.balances[cs->customer_id];
    d.points += points;
    d.earned += points;
    d.last_purchase_ms = std::max(d.last_purchase_ms, at);
    s.earned_on_day[{cs->customer_id, day}] = today + points;
    auto& dd = s.out.day_deltas[{cs->customer_id, day}];
    dd.earned += points;
    dd.qualifying_points += points;
    dd.spend_minor += total;
    open_new_lot(s, *cs, p.program.lots, p.zone, e.event_id(), at, points, repays(p));
    feed_customer(s, cs->customer_id);
  } else {
    // Provisional: kept against the identifier hash until a member with it enrols.
    row["owner_hash"] = to_hex(std::string_view(a.identifier().hash()));
    s.unclaimed[a.identifier().hash()].emplace_back(e.event_id(), points, at);
  }
  s.out.ledger.push_back(std::move(row));

  json::object rc;
  rc["event_id"] = e.event_id();
  if (cs) rc["customer_id"] = cs->customer_id;
  rc["store_id"] = e.store_id();
  rc["till_id"] = a.till_id();
  rc["pos_tx_id"] = a.pos_tx_id();
  rc["occurred_at_ms"] = at;
  rc["amount_minor"] = total;
  rc["currency"] = currency;
  rc["points_earned"] = points;
  std::vector<SaleLine> lines;
  for (size_t i = 0; i < basket->lines.size() && i < earn->lines.size(); ++i) {
    lines.push_back({basket->lines[i].line_no, basket->lines[i].quantity_milli,
                     earn->lines[i].points, 0, 0, basket->lines[i].amount_minor});
  }
  rc["lines"] = sale_lines_json(lines);
  const int64_t redeemed = cs ? link_redemptions(s, e, *cs, ctx) : 0;
  rc["redeemed_points"] = redeemed;
  s.out.receipts.push_back(std::move(rc));
  s.sales[e.event_id()] = {cs ? cs->customer_id : "", points, std::move(lines), false, redeemed};
  s.sales_by_ref[{e.store_id(), a.till_id(), a.pos_tx_id()}] = e.event_id();
  return std::nullopt;
}

// Takes `points` off the member for event `e` (a redemption, or a reward claim's cost) at the
// till `till_id`: the cloud decides online (refused when her available points do not cover it);
// what a store decided offline is honoured, and the part her points no longer cover (another
// store spent them meanwhile) is recorded as an overdraft, the realized offline exposure.
std::optional<Rejection> deduct(BatchState& s, const sv1::EventEnvelope& e, CustomerState& cs,
                                int64_t points, const loyalty::v1::Money* value,
                                const std::string& till_id, const std::string& pos_tx_id,
                                const EventContext& ctx) {
  if (ctx.flow == Flow::kOnline) {
    // Online: the cloud decides, atomically (the balance row is locked).
    const int64_t available = s.available(cs, ctx.now_ms);
    if (available < points) {
      if (ctx.available_after) *ctx.available_after = available;
      return not_enough_points(available, points, "asked");
    }
  } else if (ctx.flow == Flow::kStore) {
    const int64_t uncovered = points - std::max<int64_t>(0, s.available(cs, ctx.now_ms));
    if (uncovered > 0) {
      json::object o{{"event_id", e.event_id()},
                     {"customer_id", cs.customer_id},
                     {"store_id", e.store_id()},
                     {"points", uncovered},
                     {"value_minor", value ? pro_rata(value->minor_units(), uncovered, points) : 0},
                     {"currency", value ? value->currency() : std::string()},
                     {"occurred_at_ms", e.occurred_at_ms()}};
      s.out.overdrafts.push_back(std::move(o));
    }
  }
  json::object row = ledger_row(e, LedgerKind::kRedemption, -points);
  row["customer_id"] = cs.customer_id;
  row["till_id"] = till_id;
  row["pos_tx_id"] = pos_tx_id;
  if (value) {
    row["amount_minor"] = value->minor_units();
    row["currency"] = value->currency();
  }
  s.out.ledger.push_back(std::move(row));
  auto& d = s.out.balances[cs.customer_id];
  d.points -= points;
  d.redeemed += points;
  draw_available(s, cs, points, e.occurred_at_ms());
  if (ctx.available_after) *ctx.available_after = s.available(cs, ctx.now_ms);
  feed_customer(s, cs.customer_id);
  return std::nullopt;
}

std::optional<Rejection> apply_redemption(BatchState& s, const sv1::EventEnvelope& e,
                                          const EventContext& ctx) {
  const auto& r = e.redemption();
  CustomerState* cs = s.customer(r.customer_id());
  if (!cs) return unknown_customer(r.customer_id());
  if (r.points() <= 0) return Rejection{"bad_points", "redemption: points must be positive"};
  if (auto refused = deduct(s, e, *cs, r.points(), r.has_value() ? &r.value() : nullptr,
                            r.till_id(), r.pos_tx_id(), ctx)) {
    return refused;
  }
  if (auto id = Uuid::parse(e.event_id())) {
    s.redemptions[id->to_string()] = {cs->customer_id, e.store_id(), r.points(), false};
  }
  return std::nullopt;
}

// A reward claimed at a till (sync.proto, RewardClaim): its cost deducted like a redemption, and
// the coupon gathered for write_reward_claims. The reward's rules are the online entry's
// (Ingest::claim_online judges them before this runs); a claim decided offline is honoured.
std::optional<Rejection> apply_reward_claim(BatchState& s, const sv1::EventEnvelope& e,
                                            const EventContext& ctx, int index) {
  const auto& c = e.reward_claim();
  if (ctx.flow != Flow::kStore && ctx.flow != Flow::kOnline) {
    return Rejection{"bad_claim", "reward_claim: only a store claims at its tills"};
  }
  if (c.abandoned()) {
    // The store gave up on an online claim whose answer never reached the till: had the cloud
    // booked it, this upload would be a duplicate (mark_duplicates); it did not, so nothing is.
    if (ctx.flow != Flow::kStore) {
      return Rejection{"bad_claim", "reward_claim: only a store's upload abandons a claim"};
    }
    return std::nullopt;
  }
  CustomerState* cs = s.customer(c.customer_id());
  if (!cs) return unknown_customer(c.customer_id());
  const PublishedProgram& p = s.program_of(e);
  const Reward* reward = p.program.reward(c.reward_id());
  if (reward == nullptr) {
    return Rejection{"bad_claim", "reward_claim: no reward " + c.reward_id() + " in programme " +
                                      p.program.program_id + " v" +
                                      std::to_string(p.program.version)};
  }
  if (ctx.flow == Flow::kStore && !reward->offline_claimable) {
    // Claimed online, its upload is a duplicate; a store may decide only these offline.
    return Rejection{"bad_claim", "reward_claim: reward " + c.reward_id() +
                                      " may not be claimed while the store is offline"};
  }
  const auto member = Uuid::parse(cs->customer_id);
  if (!member) {
    return Rejection{"bad_claim", "reward_claim: customer " + cs->customer_id +
                                      " has no UUID id, which a coupon names its holder by"};
  }
  const std::string coupon_id = Uuid::parse(c.coupon_id())->to_string();  // checked as a UUID
  if (!s.taken_coupon_ids.insert(coupon_id).second) {
    return Rejection{"bad_claim", "reward_claim: coupon id " + coupon_id + " is taken"};
  }
  if (c.cost_points() != reward->cost_points) {
    return Rejection{"bad_claim", "reward_claim: the cost is " +
                                      std::to_string(reward->cost_points) +
                                      " points in this programme version, not " +
                                      std::to_string(c.cost_points())};
  }
  if (reward->cost_points > 0) {
    if (auto refused =
            deduct(s, e, *cs, reward->cost_points, nullptr, c.till_id(), c.pos_tx_id(), ctx)) {
      return refused;
    }
  }
  s.out.reward_claims.push_back(json::object{
      {"index", index},
      {"event_id", e.event_id()},
      {"store_id", e.store_id()},
      {"customer_id", cs->customer_id},
      {"reward_id", c.reward_id()},
      {"coupon_id", coupon_id},
      {"till_id", c.till_id()},
      {"pos_tx_id", c.pos_tx_id()},
      {"cost_points", reward->cost_points},
      {"program_id", p.program.program_id},
      {"program_version", p.program.version},
      {"offline", c.offline()},
      {"stock", reward->stock},
      {"occurred_at_ms", e.occurred_at_ms()},
      {"expires_at_ms",
       e.occurred_at_ms() + static_cast<int64_t>(reward->coupon_valid_days) * kDayMs}});
  return std::nullopt;
}

// Keeps a return the cloud cannot apply yet (its sale is unknown, or it asks for more than the
// sale has left) for head office's review list, with the store's event to apply later: the store
// hears "applied" and nothing is reversed until then (docs/lifecycle.md, "Returns").
std::optional<Rejection> hold_return(BatchState& s, const sv1::EventEnvelope& e,
                                     const EventContext& ctx, std::string note) {
  if (ctx.flow == Flow::kReview) return Rejection{"still_held", std::move(note)};
  const auto& r = e.return_();
  json::object row = sale_return_row(e, "held");
  row["envelope"] = to_hex(std::string_view(e.SerializeAsString()));
  row["note"] = std::move(note);
  if (!r.original_event_id().empty()) row["sale_event_id"] = r.original_event_id();
  s.out.sale_returns.push_back(std::move(row));
  return std::nullopt;
}

// Points redeemed on a returned sale given back (redemption.refund_on_return): a ledger row of
// their own under an id derived from the return's, available at once, and no longer redeemed.
void refund_redeemed(BatchState& s, const sv1::EventEnvelope& e, CustomerState& cs,
                     const std::string& sale_id, int64_t refund) {
  const auto& r = e.return_();
  const std::string id = derived_v7(*Uuid::parse(e.event_id()), kRefundPurpose).to_string();
  json::object row = ledger_row(e, LedgerKind::kRedemptionRefund, refund);
  row["event_id"] = id;
  row["seq"] = nullptr;  // the store's seq is the return's row
  if (r.points_refunded() > 0 && r.points_refunded() != refund) {
    row["agent_points"] = r.points_refunded();
  }
  row["customer_id"] = cs.customer_id;
  row["till_id"] = r.till_id();
  row["pos_tx_id"] = r.pos_tx_id();
  row["ref_event_id"] = sale_id;
  s.out.ledger.push_back(std::move(row));
  auto& d = s.out.balances[cs.customer_id];
  d.points += refund;
  d.redeemed -= refund;
  open_available_lot(s, cs, s.program_of(e), id, e.occurred_at_ms(), refund);
}

// A return, decided here from the sale's lines as the cloud recorded them (the store's figure is
// kept beside it when it differs): never more than the sale earned across all its returns, in
// whichever stores they were made.
std::optional<Rejection> apply_return(BatchState& s, const sv1::EventEnvelope& e,
                                      const EventContext& ctx) {
  const auto& r = e.return_();
  if (r.points_reversed() < 0) {
    return Rejection{"bad_points", "return: points_reversed must not be negative"};
  }
  if (r.original_event_id().empty() && r.original_pos_tx_id().empty()) {
    return Rejection{"bad_return", "return: name the sale (original_event_id or its transaction)"};
  }
  std::string sale_id;
  SaleState* sale = s.sale_of(e, &sale_id);
  if (!sale) return hold_return(s, e, ctx, "the sale is not known here yet");
  CustomerState* cs = sale->customer_id.empty() ? nullptr : s.customer(sale->customer_id);
  if (!cs) return hold_return(s, e, ctx, "the sale has no member yet (its points are provisional)");
  int64_t points = 0;
  std::vector<SaleLine> after;
  if (sale->lines && r.lines_size() > 0) {
    std::vector<ReturnLine> asked;
    for (const auto& l : r.lines()) asked.push_back({l.line_no(), l.quantity_milli()});
    auto outcome = compute_return(*sale->lines, asked);
    if (!outcome) {
      if (ctx.flow == Flow::kOnline || ctx.flow == Flow::kHeadOffice) {
        return Rejection{"bad_return", outcome.error().message};
      }
      return hold_return(s, e, ctx, outcome.error().message);
    }
    after = *sale->lines;
    count_return(after, *outcome);
    points = outcome->points_reversed;
  } else if (r.points_reversed() > 0) {
    points = r.points_reversed();  // no lines on one side: the store's figure, capped below
  } else {
    return hold_return(s, e, ctx, "the sale's lines are not known here");
  }
  points = std::min(points, sale->left);
  sale->left -= points;
  const PublishedProgram& p = s.program_of(e);
  const int64_t refund = p.program.redemption.refund_on_return && !after.empty()
                             ? redemption_refund(after, sale->redeemed, sale->refunded)
                             : 0;
  sale->refunded += refund;
  if (!after.empty()) {
    sale->lines = std::move(after);
    sale->lines_changed = true;
  }
  json::object row = ledger_row(e, LedgerKind::kReturn, -points);
  if (r.points_reversed() > 0 && points != r.points_reversed()) {
    row["agent_points"] = -r.points_reversed();
    ctx.count_mismatch();
  }
  row["customer_id"] = cs->customer_id;
  row["till_id"] = r.till_id();
  row["pos_tx_id"] = r.pos_tx_id();
  row["ref_event_id"] = sale_id;
  s.out.ledger.push_back(std::move(row));
  credit_earned(s, cs->customer_id, p, e.occurred_at_ms(), -points);
  take(s, *cs, plan_reversal(s.lots_of(*cs), sale_id, points, e.occurred_at_ms()).draws);
  // As for the points: a store that left the decision to the cloud sent no figure.
  if (r.points_refunded() > 0 && refund != r.points_refunded()) ctx.count_mismatch();
  if (refund > 0) refund_redeemed(s, e, *cs, sale_id, refund);
  s.out.receipt_reversals.push_back(
      json::object{{"event_id", sale_id}, {"points", points}, {"refunded", refund}});
  json::object seen = sale_return_row(e, "applied");
  seen["sale_event_id"] = sale_id;
  seen["customer_id"] = cs->customer_id;
  seen["points_reversed"] = points;
  seen["points_refunded"] = refund;
  s.out.sale_returns.push_back(std::move(seen));
  feed_customer(s, cs->customer_id);
  return std::nullopt;
}

// A member head office created gets the bonus a store's enrolment gives: the same ledger kind,
// an available lot, counted towards the tier.
std::optional<Rejection> apply_head_office_bonus(BatchState& s, const sv1::EventEnvelope& e,
                                                 CustomerState& cs, const EventContext& ctx) {
  const auto& a = e.adjustment();
  if (ctx.flow != Flow::kHeadOffice || a.points() != 0) {
    return Rejection{"bad_adjustment",
                     "adjustment: an enrolment bonus comes from head office, with points 0"};
  }
  const auto& p = s.program_of(e);
  const int64_t bonus = p.program.event_rules.enrolment_bonus_points;
  if (bonus <= 0) return std::nullopt;
  json::object row = ledger_row(e, LedgerKind::kEnrolmentBonus, bonus);
  row["customer_id"] = cs.customer_id;
  row["reason"] = a.reason();
  row["actor"] = a.actor();
  s.out.ledger.push_back(std::move(row));
  credit_earned(s, cs.customer_id, p, e.occurred_at_ms(), bonus);
  open_available_lot(s, cs, p, e.event_id(), e.occurred_at_ms(), bonus);
  feed_customer(s, cs.customer_id);
  return std::nullopt;
}

std::optional<Rejection> apply_adjustment(BatchState& s, const sv1::EventEnvelope& e,
                                          const EventContext& ctx) {
  const auto& a = e.adjustment();
  CustomerState* cs = s.customer(a.customer_id());
  if (!cs) return unknown_customer(a.customer_id());
  if (a.reason().empty()) return Rejection{"bad_adjustment", "adjustment: a reason is required"};
  if (a.enrolment_bonus()) return apply_head_office_bonus(s, e, *cs, ctx);
  if (!a.writes_off_overdraft().empty()) {
    if (ctx.flow != Flow::kHeadOffice || a.points() <= 0) {
      return Rejection{"bad_adjustment",
                       "adjustment: an overdraft is written off by head office, with points > 0"};
    }
    json::object row = ledger_row(e, LedgerKind::kAdjustment, a.points());
    row["customer_id"] = cs->customer_id;
    row["reason"] = a.reason();
    row["actor"] = a.actor();
    s.out.ledger.push_back(std::move(row));
    s.out.balances[cs->customer_id].points += a.points();  // no lot: the debt is what goes
    feed_customer(s, cs->customer_id);
    return std::nullopt;
  }
  if (ctx.flow == Flow::kHeadOffice && a.points() < 0) {
    const int64_t available = s.available(*cs, ctx.now_ms);
    if (available < -a.points()) return not_enough_points(available, -a.points(), "to deduct");
  }
  json::object row = ledger_row(e, LedgerKind::kAdjustment, a.points());
  row["customer_id"] = cs->customer_id;
  row["reason"] = a.reason();
  row["actor"] = a.actor();
  s.out.ledger.push_back(std::move(row));
  s.out.balances[cs->customer_id].points += a.points();
  if (a.points() > 0) {
    open_available_lot(s, *cs, s.program_of(e), e.event_id(), e.occurred_at_ms(), a.points());
  } else {
    draw_available(s, *cs, -a.points(), e.occurred_at_ms());
  }
  feed_customer(s, cs->customer_id);
  return std::nullopt;
}

// What a store's sealed contact may hold: an e-mail and a phone as the stores normalise them.
bool valid_contact(const ContactDetails& c) {
  auto same = [](IdentifierKind kind, const std::string& v) {
    if (v.empty()) return true;
    auto n = normalize_identifier(kind, v, "");
    return n && n->value == v;
  };
  return same(IdentifierKind::kEmail, c.email) && same(IdentifierKind::kPhone, c.phone);
}

// A new member's rows (customer, her personal data), with the programme's entry tier.
std::string create_member(BatchState& s, const sv1::EventEnvelope& e, const EventContext& ctx) {
  const auto& en = e.enrolment();
  const auto& p = s.program_of(e);
  const std::string id = ctx.next_id().to_string();
  const std::string tier =
      p.program.tiers.ladder.empty() ? "" : p.program.tiers.ladder.front().tier_id;
  json::object cu;
  cu["customer_id"] = id;
  cu["tier_id"] = tier;
  cu["home_store_id"] = e.store_id();
  cu["enrolled_at_ms"] = e.occurred_at_ms();
  cu["temp_customer_id"] = en.temp_customer_id();
  s.out.customers.push_back(std::move(cu));
  json::object pi;
  pi["customer_id"] = id;
  pi["display_name"] = en.display_name();
  if (en.birthday_month() >= 1 && en.birthday_month() <= 12 && en.birthday_day() >= 1 &&
      en.birthday_day() <= 31) {
    pi["birthday_month"] = en.birthday_month();
    pi["birthday_day"] = en.birthday_day();
  }
  // The contact details the till captured reach head office, readable only here: opened with
  // the cloud's key, or kept sealed when it cannot open them (no key, another key).
  if (!en.sealed_contact().empty()) {
    std::optional<ContactDetails> contact;
    if (ctx.contact) {
      if (auto c = ctx.contact->open(en.sealed_contact()); c && valid_contact(*c)) contact = *c;
    }
    if (contact) {
      if (!contact->email.empty()) pi["email"] = contact->email;
      if (!contact->phone.empty()) pi["phone"] = contact->phone;
    } else {
      pi["sealed_contact"] = to_hex(std::string_view(en.sealed_contact()));
      if (ctx.contact && ctx.count_unreadable_contact) ctx.count_unreadable_contact();
    }
  }
  // Each consent with the time the member gave (or refused) it at the till.
  pi["consents_at_ms"] = e.occurred_at_ms();
  pi["consent_terms"] = en.consent_terms();
  pi["consent_marketing_email"] = en.consent_marketing_email();
  pi["consent_marketing_sms"] = en.consent_marketing_sms();
  s.out.pii.push_back(std::move(pi));
  s.customers_by_id[id] = {id, tier, {}};
  return id;
}

std::optional<Rejection> apply_enrolment(BatchState& s, const sv1::EventEnvelope& e,
                                         const EventContext& ctx) {
  const auto& en = e.enrolment();
  const auto& p = s.program_of(e);
  if (en.temp_customer_id().empty()) {
    return Rejection{"bad_enrolment", "enrolment: temp_customer_id is required"};
  }
  // A member who already exists (one of the identifiers is known, or this temp id was mapped
  // before): the enrolment joins that member instead of creating a second one.
  std::string existing;
  if (auto t = s.temp_to_id.find(en.temp_customer_id()); t != s.temp_to_id.end()) {
    existing = t->second;
  }
  for (const auto& h : en.identifiers()) {
    if (auto k = s.hash_to_customer.find(h.hash());
        existing.empty() && k != s.hash_to_customer.end()) {
      existing = k->second;
    }
  }
  const std::string id = existing.empty() ? create_member(s, e, ctx) : existing;
  s.temp_to_id[en.temp_customer_id()] = id;
  CustomerState& cs = s.customers_by_id[id];
  for (const auto& h : en.identifiers()) {
    if (s.hash_to_customer.contains(h.hash())) continue;
    static const std::set<std::string, std::less<>> kKinds = {"card", "phone", "email", "qr"};
    if (!kKinds.contains(h.kind())) continue;
    s.hash_to_customer[h.hash()] = id;
    s.out.identifiers.push_back(json::object{
        {"hash", to_hex(std::string_view(h.hash()))}, {"kind", h.kind()}, {"customer_id", id}});
    s.out.feed.push_back(
        json::object{{"kind", to_int(FeedKind::kIdentifier)}, {"customer_id", id}});
  }
  s.out.feed.push_back(json::object{{"kind", to_int(FeedKind::kMapping)}, {"customer_id", id}});
  const int64_t bonus = existing.empty() ? p.program.event_rules.enrolment_bonus_points : 0;
  json::object row = ledger_row(e, LedgerKind::kEnrolmentBonus, bonus);
  if (bonus != en.bonus_points()) {
    row["agent_points"] = en.bonus_points();
    ctx.count_mismatch();
  }
  row["customer_id"] = id;
  s.out.ledger.push_back(std::move(row));
  credit_earned(s, id, p, e.occurred_at_ms(), bonus);
  open_available_lot(s, cs, p, e.event_id(), e.occurred_at_ms(), bonus);
  for (const auto& h : en.identifiers()) claim_provisional(s, e, cs, h.hash(), ctx);
  feed_customer(s, id);
  return std::nullopt;
}

// Head office's claim of the provisional accruals against identifiers it registered to a member
// (sync.proto, Claim).
std::optional<Rejection> apply_claim(BatchState& s, const sv1::EventEnvelope& e,
                                     const EventContext& ctx) {
  const auto& c = e.claim();
  if (ctx.flow != Flow::kHeadOffice) {
    return Rejection{"head_office_only", "claim: only head office claims provisional points"};
  }
  CustomerState* cs = s.customer(c.customer_id());
  if (!cs) return unknown_customer(c.customer_id());
  for (const auto& h : c.identifier_hashes()) {
    auto owner = s.hash_to_customer.find(h);
    if (owner == s.hash_to_customer.end() || owner->second != cs->customer_id) {
      return Rejection{"not_her_identifier",
                       "claim: an identifier does not belong to customer " + c.customer_id()};
    }
  }
  for (const auto& h : c.identifier_hashes()) claim_provisional(s, e, *cs, h, ctx);
  return std::nullopt;
}

}  // namespace

std::optional<Rejection> apply_event(BatchState& s, const sv1::EventEnvelope& e,
                                     const EventContext& ctx, int index) {
  switch (e.body_case()) {
    case sv1::EventEnvelope::kAccrual:
      return apply_accrual(s, e, ctx);
    case sv1::EventEnvelope::kRedemption:
      return apply_redemption(s, e, ctx);
    case sv1::EventEnvelope::kReturn:
      return apply_return(s, e, ctx);
    case sv1::EventEnvelope::kAdjustment:
      return apply_adjustment(s, e, ctx);
    case sv1::EventEnvelope::kEnrolment:
      return apply_enrolment(s, e, ctx);
    case sv1::EventEnvelope::kClaim:
      return apply_claim(s, e, ctx);
    case sv1::EventEnvelope::kCouponUse:
    case sv1::EventEnvelope::kCouponUseVoid:
      return apply_coupon_event(s, e, index);
    case sv1::EventEnvelope::kRewardClaim:
      return apply_reward_claim(s, e, ctx, index);
    default:
      return Rejection{"no_body", "unknown event type"};
  }
}

}  // namespace accrue::cloud::ingest
