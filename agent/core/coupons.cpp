// Coupons at the till (docs/rewards.md): check, apply and void, and the rewards a member may
// claim. Coupons are decided here, without asking anyone: the cloud's signature (keys from the
// change feed), the expiry, the coupons the feed says were spent elsewhere, this store's own uses,
// and the programme's bound on uses the cloud has not confirmed yet. The cloud reconciles every use
// on upload.
#include "agent/core/service_parts.h"
#include "common/engine/rewards.h"
#include "common/sys/log.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::agent {

namespace {

namespace pb = accrue::pos::v1;

Result<Basket> basket_of(const loyalty::v1::Basket& proto) {
  auto b = wire::basket_from_proto(proto);
  if (!b) return fail(b.error().code, "basket." + b.error().message);
  return std::move(*b);
}

}  // namespace

namespace service_parts {

Result<void> void_online_coupon(Replica& r, const sync::EventEnvelope& sent,
                                const std::string& owner, const Uuid& void_id, TimestampMs now) {
  const auto& use = sent.coupon_use();
  auto add = [&](const std::string& event_id, int kind, sync::EventEnvelope env) -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(event_id, "event_id"));
    LedgerRow row;
    row.event_id = uuid_bytes(id);
    row.kind = kind;
    row.owner = owner;
    row.occurred_at = env.occurred_at_ms();
    row.till_id = use.till_id();
    row.pos_tx_id = use.pos_tx_id();
    row.program_version = sent.program_version();
    return append_event(r, row, std::move(env), now);
  };
  ACCRUE_TRY(add(sent.event_id(), pb::TRANSACTION_KIND_COUPON_USE, sent));
  sync::EventEnvelope back = sent;
  back.clear_coupon_use();
  back.set_event_id(void_id.to_string());
  back.set_occurred_at_ms(now);
  auto* v = back.mutable_coupon_use_void();
  v->set_coupon_id(use.coupon_id());
  v->set_use_event_id(sent.event_id());
  v->set_till_id(use.till_id());
  v->set_pos_tx_id(use.pos_tx_id() + ":void");
  ACCRUE_TRY(add(void_id.to_string(), pb::TRANSACTION_KIND_COUPON_VOID, std::move(back)));
  log(LogLevel::kWarn, "online_coupon_use_voided", {{"event_id", sent.event_id()}});
  return {};
}

}  // namespace service_parts

using namespace service_parts;

Result<AgentService::Coupons::Found> AgentService::Coupons::find(Context& ctx, Replica& r,
                                                                 std::string_view code,
                                                                 const pb::Identifier& identifier,
                                                                 TimestampMs now,
                                                                 bool decided_by_cloud) {
  if (code.empty()) return fail(ErrorCode::kInvalidArgument, "code: give the coupon's code");
  CouponVerifier verifier;
  ACCRUE_ASSIGN_OR_RETURN(auto keys, r.coupon_keys());
  for (const auto& [id, key] : keys) ACCRUE_TRY(verifier.add_key(id, key));
  Found f;
  // As keyed or scanned: the decoding ignores case, spaces and dashes, and bounds the length.
  ACCRUE_ASSIGN_OR_RETURN(f.claims, verifier.verify(code, now));
  f.raw_id = uuid_bytes(f.claims.coupon_id);
  // The cloud's "used" for the very use it just applied may have come with the feed already.
  ACCRUE_ASSIGN_OR_RETURN(auto spent,
                          decided_by_cloud ? Result<bool>(false) : r.coupon_spent(f.raw_id));
  if (spent) {
    return refusal(ErrorCode::kFailedPrecondition, "coupon.spent", {},
                   "This coupon has already been used or was cancelled.");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto used, r.live_coupon_use(f.raw_id));
  if (used) {
    return refusal(ErrorCode::kFailedPrecondition, "coupon.used_here", {},
                   "This coupon has already been used in this store.");
  }
  f.reward = ctx.program().reward(f.claims.reward_id);
  if (!f.reward) {
    return refusal(ErrorCode::kFailedPrecondition, "coupon.reward_unknown",
                   {{"reward_id", f.claims.reward_id}},
                   "This coupon's reward is not in the programme this store runs yet.");
  }
  if (identifier.kind() != pb::IDENTIFIER_KIND_UNSPECIFIED) {
    ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, identifier));
    f.member = std::move(m);
  }
  if (f.claims.member_id) {
    if (!f.member) {
      return refusal(ErrorCode::kFailedPrecondition, "coupon.member_needed", {},
                     "This coupon belongs to a member: identify the member first.");
    }
    if (!f.member->customer || f.member->customer->customer_id != f.claims.member_id->to_string()) {
      return refusal(ErrorCode::kFailedPrecondition, "coupon.other_member", {},
                     "This coupon belongs to another member.");
    }
  }
  if (f.member && f.member->customer && f.member->customer->status == kStatusBlocked) {
    return refusal(ErrorCode::kFailedPrecondition, "coupon.member_blocked", {},
                   "This member is blocked: coupons cannot be used.");
  }
  return f;
}

