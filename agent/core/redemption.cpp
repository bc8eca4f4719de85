// Redemption: decided here within the programme's offline limits, or by the cloud while the
// till waits (intent, ask, settle); a redemption whose outcome stays unknown is voided.
#include <algorithm>
#include <future>

#include "agent/core/service_parts.h"
#include "common/engine/redemption.h"
#include "common/sys/log.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::agent {

namespace service_parts {

Result<void> append_event(Replica& r, const LedgerRow& row, sync::EventEnvelope env,
                          TimestampMs now) {
  ACCRUE_ASSIGN_OR_RETURN(auto seq, r.insert_ledger(row));
  env.set_seq(static_cast<uint64_t>(seq));
  return r.insert_outbox(seq, row.event_id, env.SerializeAsString(), now);
}

// Voids an online redemption whose outcome in the cloud is unknown. The redemption is uploaded
// as it was sent (a duplicate if the cloud applied it, applied now if it did not), followed by
// an adjustment that gives the points back: either way the member ends where they started, and
// both steps are in the cloud's ledger for the audit. Locally the rows carry their points (the
// redemption -P, the give-back +P) but change no lot and no debit: the till's view does not move.
// They matter when a download rebases the member (rebase_member): a snapshot that already holds
// the redemption (the cloud applied it, or it was uploaded) but not yet the give-back gets the
// give-back on top, so the till never sees the voided points missing.
Result<void> void_online_redemption(Replica& r, const std::string& agent_id,
                                    const sync::EventEnvelope& sent, const std::string& owner,
                                    const Uuid& adjustment_id, TimestampMs now,
                                    std::string_view why) {
  const auto& red = sent.redemption();
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(sent.event_id(), "event_id"));
  auto add = [&](const Uuid& event_id, int kind, sync::EventEnvelope env) -> Result<void> {
    LedgerRow row;
    row.event_id = uuid_bytes(event_id);
    row.kind = kind;
    row.owner = owner;
    row.points = kind == pb::TRANSACTION_KIND_REDEMPTION ? -red.points() : red.points();
    if (kind == pb::TRANSACTION_KIND_REDEMPTION) {
      row.amount_minor = red.value().minor_units();
      row.currency = red.value().currency();
    }
    row.occurred_at = env.occurred_at_ms();
    row.till_id = red.till_id();
    row.pos_tx_id = red.pos_tx_id();
    row.program_version = sent.program_version();
    return append_event(r, row, std::move(env), now);
  };
  ACCRUE_TRY(add(id, pb::TRANSACTION_KIND_REDEMPTION, sent));
  sync::EventEnvelope back = sent;
  back.clear_redemption();
  back.set_event_id(adjustment_id.to_string());
  back.set_occurred_at_ms(now);
  auto* adj = back.mutable_adjustment();
  adj->set_customer_id(red.customer_id());
  adj->set_points(red.points());
  adj->set_reason("void of online redemption " + sent.event_id() + ": " + std::string(why));
  adj->set_actor("agent " + agent_id);
  ACCRUE_TRY(add(adjustment_id, pb::TRANSACTION_KIND_ADJUSTMENT, std::move(back)));
  log(LogLevel::kWarn, "online_redemption_voided",
      {{"event_id", sent.event_id()}, {"reason", std::string(why)}});
  return {};
}

Result<void> void_intent(Replica& r, const std::string& agent_id, const OnlineRedemptionRow& row,
                         const Uuid& adjustment_id, TimestampMs now, std::string_view why) {
  sync::EventEnvelope sent;
  if (!sent.ParseFromString(row.envelope) ||
      (!sent.has_redemption() && !sent.has_coupon_use() && !sent.has_reward_claim())) {
    return fail(ErrorCode::kDataLoss, "an online redemption's record does not parse");
  }
  ACCRUE_TRY(r.land_in_flight(row.event_id));
  if (sent.has_reward_claim()) {
    ACCRUE_TRY(abandon_online_claim(r, sent, row.owner, now));
    // The till's transaction is answered from now on, so that a late retry cannot claim a
    // second time what the cloud may have booked (her app shows it if it did).
    const auto answer = AgentService::error_response(
        "", refusal(ErrorCode::kFailedPrecondition, "reward.abandoned", {},
                    "This claim was given up when the loyalty service did not answer. If it was "
                    "booked, the coupon is in her app; to claim again, start a new transaction.")
                .error());
    ACCRUE_TRY(r.insert_till_write(row.till_id, row.pos_tx_id,
                                   pos::v1::TRANSACTION_KIND_REWARD_CLAIM, row.fingerprint,
                                   answer.SerializeAsString(), std::nullopt, now));
  } else if (sent.has_coupon_use()) {
    ACCRUE_TRY(void_online_coupon(r, sent, row.owner, adjustment_id, now));
  } else {
    ACCRUE_TRY(void_online_redemption(r, agent_id, sent, row.owner, adjustment_id, now, why));
  }
  return r.delete_online_redemption(row.till_id, row.pos_tx_id);
}

}  // namespace service_parts

