// Rewards claimed at the till (docs/rewards.md, "Claims at the till"). Online the cloud decides
// while the till waits, like an online redemption: the claim's intent is made durable, the cloud
// is asked (POST /v1/sync/claim) and its answer settled; the cloud judges the rules, the stock and
// her points atomically and signs the coupon. Offline the store decides only rewards marked
// offline-claimable, within its budget of unconfirmed claims and the offline limits on points;
// the cloud signs the coupon when the claim uploads.
//
// An online claim the cloud did not answer is decided by the offline rules under the same event
// id (the upload is a duplicate if the cloud booked it after all); when they do not allow it, its
// intent stays and the till hears "ask again": the retry asks the cloud about the same claim. A
// claim the till never asks about again is abandoned by the sweep (abandon_online_claim).
#include "agent/core/service_parts.h"
#include "common/engine/rewards.h"
#include "common/sys/log.h"

namespace accrue::agent {

namespace pb = accrue::pos::v1;

namespace service_parts {

Result<void> abandon_online_claim(Replica& r, const sync::EventEnvelope& sent,
                                  const std::string& owner, TimestampMs now) {
  const auto& claim = sent.reward_claim();
  sync::EventEnvelope env = sent;
  env.mutable_reward_claim()->set_abandoned(true);
  LedgerRow row;
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(sent.event_id(), "event_id"));
  row.event_id = uuid_bytes(id);
  row.kind = pb::TRANSACTION_KIND_REWARD_CLAIM;
  row.owner = owner;
  row.points = 0;  // nothing was spent here; had the cloud booked it, her snapshot holds it
  row.occurred_at = sent.occurred_at_ms();
  row.till_id = claim.till_id();
  row.pos_tx_id = claim.pos_tx_id();
  row.program_version = sent.program_version();
  ACCRUE_TRY(append_event(r, row, std::move(env), now));
  log(LogLevel::kWarn, "online_claim_abandoned", {{"event_id", sent.event_id()}});
  return {};
}

}  // namespace service_parts

using namespace service_parts;

Result<AgentService::WriteTxn::ClaimPlan> AgentService::WriteTxn::plan_claim(
    bool offline, bool decided_by_cloud) {
  const auto& a = req.claim_reward();
  if (a.identifier().kind() == pb::IDENTIFIER_KIND_UNSPECIFIED) {
    return fail(ErrorCode::kInvalidArgument, "identifier: give the member's identifier");
  }
  if (a.reward_id().empty() || a.reward_id().size() > 40) {
    return fail(ErrorCode::kInvalidArgument, "reward_id: give the reward's id (at most 40)");
  }
  ClaimPlan plan;
  ACCRUE_ASSIGN_OR_RETURN(plan.m, ctx.resolve(r, a.identifier()));
  if (ctx.ask_first(plan.m)) return fail(ErrorCode::kUnavailable, "asking the cloud first");
  const Member& m = plan.m;
  if (!m.customer) {
    return refusal(ErrorCode::kNotFound, "reward.member_unknown", {},
                   "No member with this identifier: rewards cannot be claimed.");
  }
  if (m.customer->status == kStatusBlocked) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.member_blocked", {},
                   "This member is blocked: rewards cannot be claimed.");
  }
  plan.reward = program().reward(a.reward_id());
  if (!plan.reward) {
    return refusal(ErrorCode::kNotFound, "reward.unknown", {{"reward_id", a.reward_id()}},
                   "No reward " + a.reward_id() + " in the programme this store runs.");
  }
  const Reward& reward = *plan.reward;
  ACCRUE_ASSIGN_OR_RETURN(plan.lots, r.lots(m.owner));
  if (!decided_by_cloud) {
    // What this store can judge: the window, her tier, her points here. Her segments, her limit
    // and the stock are the cloud's (offline: bounded by the store's budget instead).
    const Balance b = balance_of(&*m.customer, plan.lots, now);
    ACCRUE_TRY(check_claim(reward, {m.customer->tier_id, reward.segments, now, b.available, 0, 0}));
  }
  if (offline) {
    if (!reward.offline_claimable) {
      return refusal(ErrorCode::kRefused, "offline.claim_not_allowed", {},
                     "This reward can be claimed only while the store is online.");
    }
    const uint32_t cap = program().offline_limits.max_store_offline_claims;
    ACCRUE_ASSIGN_OR_RETURN(auto outstanding, r.offline_claims());
    if (cap > 0 && outstanding >= cap) {
      return refusal(ErrorCode::kRefused, "offline.claim_limit", {{"max", std::to_string(cap)}},
                     "This store cannot issue more rewards until it is back online.");
    }
    if (reward.cost_points > 0) ACCRUE_TRY(offline_points_allowed(m.owner, reward.cost_points));
  }
  plan.id = service.event_ids_.next();
  plan.env = ctx.envelope(plan.id, now);
  auto* c = plan.env.mutable_reward_claim();
  c->set_customer_id(m.customer->customer_id);
  c->set_reward_id(reward.reward_id);
  c->set_coupon_id(service.event_ids_.next().to_string());
  c->set_till_id(req.till_id());
  c->set_pos_tx_id(pos_tx_id);
  c->set_cost_points(reward.cost_points);
  c->set_offline(offline);
  return plan;
}