Result<pb::CouponCheck> AgentService::Coupons::describe(const Found& f, const Basket* basket) {
  pb::CouponCheck c;
  c.set_coupon_id(f.claims.coupon_id.to_string());
  c.set_reward_id(f.reward->reward_id);
  c.set_reward_name(f.reward->name);
  c.set_expires_at_ms(f.claims.expires_at_ms);
  c.set_bearer(!f.claims.member_id);
  if (!basket) return c;
  ACCRUE_ASSIGN_OR_RETURN(auto effect, coupon_effect(*f.reward, *basket));
  if (effect.discount.minor_units() > 0) {
    *c.mutable_discount() = wire::money_to_proto(effect.discount);
  }
  if (effect.free_line_no) c.set_free_line_no(*effect.free_line_no);
  c.set_points_multiplier_bp(effect.points_multiplier_bp);
  c.set_gift(effect.gift);
  return c;
}

Result<pb::CouponCheck> AgentService::Coupons::check(Context& ctx, Replica& r,
                                                     const pb::Request& request) {
  const auto& a = request.check_coupon();
  ACCRUE_ASSIGN_OR_RETURN(auto found, find(ctx, r, a.code(), a.identifier(), ctx.now, false));
  if (!a.has_basket()) return describe(found, nullptr);
  ACCRUE_ASSIGN_OR_RETURN(auto basket, basket_of(a.basket()));
  return describe(found, &basket);
}

Result<pb::RewardList> AgentService::Coupons::rewards(Context& ctx, Replica& r,
                                                      const pb::Request& request) {
  const auto& identifier = request.list_rewards().identifier();
  if (identifier.kind() == pb::IDENTIFIER_KIND_UNSPECIFIED) {
    return fail(ErrorCode::kInvalidArgument, "identifier: give the member's identifier");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, identifier));
  if (!m.customer) {
    return refusal(ErrorCode::kNotFound, "reward.member_unknown", {},
                   "No member with this identifier: there are no rewards to show.");
  }
  if (m.customer->status == kStatusBlocked) {
    return refusal(ErrorCode::kFailedPrecondition, "reward.member_blocked", {},
                   "This member is blocked: rewards cannot be claimed.");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto balance, ctx.balance(r, m));
  ACCRUE_ASSIGN_OR_RETURN(auto currency, Currency::from_code(ctx.service.settings_.currency));
  pb::RewardList list;
  list.set_available_points(balance.available);
  list.set_offline(!ctx.online());
  for (const Reward& reward : ctx.program().rewards) {
    auto* o = list.add_rewards();
    o->set_reward_id(reward.reward_id);
    o->set_name(reward.name);
    o->set_cost_points(reward.cost_points);
    o->set_claim_until_ms(reward.claim_until_ms);
    o->set_offline_claimable(reward.offline_claimable);
    switch (reward.kind) {
      case RewardKind::kFixedDiscount:
        o->set_kind(pb::REWARD_KIND_FIXED_DISCOUNT);
        for (const auto& a : reward.amounts) {
          if (a.currency == currency) {
            *o->mutable_discount() = wire::money_to_proto(Money(a.minor_units, currency));
          }
        }
        break;
      case RewardKind::kPercentDiscount:
        o->set_kind(pb::REWARD_KIND_PERCENT_DISCOUNT);
        o->set_percent_bp(reward.percent_bp);
        break;
      case RewardKind::kFreeItem:
        o->set_kind(pb::REWARD_KIND_FREE_ITEM);
        break;
      case RewardKind::kPointsMultiplier:
        o->set_kind(pb::REWARD_KIND_POINTS_MULTIPLIER);
        o->set_points_multiplier_bp(reward.multiplier_bp);
        break;
      case RewardKind::kGift:
        o->set_kind(pb::REWARD_KIND_GIFT);
        o->set_gift(reward.gift);
        break;
    }
    // What this store knows: the window, her tier, her points. Her segments, her limit and the
    // stock are judged by the cloud when she claims (given here as passing).
    auto ok = check_claim(reward,
                          {m.customer->tier_id, reward.segments, ctx.now, balance.available, 0, 0});
    o->set_claimable(ok.has_value());
    if (!ok) {
      o->set_message_id(ok.error().message_id);
      for (const auto& [k, v] : ok.error().params) (*o->mutable_params())[k] = v;
      o->set_message(ok.error().message);
    }
  }
  return list;
}