using namespace service_parts;

Result<AgentService::WriteTxn::RedeemPlan> AgentService::WriteTxn::plan_redeem(
    bool check_available) {
  const Program& program = ctx.program();
  const auto& a = req.redeem();
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, a.identifier()));
  if (ctx.ask_first(m)) return fail(ErrorCode::kUnavailable, "asking the cloud first");
  if (!m.customer)
    return refusal(ErrorCode::kNotFound, "redeem.member_unknown", {},
                   "No member with this identifier: points cannot be redeemed.");
  if (m.customer->status == kStatusBlocked) {
    return refusal(ErrorCode::kFailedPrecondition, "redeem.member_blocked", {},
                   "This member is blocked: points cannot be redeemed.");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto store_currency, Currency::from_code(service.settings_.currency));
  Currency currency = store_currency;
  // Her tier's worth of a point (a gold member's 100 points may buy more than a silver's).
  const int64_t value_bp = tier_redemption_value_bp(program, m.customer->tier_id);
  int64_t points = 0;
  if (a.amount_case() == pb::RedeemRequest::kPoints) {
    points = a.points();
    if (points <= 0) return fail(ErrorCode::kInvalidArgument, "points: must be positive");
  } else if (a.amount_case() == pb::RedeemRequest::kDiscount) {
    auto money = wire::money_from_proto(a.discount());
    if (!money) return fail(money.error().code, "discount." + money.error().message);
    currency = money->currency();
    ACCRUE_ASSIGN_OR_RETURN(
        auto p, points_for_discount(program.redemption, *money, ctx.country(), value_bp));
    points = p;
  } else {
    return fail(ErrorCode::kInvalidArgument, "redeem: give points or a discount");
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto value, redemption_value(program.redemption, currency, points, ctx.country(), value_bp));
  ACCRUE_ASSIGN_OR_RETURN(auto lots, r.lots(m.owner));
  if (check_available) {
    Balance b = balance_of(&*m.customer, lots, now);
    if (b.available < points) {
      const std::string available = std::to_string(std::max<int64_t>(0, b.available));
      return refusal(ErrorCode::kInsufficientPoints, "points.insufficient",
                     {{"available", available}}, "Not enough points: " + available + " available.");
    }
  }
  return RedeemPlan{std::move(m), points, value, std::move(lots)};
}

Result<void> AgentService::WriteTxn::apply_redeem(RedeemPlan& plan, const Uuid& id, TimestampMs at,
                                                  bool online, bool decided_by_cloud,
                                                  bool in_snapshot) {
  Member& m = plan.m;
  if (!m.customer) return fail(ErrorCode::kInternal, "redeem: the plan has no member");
  const int64_t points = plan.points;
  if (!online) ACCRUE_TRY(offline_points_allowed(m.owner, points));
  ACCRUE_TRY(spend(*m.customer, plan.lots, points, decided_by_cloud, in_snapshot));
  auto env = ctx.envelope(id, at);
  auto* red = env.mutable_redemption();
  red->set_customer_id(m.customer->customer_id);
  red->set_till_id(req.till_id());
  red->set_pos_tx_id(pos_tx_id);
  red->set_points(points);
  *red->mutable_value() = wire::money_to_proto(plan.value);
  red->set_offline(!online);
  ACCRUE_TRY(record(id, pb::TRANSACTION_KIND_REDEMPTION, m.owner, -points, plan.value, at, env));
  if (!online) ACCRUE_TRY(count_offline_points(m.owner, points));
  ACCRUE_ASSIGN_OR_RETURN(auto updated, r.customer(m.owner));
  ACCRUE_ASSIGN_OR_RETURN(auto after,
                          ctx.balance(r, Member{std::move(updated), m.owner, m.hash, m.kind}));
  auto* res = out.mutable_redeem();
  res->set_event_id(id.to_string());
  res->set_points_redeemed(points);
  *res->mutable_discount() = wire::money_to_proto(plan.value);
  res->set_available_points(after.available);
  res->set_offline(!online);
  return {};
}

