// The write transaction: checks that need no replica, idempotency by (till_id, pos_tx_id),
// then accrue, return and enrol (redemption is in redemption.cpp).
#include <algorithm>

#include "agent/core/service_parts.h"
#include "common/engine/earn.h"
#include "common/engine/events.h"
#include "common/engine/returns.h"
#include "common/hex.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::agent {

using namespace service_parts;

Result<int64_t> AgentService::WriteTxn::record(const Uuid& id, int k, const std::string& owner,
                                               int64_t points, std::optional<Money> amount,
                                               TimestampMs at, sync::EventEnvelope& env) {
  LedgerRow row;
  row.event_id = uuid_bytes(id);
  row.kind = k;
  row.owner = owner;
  row.points = points;
  if (amount) {
    row.amount_minor = amount->minor_units();
    row.currency = std::string(amount->currency().code());
  }
  row.occurred_at = at;
  row.till_id = req.till_id();
  row.pos_tx_id = pos_tx_id;
  row.program_version = program().version;
  ACCRUE_ASSIGN_OR_RETURN(auto seq, r.insert_ledger(row));
  env.set_seq(static_cast<uint64_t>(seq));
  ACCRUE_TRY(r.insert_outbox(seq, row.event_id, env.SerializeAsString(), now));
  event_seq = seq;
  return seq;
}

// The redemptions the till names as having paid for this basket: each one of this till's, for
// this member, and not paying for another sale already.
Result<std::vector<LedgerRow>> AgentService::WriteTxn::redemptions_paying(const Member& m) {
  const auto& named = req.accrue().redemption_pos_tx_ids();
  std::vector<LedgerRow> paying;
  if (named.empty()) return paying;
  if (named.size() > kMaxRedemptionsPerSale) {
    return fail(ErrorCode::kInvalidArgument, "redemption_pos_tx_ids: at most 8 redemptions");
  }
  for (const auto& tx : named) {
    ACCRUE_TRY(check_id("redemption_pos_tx_ids", tx, true));
    ACCRUE_ASSIGN_OR_RETURN(auto w, r.till_write(req.till_id(), tx));
    std::optional<LedgerRow> entry;
    if (w && w->kind == pb::TRANSACTION_KIND_REDEMPTION && w->seq) {
      ACCRUE_ASSIGN_OR_RETURN(entry, r.ledger_entry(*w->seq));
    }
    if (!entry) {
      return refusal(
          ErrorCode::kNotFound, "sale.redemption_unknown", {{"pos_tx_id", tx}},
          "No redemption " + tx + " on till " + req.till_id() + " to pay for this sale.");
    }
    if (!m.customer || entry->owner != m.owner) {
      return refusal(ErrorCode::kFailedPrecondition, "sale.redemption_other_member",
                     {{"pos_tx_id", tx}}, "Redemption " + tx + " was made for another member.");
    }
    if (std::ranges::find(paying, entry->seq, &LedgerRow::seq) != paying.end()) {
      return fail(ErrorCode::kInvalidArgument,
                  "redemption_pos_tx_ids: redemption " + tx + " is listed twice");
    }
    ACCRUE_ASSIGN_OR_RETURN(auto sale, r.sale_paid_by(entry->seq));
    if (sale) {
      return refusal(ErrorCode::kFailedPrecondition, "sale.redemption_used", {{"pos_tx_id", tx}},
                     "Redemption " + tx + " already paid for another sale.");
    }
    paying.push_back(std::move(*entry));
  }
  return paying;
}