Result<AgentService::WriteTxn::CouponPlan> AgentService::WriteTxn::plan_coupon(
    bool offline, bool decided_by_cloud) {
  const auto& a = req.apply_coupon();
  if (!a.has_basket()) return fail(ErrorCode::kInvalidArgument, "basket: give the sale's basket");
  ACCRUE_ASSIGN_OR_RETURN(auto basket, basket_of(a.basket()));
  if (basket.occurred_at_ms == 0) basket.occurred_at_ms = now;
  ACCRUE_ASSIGN_OR_RETURN(auto found,
                          Coupons::find(ctx, r, a.code(), a.identifier(), now, decided_by_cloud));
  ACCRUE_ASSIGN_OR_RETURN(auto check, Coupons::describe(found, &basket));
  if (offline) {
    // The bound on what double use while offline can cost: uses the cloud has not confirmed.
    const uint32_t cap = program().offline_limits.max_store_offline_coupons;
    ACCRUE_ASSIGN_OR_RETURN(auto outstanding, r.offline_coupons());
    if (cap > 0 && outstanding >= cap) {
      return refusal(ErrorCode::kRefused, "offline.coupon_limit", {{"max", std::to_string(cap)}},
                     "This store cannot accept more coupons until it is back online.");
    }
  }
  CouponPlan plan;
  plan.id = service.event_ids_.next();
  plan.env = ctx.envelope(plan.id, basket.occurred_at_ms);
  auto* use = plan.env.mutable_coupon_use();
  use->set_coupon_id(found.claims.coupon_id.to_string());
  use->set_reward_id(found.reward->reward_id);
  const bool member = found.member && found.member->customer;
  if (member) use->set_customer_id(found.member->customer->customer_id);
  use->set_till_id(req.till_id());
  use->set_pos_tx_id(pos_tx_id);
  if (check.has_discount()) *use->mutable_discount() = check.discount();
  use->set_offline(offline);
  use->set_key_id(found.claims.key_id);
  use->set_expires_at_ms(found.claims.expires_at_ms);
  int64_t total = 0;
  for (const auto& l : basket.lines) total += l.amount_minor;
  *use->mutable_basket_total() = wire::money_to_proto(Money(total, basket.currency));
  plan.owner = member ? found.member->owner : "";
  plan.raw_id = found.raw_id;
  plan.check = std::move(check);
  return plan;
}

Result<void> AgentService::WriteTxn::record_coupon_use(CouponPlan& plan, bool offline) {
  plan.env.mutable_coupon_use()->set_offline(offline);
  std::optional<Money> discount;
  if (plan.check.has_discount()) {
    ACCRUE_ASSIGN_OR_RETURN(discount, wire::money_from_proto(plan.check.discount()));
  }
  ACCRUE_ASSIGN_OR_RETURN(auto seq, record(plan.id, pb::TRANSACTION_KIND_COUPON_USE, plan.owner, 0,
                                           discount, now, plan.env));
  ACCRUE_TRY(r.insert_coupon_use(seq, plan.raw_id, plan.env.coupon_use().expires_at_ms()));
  if (offline) ACCRUE_TRY(r.add_offline_coupons(1));
  auto* res = out.mutable_apply_coupon();
  res->set_event_id(plan.id.to_string());
  *res->mutable_coupon() = plan.check;
  res->set_offline(offline);
  return {};
}

Result<void> AgentService::WriteTxn::apply_coupon() {
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_coupon(true, false));
  return record_coupon_use(plan, true);
}

Result<void> AgentService::WriteTxn::prepare_online_coupon(const std::string& fingerprint) {
  // The cloud decides whether it is spent, atomically, while the till waits: the feed's list
  // may be a page behind (a use of this store voided a moment ago still on it).
  ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_coupon(false, true));
  auto env = std::make_shared<sync::EventEnvelope>(plan.env);
  ACCRUE_TRY(r.insert_online_redemption({req.till_id(), pos_tx_id, uuid_bytes(plan.id), fingerprint,
                                         plan.owner, env->SerializeAsString(), now}));
  ctx.online_event = std::move(env);
  return {};
}