Result<void> AgentService::WriteTxn::offline_points_allowed(const std::string& owner,
                                                            int64_t points) {
  ACCRUE_ASSIGN_OR_RETURN(auto d, r.daily(owner, ctx.local_day(now)));
  ACCRUE_ASSIGN_OR_RETURN(auto outstanding, r.offline_outstanding());
  std::optional<TimestampMs> last_sync;
  if (TimestampMs synced = service.last_sync_ms_.load(); synced != 0) last_sync = synced;
  auto decision = decide_offline_redemption(program().offline_limits,
                                            {points, d.second, outstanding, last_sync, now});
  if (!decision.allowed) {
    return refusal(ErrorCode::kRefused, "offline." + std::string(to_string(decision.refusal)),
                   std::move(decision.params), std::move(decision.message));
  }
  return {};
}

Result<void> AgentService::WriteTxn::count_offline_points(const std::string& owner,
                                                          int64_t points) {
  ACCRUE_TRY(r.add_daily(owner, ctx.local_day(now), 0, points));
  return r.add_offline_outstanding(points);
}

Result<void> AgentService::WriteTxn::spend(const CustomerRow& c, const std::vector<Lot>& lots,
                                           int64_t points, bool decided_by_cloud,
                                           bool in_snapshot) {
  if (in_snapshot || points <= 0) return {};
  const SpendPlan plan = plan_spend(c.confirmed_available - c.local_debit, lots, points, now);
  if (plan.uncovered > 0 && !decided_by_cloud) return std::unexpected(*plan.shortfall);
  for (const auto& dr : plan.draws) {
    auto it = std::ranges::find(lots, dr.lot_id, &Lot::lot_id);
    ACCRUE_TRY(r.set_lot_remaining(std::stoll(dr.lot_id), it->remaining - dr.points));
  }
  // Beyond what this replica knows (decided by the cloud): the cloud's figure rules.
  const int64_t from_confirmed = plan.from_confirmed + plan.uncovered;
  if (from_confirmed > 0) ACCRUE_TRY(r.add_local_debit(c.customer_id, from_confirmed));
  return {};
}

Result<void> AgentService::WriteTxn::redeem() {
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_redeem(true));
  return apply_redeem(plan, service.event_ids_.next(), now, ctx.online(), false);
}

Result<void> AgentService::WriteTxn::prepare_online_redeem(const std::string& fingerprint) {
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_redeem(true));
  if (!plan.m.customer) return fail(ErrorCode::kInternal, "redeem: the plan has no member");
  Uuid id = service.event_ids_.next();
  auto env = std::make_shared<sync::EventEnvelope>(ctx.envelope(id, now));
  auto* red = env->mutable_redemption();
  red->set_customer_id(plan.m.customer->customer_id);
  red->set_till_id(req.till_id());
  red->set_pos_tx_id(pos_tx_id);
  red->set_points(plan.points);
  *red->mutable_value() = wire::money_to_proto(plan.value);
  ACCRUE_TRY(r.insert_online_redemption({req.till_id(), pos_tx_id, uuid_bytes(id), fingerprint,
                                         plan.m.owner, env->SerializeAsString(), now}));
  ACCRUE_TRY(r.mark_in_flight(uuid_bytes(id)));
  ctx.online_event = std::move(env);
  return {};
}