Result<void> AgentService::WriteTxn::record_claim(ClaimPlan& plan,
                                                  const sync::OnlineClaimResponse* answer,
                                                  bool in_snapshot) {
  const Member& m = plan.m;
  const Reward& reward = *plan.reward;
  auto* claim = plan.env.mutable_reward_claim();
  const bool offline = answer == nullptr;
  claim->set_offline(offline);
  const int64_t cost = claim->cost_points();
  ACCRUE_TRY(spend(*m.customer, plan.lots, cost, !offline, in_snapshot));
  const TimestampMs expires_at =
      answer && answer->expires_at_ms() > 0
          ? answer->expires_at_ms()
          : plan.env.occurred_at_ms() + static_cast<int64_t>(reward.coupon_valid_days) * kMsPerDay;
  ACCRUE_ASSIGN_OR_RETURN(auto claim_seq,
                          record(plan.id, pb::TRANSACTION_KIND_REWARD_CLAIM, m.owner, -cost,
                                 std::nullopt, plan.env.occurred_at_ms(), plan.env));
  if (offline) {
    ACCRUE_TRY(r.add_offline_claims(1));
    if (cost > 0) ACCRUE_TRY(count_offline_points(m.owner, cost));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto coupon, Uuid::parse(claim->coupon_id(), "coupon_id"));
  if (reward.kind == RewardKind::kGift) {
    // Handed over now: the claim uses its own coupon (a new coupon: no double use to bound).
    Uuid use_id = service.event_ids_.next();
    auto env = ctx.envelope(use_id, now);
    auto* use = env.mutable_coupon_use();
    use->set_coupon_id(coupon.to_string());
    use->set_reward_id(reward.reward_id);
    use->set_customer_id(m.customer->customer_id);
    use->set_till_id(req.till_id());
    use->set_pos_tx_id(pos_tx_id + ":gift");
    use->set_expires_at_ms(expires_at);
    ACCRUE_ASSIGN_OR_RETURN(auto use_seq, record(use_id, pb::TRANSACTION_KIND_COUPON_USE, m.owner,
                                                 0, std::nullopt, now, env));
    ACCRUE_TRY(r.insert_coupon_use(use_seq, uuid_bytes(coupon), expires_at));
    event_seq = claim_seq;  // the till's receipt is the claim's
  }
  ACCRUE_ASSIGN_OR_RETURN(auto updated, r.customer(m.owner));
  ACCRUE_ASSIGN_OR_RETURN(auto after,
                          ctx.balance(r, Member{std::move(updated), m.owner, m.hash, m.kind}));
  auto* res = out.mutable_claim_reward();
  res->set_event_id(plan.id.to_string());
  res->set_coupon_id(coupon.to_string());
  if (answer) res->set_code(answer->code());
  res->set_expires_at_ms(expires_at);
  res->set_cost_points(cost);
  res->set_available_points(after.available);
  res->set_offline(offline);
  res->set_reward_id(reward.reward_id);
  res->set_reward_name(reward.name);
  if (reward.kind == RewardKind::kGift) res->set_gift(reward.gift);
  return {};
}

Result<void> AgentService::WriteTxn::claim_reward() {
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_claim(true, false));
  return record_claim(plan, nullptr, false);
}

Result<void> AgentService::WriteTxn::claim(const std::string& fingerprint, bool online) {
  ACCRUE_ASSIGN_OR_RETURN(auto pending, r.online_redemption(req.till_id(), pos_tx_id));
  if (pending) {
    // Asked again after "no answer": the same claim, so that the cloud books it at most once.
    if (pending->fingerprint != fingerprint) {
      return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " + req.till_id() +
                                            " is being claimed with different content.");
    }
    auto env = std::make_shared<sync::EventEnvelope>();
    if (!env->ParseFromString(pending->envelope) || !env->has_reward_claim()) {
      return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " + req.till_id() +
                                            " is being decided as another operation.");
    }
    if (service.claims_asked_.contains(env->event_id())) {
      return fail(ErrorCode::kUnavailable,
                  "This claim is being decided by the loyalty service; retry in a moment.");
    }
    if (!online) return settle_online_claim(*env, {});  // the offline rules, or wait longer
    // Written again as new, so that the sweep does not abandon it while it is asked about.
    ACCRUE_TRY(r.delete_online_redemption(req.till_id(), pos_tx_id));
    pending->created_at = now;
    ACCRUE_TRY(r.insert_online_redemption(*pending));
    service.claims_asked_.insert(env->event_id());
    ctx.online_event = std::move(env);
    return {};
  }
  if (!online) return claim_reward();
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_claim(false, false));
  auto env = std::make_shared<sync::EventEnvelope>(plan.env);
  ACCRUE_TRY(r.insert_online_redemption({req.till_id(), pos_tx_id, uuid_bytes(plan.id), fingerprint,
                                         plan.m.owner, env->SerializeAsString(), now}));
  ACCRUE_TRY(r.mark_in_flight(uuid_bytes(plan.id)));
  service.claims_asked_.insert(env->event_id());
  ctx.online_event = std::move(env);  // no receipt yet: the cloud's answer settles it
  return {};
}