// The coupons the till names as applied to this basket: each a use on this till, live, not the
// holder's of another member, not counted for another sale; among them at most one points
// multiplier, whose factor this sale's points take.
Result<std::optional<AgentService::WriteTxn::CouponMultiplier>>
AgentService::WriteTxn::coupon_multiplier(const Member& m) {
  const auto& named = req.accrue().coupon_pos_tx_ids();
  std::optional<CouponMultiplier> found;
  if (named.size() > kMaxRedemptionsPerSale) {
    return fail(ErrorCode::kInvalidArgument, "coupon_pos_tx_ids: at most 8 coupons");
  }
  std::vector<int64_t> seen;
  for (const auto& tx : named) {
    ACCRUE_TRY(check_id("coupon_pos_tx_ids", tx, true));
    ACCRUE_ASSIGN_OR_RETURN(auto w, r.till_write(req.till_id(), tx));
    std::optional<CouponUseRow> use;
    if (w && w->kind == pb::TRANSACTION_KIND_COUPON_USE && w->seq) {
      ACCRUE_ASSIGN_OR_RETURN(use, r.coupon_use(*w->seq));
    }
    if (!use) {
      return refusal(ErrorCode::kNotFound, "coupon.use_unknown", {{"pos_tx_id", tx}},
                     "No coupon was applied as " + tx + " on this till.");
    }
    if (std::ranges::find(seen, use->seq) != seen.end()) {
      return fail(ErrorCode::kInvalidArgument,
                  "coupon_pos_tx_ids: coupon use " + tx + " is listed twice");
    }
    seen.push_back(use->seq);
    if (use->voided_seq) {
      return refusal(ErrorCode::kFailedPrecondition, "coupon.use_voided", {{"pos_tx_id", tx}},
                     "The coupon applied as " + tx + " was voided already.");
    }
    ACCRUE_ASSIGN_OR_RETURN(auto entry, r.ledger_entry(use->seq));
    if (!entry) return fail(ErrorCode::kInternal, "coupon use " + tx + ": its ledger row is gone");
    if (!entry->owner.empty() && entry->owner != m.owner) {
      return refusal(ErrorCode::kFailedPrecondition, "coupon.other_member", {{"pos_tx_id", tx}},
                     "This coupon belongs to another member.");
    }
    pb::Response applied;
    if (!applied.ParseFromString(w->response)) {
      return fail(ErrorCode::kInternal, "coupon use " + tx + ": its answer is unreadable");
    }
    const int64_t bp = applied.apply_coupon().coupon().points_multiplier_bp();
    if (bp == 0) continue;  // a discount: it changes no points
    if (use->sale_seq) {
      return refusal(ErrorCode::kFailedPrecondition, "sale.coupon_used", {{"pos_tx_id", tx}},
                     "The coupon applied as " + tx + " already counted for another sale.");
    }
    if (found) {
      return fail(ErrorCode::kInvalidArgument, "coupon_pos_tx_ids: one points multiplier per sale");
    }
    found = CouponMultiplier{use->seq, entry->event_id, bp};
  }
  return found;
}

Result<void> AgentService::WriteTxn::accrue(const Basket& basket) {
  const Program& program = ctx.program();
  const auto& a = req.accrue();
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, a.identifier()));
  if (ctx.ask_first(m)) return fail(ErrorCode::kUnavailable, "asking the cloud first");
  if (m.customer && m.customer->status == kStatusBlocked) {
    return refusal(ErrorCode::kFailedPrecondition, "earn.member_blocked", {},
                   "This member is blocked: no points can be earned.");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto paid_with, redemptions_paying(m));
  ACCRUE_ASSIGN_OR_RETURN(auto multiplier, coupon_multiplier(m));
  const int64_t day = ctx.local_day(basket.occurred_at_ms);
  ACCRUE_ASSIGN_OR_RETURN(auto d, r.daily(m.owner, day));
  const std::string tier = m.customer ? m.customer->tier_id : "";
  ACCRUE_ASSIGN_OR_RETURN(auto e, compute_earn(program, basket,
                                               {tier, d.first, &ctx.zone(), ctx.country(),
                                                multiplier ? multiplier->bp : 0}));
  Uuid id = service.event_ids_.next();
  int64_t total = 0;
  for (const auto& l : basket.lines) total += l.amount_minor;
  auto env = ctx.envelope(id, basket.occurred_at_ms);
  auto* acc = env.mutable_accrual();
  if (m.customer) acc->set_customer_id(m.customer->customer_id);
  if (!m.customer && m.hash && m.kind) {
    acc->mutable_identifier()->set_kind(std::string(to_string(*m.kind)));
    acc->mutable_identifier()->set_hash(
        std::string(reinterpret_cast<const char*>(m.hash->data()), m.hash->size()));
  }
  acc->set_till_id(req.till_id());
  acc->set_pos_tx_id(pos_tx_id);
  *acc->mutable_basket() = wire::basket_to_proto(basket);
  acc->set_points(e.points);
  for (const auto& l : e.lines) {
    auto* lp = acc->add_lines();
    lp->set_line_no(l.line_no);
    lp->set_points(l.points);
  }
  for (const auto& rid : e.rules_fired) acc->add_rules_fired(rid);
  acc->set_provisional(!m.customer);
  for (const auto& p : paid_with) acc->add_redemption_event_ids(event_id_text(p.event_id));
  if (multiplier) {
    acc->set_multiplier_coupon_use_event_id(event_id_text(multiplier->use_event_id));
    acc->set_points_multiplier_bp(multiplier->bp);
  }
  ACCRUE_ASSIGN_OR_RETURN(auto seq,
                          record(id, pb::TRANSACTION_KIND_ACCRUAL, m.owner, e.points,
                                 Money(total, basket.currency), basket.occurred_at_ms, env));
  if (e.points > 0) {
    Lot lot =
        open_lot(program.lots, ctx.zone(), std::to_string(seq), basket.occurred_at_ms, e.points);
    ACCRUE_TRY(r.insert_lot(seq, m.owner, lot));
  }
  for (size_t i = 0; i < basket.lines.size(); ++i) {
    ACCRUE_TRY(r.insert_sale_line(seq, {basket.lines[i].line_no, basket.lines[i].quantity_milli,
                                        e.lines[i].points, 0, 0, basket.lines[i].amount_minor}));
  }
  for (const auto& p : paid_with) ACCRUE_TRY(r.link_redemption(seq, p.seq, -p.points));
  if (multiplier) ACCRUE_TRY(r.set_coupon_use_sale(multiplier->use_seq, seq));
  ACCRUE_TRY(r.add_daily(m.owner, day, e.points, 0));
  ACCRUE_ASSIGN_OR_RETURN(auto b, ctx.balance(r, m));
  const bool on = ctx.online();
  auto* res = out.mutable_accrue();
  res->set_event_id(id.to_string());
  res->set_points_earned(e.points);
  res->set_available_points(b.available);
  res->set_pending_points(b.pending);
  res->set_offline(!on);
  res->set_provisional(!m.customer);
  res->set_program_version(program.version);
  if (multiplier) res->set_points_multiplier_bp(multiplier->bp);
  ACCRUE_ASSIGN_OR_RETURN(auto view, ctx.tier_view(r, m));
  if (!view.reached_tier_id.empty()) {
    res->set_reached_tier_id(view.reached_tier_id);
    res->set_reached_tier_name(tier_name(program, view.reached_tier_id));
  }
  return {};
}