Result<void> AgentService::WriteTxn::settle_online_redeem(
    const sync::EventEnvelope& event, const OnlineCalls::RedeemOutcome& outcome) {
  ACCRUE_ASSIGN_OR_RETURN(auto intent, r.online_redemption(req.till_id(), pos_tx_id));
  if (!intent || intent->event_id.size() != 16) {
    return fail(ErrorCode::kInternal, "the online redemption's record is missing");
  }
  const std::string owner = intent->owner;
  ACCRUE_TRY(r.delete_online_redemption(req.till_id(), pos_tx_id));
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(event.event_id(), "event_id"));
  const auto& sent = event.redemption();
  // A snapshot of the member that came down while the till waited holds the redemption: the
  // cloud applied it, whether or not its answer arrived.
  ACCRUE_ASSIGN_OR_RETURN(auto holders, r.land_in_flight(intent->event_id));
  const bool in_snapshot = holders.contains(sent.customer_id());
  ACCRUE_ASSIGN_OR_RETURN(auto value, wire::money_from_proto(sent.value()));
  auto refuse = [&](Error error) -> Result<void> {
    out = error_response(req.request_id(), std::move(error));
    refused = true;
    return {};
  };
  const auto status = outcome.result.status();
  if ((outcome.answered &&
       (status == sync::EVENT_STATUS_APPLIED || status == sync::EVENT_STATUS_DUPLICATE)) ||
      (!outcome.answered && in_snapshot)) {
    ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_redeem(false));
    plan.points = sent.points();
    plan.value = value;
    return apply_redeem(plan, id, event.occurred_at_ms(), true, true, in_snapshot);
  }
  if (outcome.answered && outcome.result.reject_code() == "insufficient_points") {
    return refuse({ErrorCode::kInsufficientPoints,
                   outcome.result.message(),
                   "points.insufficient",
                   {{"available", std::to_string(outcome.available_points)}}});
  }
  if (outcome.answered && outcome.result.reject_code() == "bad_points") {
    return refuse({ErrorCode::kInvalidArgument, outcome.result.message()});
  }
  // The cloud could not decide (it does not know the member yet, say) or did not answer:
  // the offline rules decide, with the same event id, so that the upload is a duplicate if
  // the cloud did apply it after all.
  auto plan = plan_redeem(true);
  Result<void> applied = plan ? Result<void>{} : Result<void>(std::unexpected(plan.error()));
  if (plan) {
    plan->points = sent.points();
    plan->value = value;
    applied = apply_redeem(*plan, id, event.occurred_at_ms(), false, false);
  }
  if (applied) return {};
  const ErrorCode code = applied.error().code;
  if (code != ErrorCode::kRefused && code != ErrorCode::kInsufficientPoints &&
      code != ErrorCode::kNotFound && code != ErrorCode::kFailedPrecondition) {
    return applied;  // the replica failed: the intent stays and is voided at the next start
  }
  if (outcome.answered) return refuse(applied.error());
  // Unknown outcome and not allowed offline: void it, so the points come back if the cloud
  // applied it.
  ACCRUE_TRY(void_online_redemption(r, service.settings_.agent_id, event, owner,
                                    service.event_ids_.next(), now,
                                    "the store got no answer from the cloud"));
  return refuse({ErrorCode::kUnavailable,
                 "The loyalty service did not answer, and offline: " + applied.error().message +
                     " No points were redeemed.",
                 "redeem.no_answer",
                 {}});
}

namespace {

// Voids, in one writer job, the undecided online redemptions written before `before` (all of
// them when absent). Returns how many.
Result<int> void_online_redemptions(
    GroupCommitWriter& writer, std::optional<TimestampMs> before,
    const std::function<Result<void>(Replica&, const OnlineRedemptionRow&)>& void_one) {
  std::promise<Result<int>> done;
  auto result = done.get_future();
  auto count = std::make_shared<int>(0);
  WriteJob job;
  job.apply = [before, count, &void_one](Replica& r) -> Result<void> {
    // At the start, nothing is in flight any more: what was is voided below, or was a return
    // whose till heard nothing (it asks again).
    if (!before) ACCRUE_TRY(r.clear_in_flight());
    ACCRUE_ASSIGN_OR_RETURN(auto rows, r.online_redemptions());
    for (const auto& row : rows) {
      if (before && row.created_at >= *before) continue;
      ACCRUE_TRY(void_one(r, row));
      ++*count;
    }
    return {};
  };
  job.done = [&done, count](Result<void> r) {
    if (!r) return done.set_value(std::unexpected(r.error()));
    done.set_value(*count);
  };
  if (!writer.submit(std::move(job))) return fail(ErrorCode::kUnavailable, "the writer is busy");
  return result.get();
}

}  // namespace

Result<int> AgentService::recover_online_redemptions() {
  return void_online_redemptions(
      writer_, std::nullopt, [this](Replica& r, const OnlineRedemptionRow& row) {
        return void_intent(r, settings_.agent_id, row, event_ids_.next(), clock_.now_ms(),
                           "the agent stopped before the cloud's answer was recorded");
      });
}

Result<int> AgentService::void_stale_online_redemptions() {
  const TimestampMs before = clock_.now_ms() - kStaleOnlineRedemptionMs;
  {
    auto lease = readers_.acquire();
    ACCRUE_TRY(lease.latest());
    ACCRUE_ASSIGN_OR_RETURN(auto oldest, lease->oldest_online_redemption());
    if (!oldest || *oldest >= before) return 0;
  }
  return void_online_redemptions(
      writer_, before, [this](Replica& r, const OnlineRedemptionRow& row) {
        return void_intent(r, settings_.agent_id, row, event_ids_.next(), clock_.now_ms(),
                           "left undecided: the till did not come back for it");
      });
}

}  // namespace accrue::agent