Result<void> AgentService::WriteTxn::settle_online_claim(const sync::EventEnvelope& event,
                                                         const OnlineCalls::ClaimOutcome& outcome) {
  service.claims_asked_.erase(event.event_id());
  auto refuse = [&](Error error) -> Result<void> {
    out = error_response(req.request_id(), std::move(error));
    refused = true;
    return {};
  };
  ACCRUE_ASSIGN_OR_RETURN(auto intent, r.online_redemption(req.till_id(), pos_tx_id));
  ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(event.event_id(), "event_id"));
  if (!intent || intent->event_id != uuid_bytes(id)) {
    // Settled meanwhile without a receipt (refused), or abandoned by the sweep.
    return refuse({ErrorCode::kUnavailable,
                   "This claim was decided meanwhile; ask again to see the outcome.",
                   "reward.no_answer",
                   {}});
  }
  // The plan again under the event the cloud was asked about (its coupon id, its time).
  auto replan = [&](bool offline, bool decided_by_cloud) -> Result<ClaimPlan> {
    ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_claim(offline, decided_by_cloud));
    plan.id = id;
    plan.env = event;
    return plan;
  };
  auto settled = [&]() -> Result<std::set<std::string>> {
    ACCRUE_TRY(r.delete_online_redemption(req.till_id(), pos_tx_id));
    return r.land_in_flight(intent->event_id);
  };
  const auto& answer = outcome.response;
  const auto status = answer.result().status();
  if (outcome.answered &&
      (status == sync::EVENT_STATUS_APPLIED || status == sync::EVENT_STATUS_DUPLICATE)) {
    ACCRUE_ASSIGN_OR_RETURN(auto holders, settled());
    ACCRUE_ASSIGN_OR_RETURN(auto plan, replan(false, true));
    return record_claim(plan, &answer, holders.contains(event.reward_claim().customer_id()));
  }
  if (outcome.answered && !answer.message_id().empty()) {
    // Refused by the cloud on the reward's rules or her points: nothing was booked.
    ACCRUE_TRY(settled());
    const bool points = answer.message_id() == "points.insufficient";
    std::vector<std::pair<std::string, std::string>> params;
    if (points) params.emplace_back("available", std::to_string(answer.available_points()));
    return refuse({points ? ErrorCode::kInsufficientPoints : ErrorCode::kFailedPrecondition,
                   answer.result().message(), answer.message_id(), std::move(params)});
  }
  // Her snapshot may have come down holding it while the till waited (the cloud booked it, only
  // its answer was lost): whatever is recorded then spends nothing here.
  std::set<std::string> holders;
  if (!outcome.answered) {
    ACCRUE_ASSIGN_OR_RETURN(holders, r.land_in_flight(intent->event_id));
  }
  // The cloud could not decide (it does not know her yet, say) or did not answer: the offline
  // rules decide, under the same event id.
  auto plan = replan(true, false);
  if (plan) {
    ACCRUE_TRY(settled());
    return record_claim(*plan, nullptr, holders.contains(event.reward_claim().customer_id()));
  }
  const ErrorCode code = plan.error().code;
  if (code != ErrorCode::kRefused && code != ErrorCode::kInsufficientPoints &&
      code != ErrorCode::kNotFound && code != ErrorCode::kFailedPrecondition) {
    return std::unexpected(plan.error());  // the replica failed: the intent stays for the sweep
  }
  if (outcome.answered) {
    ACCRUE_TRY(settled());
    return refuse({ErrorCode::kFailedPrecondition,
                   "This reward cannot be claimed: " + answer.result().message(),
                   "reward.refused",
                   {}});
  }
  // No answer and not allowed offline: the intent stays, in flight with what it knew, so that
  // asking again asks the cloud about this same claim (it may have booked it).
  ACCRUE_TRY(r.mark_in_flight(intent->event_id));
  for (const auto& h : holders) ACCRUE_TRY(r.held_in_snapshot(intent->event_id, h));
  return refuse({ErrorCode::kUnavailable,
                 "The loyalty service did not answer. Ask again to finish this claim: nothing is "
                 "claimed twice.",
                 "reward.no_answer",
                 {}});
}

}  // namespace accrue::agent