Result<void> AgentService::WriteTxn::return_sale() {
  const auto& a = req.return_();
  ACCRUE_TRY(check_id("original_till_id", a.original_till_id(), false));
  ACCRUE_TRY(check_id("original_store_id", a.original_store_id(), false));
  if (!a.receipt_id().empty()) {
    if (!a.original_pos_tx_id().empty() || !a.original_till_id().empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "return: name the sale by its till and transaction or by receipt_id, not both");
    }
    if (!Uuid::parse(a.receipt_id(), "receipt_id")) {
      return fail(ErrorCode::kInvalidArgument,
                  "receipt_id: the sale's receipt id as printed on the slip");
    }
    return return_elsewhere();  // the cloud knows every uploaded sale by its id
  }
  ACCRUE_TRY(check_id("original_pos_tx_id", a.original_pos_tx_id(), true));
  if (!a.original_store_id().empty() && a.original_store_id() != service.settings_.store_id) {
    return return_elsewhere();
  }
  const std::string& till = a.original_till_id().empty() ? req.till_id() : a.original_till_id();
  ACCRUE_ASSIGN_OR_RETURN(auto original, r.till_write(till, a.original_pos_tx_id()));
  if (!original || original->kind != pb::TRANSACTION_KIND_ACCRUAL || !original->seq) {
    return fail(ErrorCode::kNotFound,
                "No sale " + a.original_pos_tx_id() + " on till " + till + " at this store.");
  }
  const int64_t sale_seq = *original->seq;
  ACCRUE_ASSIGN_OR_RETURN(auto sale_entry, r.ledger_entry(sale_seq));
  if (!sale_entry) {
    return fail(ErrorCode::kDataLoss, "the original sale's ledger entry is missing");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto rows, r.sale_lines(sale_seq));
  std::vector<SaleLine> sale;
  for (const auto& l : rows)
    sale.push_back({l.line_no, l.quantity_milli, l.points, l.returned_quantity_milli,
                    l.points_reversed, l.amount_minor});
  std::vector<ReturnLine> lines;
  for (const auto& l : a.lines()) lines.push_back({l.line_no(), l.quantity_milli()});
  ACCRUE_ASSIGN_OR_RETURN(auto outcome, compute_return(sale, lines));
  Points refund = 0;
  if (program().redemption.refund_on_return) {
    count_return(sale, outcome);
    ACCRUE_ASSIGN_OR_RETURN(auto paid, r.sale_redeemed(sale_seq));
    refund = redemption_refund(sale, paid.redeemed, paid.refunded);
  }
  // The ledger keeps the owner as written; an unknown identifier that enrolled since the
  // sale now has its lots under the member.
  std::string owner = sale_entry->owner;
  if (auto hash = hash_of_provisional_owner(owner)) {
    ACCRUE_ASSIGN_OR_RETURN(auto cid, r.customer_for_hash(*hash));
    if (cid) owner = *cid;
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lots, r.lots(owner));
  auto plan = plan_reversal(lots, std::to_string(sale_seq), outcome.points_reversed, now);
  for (const auto& dr : plan.draws) {
    auto it = std::ranges::find(lots, dr.lot_id, &Lot::lot_id);
    ACCRUE_TRY(r.set_lot_remaining(std::stoll(dr.lot_id), it->remaining - dr.points));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto customer, r.customer(owner));
  if (plan.shortfall > 0 && customer) ACCRUE_TRY(r.add_local_debit(owner, plan.shortfall));
  for (const auto& l : outcome.lines)
    ACCRUE_TRY(r.add_returned(sale_seq, l.line_no, l.quantity_milli, l.points));
  Uuid id = service.event_ids_.next();
  auto env = ctx.envelope(id, now);
  auto* ret = env.mutable_return_();
  if (customer) ret->set_customer_id(owner);
  ret->set_till_id(req.till_id());
  ret->set_pos_tx_id(pos_tx_id);
  ret->set_original_event_id(event_id_text(sale_entry->event_id));
  for (const auto& l : outcome.lines) {
    auto* rl = ret->add_lines();
    rl->set_line_no(l.line_no);
    rl->set_quantity_milli(l.quantity_milli);
  }
  ret->set_points_reversed(outcome.points_reversed);
  ret->set_points_refunded(refund);
  ACCRUE_ASSIGN_OR_RETURN(auto seq, record(id, pb::TRANSACTION_KIND_RETURN, owner,
                                           -outcome.points_reversed, std::nullopt, now, env));
  ACCRUE_TRY(r.set_ledger_ref(seq, sale_seq));
  if (refund > 0) {
    ACCRUE_TRY(r.add_refunded(sale_seq, refund));
    ACCRUE_TRY(credit_refund(seq, owner, refund));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto after_lots, r.lots(owner));
  ACCRUE_ASSIGN_OR_RETURN(auto updated, r.customer(owner));
  Balance after = balance_of(updated ? &*updated : nullptr, after_lots, now);
  const bool on = ctx.online();
  auto* res = out.mutable_return_();
  res->set_event_id(id.to_string());
  res->set_points_reversed(outcome.points_reversed);
  res->set_points_refunded(refund);
  res->set_available_points(after.available);
  res->set_offline(!on);
  return {};
}