Result<void> AgentService::WriteTxn::settle_online_coupon(
    const sync::EventEnvelope& event, const OnlineCalls::RedeemOutcome& outcome) {
  ACCRUE_ASSIGN_OR_RETURN(auto intent, r.online_redemption(req.till_id(), pos_tx_id));
  if (!intent) return fail(ErrorCode::kInternal, "the online coupon use's record is missing");
  const std::string owner = intent->owner;
  ACCRUE_TRY(r.delete_online_redemption(req.till_id(), pos_tx_id));
  auto refuse = [&](Error error) -> Result<void> {
    out = error_response(req.request_id(), std::move(error));
    refused = true;
    return {};
  };
  // The plan again, for the effect the till is told (the same checks: nothing here changed
  // them), under the event id the cloud was asked about.
  auto replan = [&](bool offline) -> Result<CouponPlan> {
    ACCRUE_ASSIGN_OR_RETURN(auto plan, plan_coupon(offline, !offline));
    ACCRUE_ASSIGN_OR_RETURN(plan.id, Uuid::parse(event.event_id(), "event_id"));
    plan.env = event;
    return plan;
  };
  const auto status = outcome.result.status();
  if (outcome.answered &&
      (status == sync::EVENT_STATUS_APPLIED || status == sync::EVENT_STATUS_DUPLICATE)) {
    ACCRUE_ASSIGN_OR_RETURN(auto plan, replan(false));
    return record_coupon_use(plan, false);
  }
  if (outcome.answered && outcome.result.reject_code() == "coupon_spent") {
    // Spent elsewhere, and this store had not heard yet: remember it.
    const auto& use = event.coupon_use();
    ACCRUE_ASSIGN_OR_RETURN(auto id, Uuid::parse(use.coupon_id(), "coupon_id"));
    ACCRUE_TRY(r.set_coupon_spent(uuid_bytes(id), use.expires_at_ms(), true));
    return refuse({ErrorCode::kFailedPrecondition,
                   "This coupon has already been used or was cancelled.",
                   "coupon.spent",
                   {}});
  }
  if (outcome.answered) {
    return refuse({ErrorCode::kFailedPrecondition,
                   "This coupon cannot be used: " + outcome.result.message(),
                   "coupon.refused",
                   {}});
  }
  // No answer: the offline rules decide, under the same event id, so that the upload is a
  // duplicate if the cloud did apply it after all.
  auto plan = replan(true);
  if (plan) return record_coupon_use(*plan, true);
  const ErrorCode code = plan.error().code;
  if (code != ErrorCode::kRefused && code != ErrorCode::kFailedPrecondition) {
    return std::unexpected(plan.error());  // the replica failed: the intent stays for the sweep
  }
  // Not allowed offline, and the cloud may have marked it used: give it back there.
  ACCRUE_TRY(void_online_coupon(r, event, owner, service.event_ids_.next(), now));
  return refuse(plan.error());
}

Result<void> AgentService::WriteTxn::void_coupon() {
  const auto& a = req.void_coupon();
  ACCRUE_TRY(check_id("applied_pos_tx_id", a.applied_pos_tx_id(), true));
  ACCRUE_ASSIGN_OR_RETURN(auto applied, r.till_write(req.till_id(), a.applied_pos_tx_id()));
  std::optional<CouponUseRow> use;
  if (applied && applied->kind == pb::TRANSACTION_KIND_COUPON_USE && applied->seq) {
    ACCRUE_ASSIGN_OR_RETURN(use, r.coupon_use(*applied->seq));
  }
  if (!use) {
    return refusal(ErrorCode::kNotFound, "coupon.use_unknown",
                   {{"pos_tx_id", a.applied_pos_tx_id()}},
                   "No coupon was applied as " + a.applied_pos_tx_id() + " on this till.");
  }
  if (use->voided_seq) {
    return refusal(ErrorCode::kFailedPrecondition, "coupon.use_voided",
                   {{"pos_tx_id", a.applied_pos_tx_id()}},
                   "The coupon applied as " + a.applied_pos_tx_id() + " was voided already.");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto entry, r.ledger_entry(use->seq));
  if (!entry) return fail(ErrorCode::kDataLoss, "a coupon use's ledger entry is missing");
  const std::string coupon_id = event_id_text(use->coupon_id);
  Uuid id = service.event_ids_.next();
  auto env = ctx.envelope(id, now);
  auto* v = env.mutable_coupon_use_void();
  v->set_coupon_id(coupon_id);
  v->set_use_event_id(event_id_text(entry->event_id));
  v->set_till_id(req.till_id());
  v->set_pos_tx_id(pos_tx_id);
  ACCRUE_ASSIGN_OR_RETURN(auto seq, record(id, pb::TRANSACTION_KIND_COUPON_VOID, entry->owner, 0,
                                           std::nullopt, now, env));
  ACCRUE_TRY(r.void_coupon_use(use->seq, seq));
  // The feed's "spent" for this coupon most likely came from this very use: the coupon is usable
  // here again at once. Had another store spent it too, the cloud's next page says so again.
  ACCRUE_TRY(r.set_coupon_spent(use->coupon_id, 0, false));
  auto* res = out.mutable_void_coupon();
  res->set_event_id(id.to_string());
  res->set_coupon_id(coupon_id);
  res->set_offline(!ctx.online());
  return {};
}

}  // namespace accrue::agent