// Redeemed points a return gave back: a lot of the return's own, available at once, until the
// cloud's snapshot of her covers it.
Result<void> AgentService::WriteTxn::credit_refund(int64_t seq, const std::string& owner,
                                                   int64_t points) {
  LotPolicy immediate = program().lots;
  immediate.pending_days = 0;
  return r.insert_lot(seq, owner,
                      open_lot(immediate, ctx.zone(), std::to_string(seq), now, points));
}

// A sale this replica does not hold (another store's, or named by its receipt id): online, the
// cloud decides while the till waits (ctx.online_event; settle_online_return records it);
// otherwise it is recorded as pending and the cloud decides when the event arrives.
Result<void> AgentService::WriteTxn::return_elsewhere() {
  const auto& a = req.return_();
  if (a.lines_size() == 0) {
    return fail(ErrorCode::kInvalidArgument, "lines: list the returned lines");
  }
  for (const auto& l : a.lines()) {
    if (l.quantity_milli() <= 0) {
      return fail(ErrorCode::kInvalidArgument, "lines: quantities must be positive");
    }
  }
  Uuid id = service.event_ids_.next();
  auto env = std::make_shared<sync::EventEnvelope>(ctx.envelope(id, now));
  auto* ret = env->mutable_return_();
  ret->set_till_id(req.till_id());
  ret->set_pos_tx_id(pos_tx_id);
  if (!a.receipt_id().empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto sale, Uuid::parse(a.receipt_id(), "receipt_id"));
    ret->set_original_event_id(sale.to_string());
  } else {
    ret->set_original_store_id(a.original_store_id().empty() ? service.settings_.store_id
                                                             : a.original_store_id());
    ret->set_original_till_id(a.original_till_id().empty() ? req.till_id() : a.original_till_id());
    ret->set_original_pos_tx_id(a.original_pos_tx_id());
  }
  for (const auto& l : a.lines()) {
    auto* rl = ret->add_lines();
    rl->set_line_no(l.line_no());
    rl->set_quantity_milli(l.quantity_milli());
  }
  if (service.calls_ && ctx.online()) {
    ACCRUE_TRY(r.mark_in_flight(uuid_bytes(id)));
    ctx.online_event = std::move(env);  // no receipt yet: the cloud's answer settles it
    return {};
  }
  return record_return_elsewhere(*env, {});
}

// Records a return of another store's sale with what the cloud answered (nothing: pending).
Result<void> AgentService::WriteTxn::record_return_elsewhere(
    sync::EventEnvelope env, const std::optional<sync::OnlineReturnResponse>& answer,
    bool in_snapshot) {
  const bool decided = answer && !answer->held_for_review();
  const int64_t points = decided ? answer->points_reversed() : 0;
  const int64_t refund = decided ? answer->points_refunded() : 0;
  std::string owner = answer ? answer->customer_id() : "";
  ACCRUE_ASSIGN_OR_RETURN(auto customer, r.customer(owner));
  if (!customer) owner.clear();
  auto* ret = env.mutable_return_();
  ret->set_customer_id(answer ? answer->customer_id() : "");
  ret->set_points_reversed(points);
  ret->set_points_refunded(refund);
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(env.event_id(), "event_id"));
  ACCRUE_ASSIGN_OR_RETURN(auto seq, record(id, pb::TRANSACTION_KIND_RETURN, owner, -points,
                                           std::nullopt, env.occurred_at_ms(), env));
  // The sale's lots are another store's: the reversal is a debit on her confirmed balance until
  // the cloud's next snapshot of her (unless the one applied while the till waited holds it).
  if (customer && !in_snapshot && points > 0) ACCRUE_TRY(r.add_local_debit(owner, points));
  if (customer && !in_snapshot && refund > 0) ACCRUE_TRY(credit_refund(seq, owner, refund));
  auto* res = out.mutable_return_();
  res->set_event_id(env.event_id());
  res->set_points_reversed(points);
  res->set_points_refunded(refund);
  res->set_available_points(answer ? answer->available_points() : 0);
  res->set_offline(!answer);
  res->set_pending(!decided);
  return {};
}

Result<void> AgentService::WriteTxn::settle_online_return(
    const sync::EventEnvelope& event, const OnlineCalls::ReturnOutcome& outcome) {
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(event.event_id(), "event_id"));
  ACCRUE_ASSIGN_OR_RETURN(auto holders, r.land_in_flight(uuid_bytes(id)));
  if (!outcome.answered) return record_return_elsewhere(event, {});
  const auto& result = outcome.response.result();
  if (result.status() == sync::EVENT_STATUS_APPLIED ||
      result.status() == sync::EVENT_STATUS_DUPLICATE) {
    return record_return_elsewhere(event, outcome.response,
                                   holders.contains(outcome.response.customer_id()));
  }
  if (result.reject_code() != "bad_return") return record_return_elsewhere(event, {});
  // Refused by the cloud (more than the sale has left, a line it does not have): nothing is
  // recorded, the till hears why. Any other refusal is the upload's to meet (quarantine).
  out = error_response(req.request_id(), {ErrorCode::kOutOfRange,
                                          "This return cannot be made: " + result.message(),
                                          "return.refused",
                                          {}});
  refused = true;
  return {};
}

template <typename Outcome>
void AgentService::online_write(
    const pb::Request& request, const Reply& reply, const WriteRequest& w,
    const std::shared_ptr<sync::EventEnvelope>& event,
    bool (OnlineCalls::*ask)(const sync::EventEnvelope&, std::function<void(Outcome)>),
    Result<void> (WriteTxn::*settle)(const sync::EventEnvelope&, const Outcome&)) {
  auto answered = [this, request, reply, kind = w.kind, pos_tx_id = w.pos_tx_id, print = w.print,
                   event, settle](Outcome outcome) {
    settle_online(request, reply, kind, pos_tx_id, print,
                  [event, settle, outcome = std::move(outcome)](WriteTxn& txn) {
                    return (txn.*settle)(*event, outcome);
                  });
  };
  if (!(calls_->*ask)(*event, answered)) {
    Outcome none;
    none.why = "the online queue is full";
    answered(std::move(none));
  }
}

void AgentService::settle_online(const pb::Request& request, const Reply& reply, int kind,
                                 const std::string& pos_tx_id, const Fingerprint& print,
                                 std::function<Result<void>(WriteTxn&)> settle) {
  const TimestampMs received = clock_.now_ms();
  auto ctx = std::make_shared<Context>(
      Context{*this, program(), received, received + max_deadline_ms_.load()});
  auto out = std::make_shared<pb::Response>();
  out->set_request_id(request.request_id());
  WriteJob job;
  job.apply = [this, ctx, out, request, kind, pos_tx_id, print,
               settle = std::move(settle)](Replica& r) -> Result<void> {
    const TimestampMs now = clock_.now_ms();
    ctx->now = now;
    // A retry that was answered while this one waited: its answer stands.
    ACCRUE_ASSIGN_OR_RETURN(auto prior, r.till_write(request.till_id(), pos_tx_id));
    if (prior) {
      if (!print.matches(prior->fingerprint)) {
        return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " +
                                              request.till_id() +
                                              " was already recorded with different content.");
      }
      out->ParseFromString(prior->response);
      out->set_request_id(request.request_id());
      return {};
    }
    WriteTxn txn{*this, r, *ctx, request, pos_tx_id, now, *out, std::nullopt};
    ACCRUE_TRY(settle(txn));
    if (txn.refused) return {};
    return r.insert_till_write(request.till_id(), pos_tx_id, kind, print.current,
                               out->SerializeAsString(), txn.event_seq, now);
  };
  job.done = [out, reply, request_id = request.request_id()](Result<void> result) {
    if (!result) return reply(error_response(request_id, result.error()));
    reply(std::move(*out));
  };
  if (!writer_.submit(std::move(job))) {
    // An online redemption's intent stays: the till's retry (or the next start) voids it.
    reply(error_response(request.request_id(), {ErrorCode::kResourceExhausted,
                                                "The loyalty agent is busy; please retry."}));
  }
}

Result<std::optional<std::string>> AgentService::WriteTxn::seal_for_cloud(
    const ContactDetails& contact) {
  if (contact.empty()) return std::nullopt;
  ACCRUE_ASSIGN_OR_RETURN(auto hex, r.meta("contact_key"));
  auto raw = from_hex(hex.value_or(""));
  if (!raw || raw->size() != 32) return std::nullopt;  // the cloud has no key (yet)
  ContactPublicKey key{};
  std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(key.data()));
  ACCRUE_ASSIGN_OR_RETURN(auto sealed, seal_contact(key, contact));
  return sealed;
}

Result<void> AgentService::WriteTxn::enroll() {
  const Program& program = ctx.program();
  const auto& a = req.enroll();
  if (a.identifiers_size() == 0 || a.identifiers_size() > 4) {
    return fail(ErrorCode::kInvalidArgument, "identifiers: give 1 to 4 identifiers");
  }
  if (!a.consents().terms()) {
    return refusal(ErrorCode::kFailedPrecondition, "enrol.terms_required", {},
                   "The member must accept the programme terms to enrol.");
  }
  if (a.display_name().size() > 40)
    return fail(ErrorCode::kInvalidArgument, "display_name: at most 40 bytes");
  if ((a.birthday_month() == 0) != (a.birthday_day() == 0) || a.birthday_month() > 12 ||
      (a.birthday_month() > 0 && static_cast<int>(a.birthday_day()) >
                                     days_in_month(2000, static_cast<int>(a.birthday_month())))) {
    return fail(ErrorCode::kInvalidArgument, "birthday: month 1..12 with a valid day, or neither");
  }
  std::vector<std::pair<IdentifierKind, IdentifierHash>> hashes;
  ContactDetails contact;  // the e-mail and phone among them, for head office (sealed below)
  for (const auto& id : a.identifiers()) {
    if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID)
      return fail(ErrorCode::kInvalidArgument, "identifiers: a customer id cannot be enrolled");
    ACCRUE_ASSIGN_OR_RETURN(auto n, ctx.normalize(id));
    if (n.kind == IdentifierKind::kEmail) contact.email = n.value;
    if (n.kind == IdentifierKind::kPhone) contact.phone = n.value;
    IdentifierHash h = service.hasher_.hash(n);
    ACCRUE_ASSIGN_OR_RETURN(auto existing, r.customer_for_hash(h));
    if (existing)
      return fail(ErrorCode::kAlreadyExists,
                  "This " + std::string(to_string(n.kind)) + " already belongs to a member.");
    if (std::ranges::any_of(hashes, [&](const auto& p) { return p.second == h; })) {
      return fail(ErrorCode::kInvalidArgument, "identifiers: the same identifier twice");
    }
    hashes.emplace_back(n.kind, h);
  }
  Uuid customer_id = Uuid::random_v4(service.random_);
  CustomerRow c;
  c.customer_id = customer_id.to_string();
  c.status = kStatusProvisional;
  c.tier_id = program.tiers.ladder.empty() ? "" : program.tiers.ladder.front().tier_id;
  c.display_name = a.display_name();
  c.home_store_id = service.settings_.store_id;
  c.birthday_month = static_cast<int>(a.birthday_month());
  c.birthday_day = static_cast<int>(a.birthday_day());
  c.enrolled_at = now;
  ACCRUE_TRY(r.upsert_customer(c));
  for (const auto& [k, h] : hashes) {
    ACCRUE_TRY(r.link_identifier(h, c.customer_id));
    ACCRUE_TRY(r.reassign_owner(provisional_owner(h), c.customer_id));
  }
  const int64_t bonus = enrolment_bonus(program);
  Uuid id = service.event_ids_.next();
  auto env = ctx.envelope(id, now);
  auto* en = env.mutable_enrolment();
  en->set_temp_customer_id(c.customer_id);
  for (const auto& [k, h] : hashes) {
    auto* hi = en->add_identifiers();
    hi->set_kind(std::string(to_string(k)));
    hi->set_hash(std::string(reinterpret_cast<const char*>(h.data()), h.size()));
  }
  en->set_display_name(c.display_name);
  en->set_consent_terms(a.consents().terms());
  en->set_consent_marketing_email(a.consents().marketing_email());
  en->set_consent_marketing_sms(a.consents().marketing_sms());
  en->set_birthday_month(a.birthday_month());
  en->set_birthday_day(a.birthday_day());
  en->set_bonus_points(bonus);
  ACCRUE_ASSIGN_OR_RETURN(auto sealed, seal_for_cloud(contact));
  if (sealed) en->set_sealed_contact(*sealed);
  ACCRUE_ASSIGN_OR_RETURN(auto seq, record(id, pb::TRANSACTION_KIND_ENROLMENT, c.customer_id, bonus,
                                           std::nullopt, now, env));
  if (bonus > 0) {
    LotPolicy immediate = program.lots;
    immediate.pending_days = 0;  // a welcome bonus is not subject to the return window
    ACCRUE_TRY(r.insert_lot(seq, c.customer_id,
                            open_lot(immediate, ctx.zone(), std::to_string(seq), now, bonus)));
  }
  auto* res = out.mutable_enroll();
  res->set_customer_id(c.customer_id);
  res->set_provisional(true);
  res->set_bonus_points(bonus);
  return {};
}

namespace {

Result<WriteRequest> check_write(const pb::Request& request, TimestampMs received,
                                 std::string_view country) {
  WriteRequest w;
  const google::protobuf::Message* op = nullptr;
  switch (request.op_case()) {
    case pb::Request::kAccrue: {
      op = &request.accrue();
      w.pos_tx_id = request.accrue().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_ACCRUAL;
      auto b = wire::basket_from_proto(request.accrue().basket());
      if (!b) return fail(b.error().code, "basket." + b.error().message);
      if (b->occurred_at_ms == 0) b->occurred_at_ms = received;
      w.basket = std::move(*b);
      break;
    }
    case pb::Request::kRedeem:
      op = &request.redeem();
      w.pos_tx_id = request.redeem().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_REDEMPTION;
      break;
    case pb::Request::kReturn:
      op = &request.return_();
      w.pos_tx_id = request.return_().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_RETURN;
      break;
    case pb::Request::kEnroll:
      op = &request.enroll();
      w.pos_tx_id = request.enroll().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_ENROLMENT;
      break;
    case pb::Request::kApplyCoupon:
      op = &request.apply_coupon();
      w.pos_tx_id = request.apply_coupon().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_COUPON_USE;
      break;
    case pb::Request::kVoidCoupon:
      op = &request.void_coupon();
      w.pos_tx_id = request.void_coupon().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_COUPON_VOID;
      break;
    case pb::Request::kClaimReward:
      op = &request.claim_reward();
      w.pos_tx_id = request.claim_reward().pos_tx_id();
      w.kind = pb::TRANSACTION_KIND_REWARD_CLAIM;
      break;
    default:
      return std::unexpected(invalid("not a write operation"));
  }
  ACCRUE_TRY(check_id("till_id", request.till_id(), true));
  ACCRUE_TRY(check_id("pos_tx_id", w.pos_tx_id, true));
  w.print = fingerprint(*op, country);
  return w;
}

// Invariant "same request, same answer" (docs/architecture.md): the same (till, pos_tx_id)
// answers what it answered the first time (marked replayed); a different body conflicts.
// Answers whether `out` now holds the recorded answer.
Result<bool> replay(Replica& r, const pb::Request& req, const WriteRequest& w, pb::Response& out) {
  ACCRUE_ASSIGN_OR_RETURN(auto prior, r.till_write(req.till_id(), w.pos_tx_id));
  if (!prior) return false;
  if (!w.print.matches(prior->fingerprint)) {
    return fail(ErrorCode::kConflict, "Transaction " + w.pos_tx_id + " on till " + req.till_id() +
                                          " was already recorded with different content.");
  }
  out.ParseFromString(prior->response);
  out.set_request_id(req.request_id());
  switch (out.result_case()) {
    case pb::Response::kAccrue:
      out.mutable_accrue()->set_replayed(true);
      break;
    case pb::Response::kRedeem:
      out.mutable_redeem()->set_replayed(true);
      break;
    case pb::Response::kReturn:
      out.mutable_return_()->set_replayed(true);
      break;
    case pb::Response::kEnroll:
      out.mutable_enroll()->set_replayed(true);
      break;
    case pb::Response::kApplyCoupon:
      out.mutable_apply_coupon()->set_replayed(true);
      break;
    case pb::Response::kVoidCoupon:
      out.mutable_void_coupon()->set_replayed(true);
      break;
    case pb::Response::kClaimReward:
      out.mutable_claim_reward()->set_replayed(true);
      break;
    default:
      break;
  }
  return true;
}

}  // namespace

// A redemption whose earlier attempt is still an intent here: the same body waits for the
// cloud's answer (retry in a moment) until it is stale, then the intent is voided and this
// attempt decides afresh; another body conflicts.
Result<void> AgentService::settle_pending_intent(Replica& r, const pb::Request& req,
                                                 const std::string& pos_tx_id,
                                                 const Fingerprint& print, TimestampMs now) {
  ACCRUE_ASSIGN_OR_RETURN(auto pending, r.online_redemption(req.till_id(), pos_tx_id));
  if (!pending) return {};
  if (!print.matches(pending->fingerprint)) {
    return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " + req.till_id() +
                                          " is being redeemed with different content.");
  }
  if (now - pending->created_at < kStaleOnlineRedemptionMs) {
    return fail(ErrorCode::kUnavailable,
                "This transaction is being decided by the loyalty service; retry in a moment.");
  }
  return void_intent(r, settings_.agent_id, *pending, event_ids_.next(), now,
                     "left undecided inside the agent");
}

// The write itself, in the writer's transaction: deadline, replay, then the operation and its
// receipt (an online redemption records only its intent; the cloud's answer settles it).
Result<void> AgentService::apply_write(Replica& r, Context& ctx, const pb::Request& req,
                                       const WriteRequest& w, pb::Response& out) {
  const TimestampMs now = clock_.now_ms();
  if (now > ctx.deadline) {
    return fail(ErrorCode::kDeadlineExceeded,
                "The request waited too long and was not applied; it is safe to retry.");
  }
  ctx.now = now;
  ACCRUE_ASSIGN_OR_RETURN(auto replayed, replay(r, req, w, out));
  if (replayed) return {};
  WriteTxn txn{*this, r, ctx, req, w.pos_tx_id, now, out, std::nullopt};
  Result<void> applied;
  switch (req.op_case()) {
    case pb::Request::kAccrue:
      applied = w.basket ? txn.accrue(*w.basket)
                         : fail(ErrorCode::kInternal, "accrue: the request has no basket");
      break;
    case pb::Request::kRedeem:
    case pb::Request::kApplyCoupon: {
      // Points or a coupon: decided here offline, or by the cloud while the till waits.
      const bool coupon = req.op_case() == pb::Request::kApplyCoupon;
      ACCRUE_TRY(settle_pending_intent(r, req, w.pos_tx_id, w.print, now));
      if (calls_ && online_.load()) {
        applied = coupon ? txn.prepare_online_coupon(w.print.current)
                         : txn.prepare_online_redeem(w.print.current);
        if (applied) return {};  // no receipt yet: the cloud's answer settles it
      } else {
        applied = coupon ? txn.apply_coupon() : txn.redeem();
      }
      break;
    }
    case pb::Request::kReturn:
      applied = txn.return_sale();
      if (applied && ctx.online_event) return {};  // another store's sale: the cloud decides
      break;
    case pb::Request::kEnroll:
      applied = txn.enroll();
      break;
    case pb::Request::kVoidCoupon:
      applied = txn.void_coupon();
      break;
    case pb::Request::kClaimReward:
      // Decided by the cloud while the till waits, or here offline (offline-claimable rewards).
      applied = txn.claim(w.print.current, calls_ && online_.load());
      if (applied && (ctx.online_event || txn.refused)) return {};  // no receipt (yet)
      break;
    default:
      return fail(ErrorCode::kInternal, "not a write operation");
  }
  if (!applied) return applied;
  return r.insert_till_write(req.till_id(), w.pos_tx_id, w.kind, w.print.current,
                             out.SerializeAsString(), txn.event_seq, now);
}

void AgentService::handle_write(const pb::Request& request, const Reply& reply, bool may_ask) {
  const TimestampMs received = clock_.now_ms();
  const uint32_t cap = max_deadline_ms_.load();
  uint32_t deadline_ms = std::min(
      request.deadline_ms() == 0 ? settings_.default_deadline_ms : request.deadline_ms(), cap);
  auto ctx = std::make_shared<Context>(Context{*this, program(), received, received + deadline_ms});
  // Validation that needs no replica happens here, before the request takes a writer slot.
  auto checked = check_write(request, received, ctx->country());
  if (!checked) return reply(error_response(request.request_id(), checked.error()));
  auto w = std::make_shared<WriteRequest>(std::move(*checked));
  ctx->may_ask = may_ask;
  auto out = std::make_shared<pb::Response>();
  out->set_request_id(request.request_id());
  WriteJob job;
  job.apply = [this, ctx, out, request, w](Replica& r) -> Result<void> {
    return apply_write(r, *ctx, request, *w, *out);
  };
  job.done = [this, ctx, out, reply, request, w](Result<void> result) {
    if (!result && ctx->ask_first_about) {
      // The outcome "ask the cloud first": look the identifier up, then run the request again.
      auto again = [this, request, reply]() { handle_write(request, reply, false); };
      if (!ask_cloud(ctx->ask_first_about, again)) again();
      return;
    }
    if (!result) return reply(error_response(request.request_id(), result.error()));
    if (const auto& e = ctx->online_event) {
      switch (request.op_case()) {
        case pb::Request::kReturn:
          return online_write(request, reply, *w, e, &OnlineCalls::return_sale,
                              &WriteTxn::settle_online_return);
        case pb::Request::kApplyCoupon:
          return online_write(request, reply, *w, e, &OnlineCalls::redeem,
                              &WriteTxn::settle_online_coupon);
        case pb::Request::kClaimReward:
          return online_write(request, reply, *w, e, &OnlineCalls::claim,
                              &WriteTxn::settle_online_claim);
        default:
          return online_write(request, reply, *w, e, &OnlineCalls::redeem,
                              &WriteTxn::settle_online_redeem);
      }
    }
    reply(std::move(*out));
  };
  if (!writer_.submit(std::move(job))) {
    reply(error_response(request.request_id(), {ErrorCode::kResourceExhausted,
                                                "The loyalty agent is busy; please retry."}));
  }
}

}  // namespace accrue::agent
