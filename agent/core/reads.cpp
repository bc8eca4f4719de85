// The read operations: one function each, run on the calling I/O thread in a pooled reader's
// snapshot. An identifier the replica does not know may be looked up in the cloud first, and
// the read answered again with what it brought.
#include <algorithm>
#include <cstdlib>

#include "agent/core/service_parts.h"
#include "common/engine/earn.h"
#include "common/wire/loyalty_codec.h"
#include "common/wire/pos_error.h"

namespace accrue::agent {

using namespace service_parts;

struct AgentService::Reads {
  static Result<void> run(Context& ctx, Replica& r, const pb::Request& request, pb::Response& out);
  // Member status and balance.
  static Result<void> validate(Context& ctx, Replica& r, const pb::Request& request,
                               pb::Response& out);
  // The member, tier progress and points expiring soon.
  static Result<void> profile(Context& ctx, Replica& r, const pb::Request& request,
                              pb::Response& out);
  // A member's ledger here, newest first, by keyset pages (the page token is a seq).
  static Result<void> transactions(Context& ctx, Replica& r, const pb::Request& request,
                                   pb::Response& out);
  // What a basket would earn; writes nothing.
  static Result<void> preview(Context& ctx, Replica& r, const pb::Request& request,
                              pb::Response& out);
  // What happened to a till write whose answer was lost.
  static Result<void> transaction_status(Context& ctx, Replica& r, const pb::Request& request,
                                         pb::Response& out);
  // The events the cloud refused (operators only: checked in handle()).
  static Result<void> quarantine(Context& ctx, Replica& r, const pb::Request& request,
                                 pb::Response& out);
  // Online, the queue, the programme in force.
  static Result<void> agent_status(Context& ctx, Replica& r, const pb::Request& request,
                                   pb::Response& out);
};

Result<void> AgentService::Reads::run(Context& ctx, Replica& r, const pb::Request& request,
                                      pb::Response& out) {
  switch (request.op_case()) {
    case pb::Request::kValidate:
      return validate(ctx, r, request, out);
    case pb::Request::kGetProfile:
      return profile(ctx, r, request, out);
    case pb::Request::kListTransactions:
      return transactions(ctx, r, request, out);
    case pb::Request::kPreview:
      return preview(ctx, r, request, out);
    case pb::Request::kGetTransactionStatus:
      return transaction_status(ctx, r, request, out);
    case pb::Request::kListQuarantine:
      return quarantine(ctx, r, request, out);
    case pb::Request::kGetAgentStatus:
      return agent_status(ctx, r, request, out);
    case pb::Request::kCheckCoupon: {
      ACCRUE_ASSIGN_OR_RETURN(auto check, Coupons::check(ctx, r, request));
      *out.mutable_coupon_check() = std::move(check);
      return {};
    }
    case pb::Request::kListRewards: {
      ACCRUE_ASSIGN_OR_RETURN(auto list, Coupons::rewards(ctx, r, request));
      *out.mutable_rewards() = std::move(list);
      return {};
    }
    default:
      return fail(ErrorCode::kUnimplemented, "operation not supported by this agent");
  }
}

Result<void> AgentService::Reads::validate(Context& ctx, Replica& r, const pb::Request& request,
                                           pb::Response& out) {
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, request.validate().identifier()));
  ACCRUE_ASSIGN_OR_RETURN(auto v, ctx.validate_result(r, m));
  *out.mutable_validate() = std::move(v);
  return {};
}

Result<void> AgentService::Reads::profile(Context& ctx, Replica& r, const pb::Request& request,
                                          pb::Response& out) {
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, request.get_profile().identifier()));
  if (!m.customer) return fail(ErrorCode::kNotFound, "No member with this identifier.");
  ACCRUE_ASSIGN_OR_RETURN(auto v, ctx.validate_result(r, m));
  auto* p = out.mutable_profile();
  *p->mutable_member() = std::move(v);
  ACCRUE_ASSIGN_OR_RETURN(auto tier, ctx.tier_view(r, m));
  if (!tier.reached_tier_id.empty()) {
    p->set_reached_tier_id(tier.reached_tier_id);
    p->set_reached_tier_name(tier_name(ctx.program(), tier.reached_tier_id));
  }
  if (!tier.next_tier_id.empty()) {
    p->set_next_tier_id(tier.next_tier_id);
    p->set_distance_to_next_tier(tier.distance_to_next);
  }
  ACCRUE_ASSIGN_OR_RETURN(auto b, ctx.balance(r, m));
  if (b.expiring > 0) {
    p->set_expiring_points(b.expiring);
    p->set_expiring_at_ms(b.expiring_at);
  }
  p->set_enrolled_at_ms(m.customer->enrolled_at);
  if (m.customer->status != kStatusBlocked) {
    ACCRUE_ASSIGN_OR_RETURN(auto offer, ctx.redemption_offer(r, m, b.available));
    if (offer) {
      auto* o = p->mutable_redeemable();
      o->set_max_points(offer->max_points);
      *o->mutable_max_discount() = wire::money_to_proto(offer->max_discount);
      o->set_min_points(offer->min_points);
      o->set_step_points(offer->step_points);
      o->set_value_minor_units(offer->value_minor_units);
      o->set_per_points(offer->per_points);
    }
  }
  return {};
}

Result<void> AgentService::Reads::transactions(Context& ctx, Replica& r, const pb::Request& request,
                                               pb::Response& out) {
  const auto& req = request.list_transactions();
  ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, req.identifier()));
  int64_t before = INT64_MAX;
  if (!req.page_token().empty()) {
    char* end = nullptr;
    before = std::strtoll(req.page_token().c_str(), &end, 10);
    if (*end != '\0' || before <= 0)
      return fail(ErrorCode::kInvalidArgument, "page_token: not a token from this agent");
  }
  uint32_t limit = req.limit() == 0 ? 20 : std::min(req.limit(), ctx.service.settings_.max_page);
  ACCRUE_ASSIGN_OR_RETURN(auto rows, r.transactions(m.owner, before, static_cast<int>(limit) + 1));
  auto* list = out.mutable_transactions();
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const LedgerRow& row = rows[i];
    auto* t = list->add_transactions();
    t->set_event_id(event_id_text(row.event_id));
    t->set_kind(static_cast<pb::TransactionKind>(row.kind));
    t->set_occurred_at_ms(row.occurred_at);
    t->set_points(row.points);
    t->set_store_id(ctx.service.settings_.store_id);
    t->set_pos_tx_id(row.pos_tx_id);
    if (row.amount_minor) {
      t->mutable_amount()->set_minor_units(*row.amount_minor);
      t->mutable_amount()->set_currency(row.currency);
    }
    t->set_confirmed(row.confirmed);
  }
  if (rows.size() > limit) list->set_next_page_token(std::to_string(rows[limit - 1].seq));
  return {};
}

Result<void> AgentService::Reads::preview(Context& ctx, Replica& r, const pb::Request& request,
                                          pb::Response& out) {
  const auto& req = request.preview();
  auto basket = wire::basket_from_proto(req.basket());
  if (!basket) return fail(basket.error().code, "basket." + basket.error().message);
  if (basket->occurred_at_ms == 0) basket->occurred_at_ms = ctx.now;
  std::string tier;
  int64_t earned_today = 0;
  if (req.has_identifier()) {
    ACCRUE_ASSIGN_OR_RETURN(auto m, ctx.resolve(r, req.identifier()));
    if (m.customer) tier = m.customer->tier_id;
    ACCRUE_ASSIGN_OR_RETURN(auto d, r.daily(m.owner, ctx.local_day(basket->occurred_at_ms)));
    earned_today = d.first;
  }
  ACCRUE_ASSIGN_OR_RETURN(auto e, compute_earn(ctx.program(), *basket,
                                               {tier, earned_today, &ctx.zone(), ctx.country()}));
  auto* p = out.mutable_preview();
  p->set_points(e.points);
  p->set_base_points(e.base_points);
  p->set_bonus_points(e.bonus_points);
  p->set_capped_points(e.capped_points);
  for (const auto& l : e.lines) {
    auto* lp = p->add_lines();
    lp->set_line_no(l.line_no);
    lp->set_points(l.points);
  }
  for (const auto& id : e.rules_fired) p->add_rules_fired(id);
  p->set_program_version(e.program_version);
  return {};
}

Result<void> AgentService::Reads::transaction_status(Context& /*ctx*/, Replica& r,
                                                     const pb::Request& request,
                                                     pb::Response& out) {
  const auto& req = request.get_transaction_status();
  ACCRUE_TRY(check_id("pos_tx_id", req.pos_tx_id(), true));
  ACCRUE_TRY(check_id("till_id", req.till_id(), false));
  const std::string& till = req.till_id().empty() ? request.till_id() : req.till_id();
  ACCRUE_ASSIGN_OR_RETURN(auto rc, r.till_write(till, req.pos_tx_id()));
  auto* s = out.mutable_transaction_status();
  s->set_found(rc.has_value());
  if (rc) {
    s->set_kind(static_cast<pb::TransactionKind>(rc->kind));
    s->mutable_original()->ParseFromString(rc->response);
  }
  return {};
}

Result<void> AgentService::Reads::quarantine(Context& /*ctx*/, Replica& r,
                                             const pb::Request& request, pb::Response& out) {
  const auto& lq = request.list_quarantine();
  const uint32_t limit = lq.limit() == 0 ? 50 : lq.limit();
  if (limit > 500) return fail(ErrorCode::kInvalidArgument, "limit: at most 500");
  ACCRUE_ASSIGN_OR_RETURN(auto rows, r.quarantine(lq.after_seq(), static_cast<int>(limit)));
  ACCRUE_ASSIGN_OR_RETURN(auto stats, r.outbox_stats());
  auto* list = out.mutable_quarantine();
  list->set_total(static_cast<uint64_t>(stats.quarantined));
  for (const auto& row : rows) {
    auto* e = list->add_events();
    e->set_seq(row.seq);
    e->set_reject_code(row.reject_code);
    e->set_message(row.message);
    e->set_quarantined_at_ms(row.quarantined_at);
    accrue::sync::v1::EventEnvelope env;
    if (env.ParseFromString(row.body)) {
      e->set_event_id(env.event_id());
      e->set_occurred_at_ms(env.occurred_at_ms());
      switch (env.body_case()) {
        case accrue::sync::v1::EventEnvelope::kAccrual:
          e->set_kind("accrual");
          break;
        case accrue::sync::v1::EventEnvelope::kRedemption:
          e->set_kind("redemption");
          break;
        case accrue::sync::v1::EventEnvelope::kReturn:
          e->set_kind("return");
          break;
        case accrue::sync::v1::EventEnvelope::kEnrolment:
          e->set_kind("enrolment");
          break;
        case accrue::sync::v1::EventEnvelope::kAdjustment:
          e->set_kind("adjustment");
          break;
        default:
          e->set_kind("unknown");
      }
    }
  }
  return {};
}

Result<void> AgentService::Reads::agent_status(Context& ctx, Replica& r,
                                               const pb::Request& /*request*/, pb::Response& out) {
  ACCRUE_ASSIGN_OR_RETURN(auto stats, r.outbox_stats());
  const bool on = ctx.online();
  auto* s = out.mutable_agent_status();
  s->set_store_id(ctx.service.settings_.store_id);
  s->set_agent_id(ctx.service.settings_.agent_id);
  s->set_version(ctx.service.settings_.version);
  s->set_online(on);
  s->set_last_sync_ms(ctx.service.last_sync_ms_.load());
  s->set_outbox_depth(static_cast<uint64_t>(stats.depth));
  if (stats.oldest_created_at) {
    s->set_oldest_pending_age_s(std::max<int64_t>(0, (ctx.now - *stats.oldest_created_at) / 1000));
  }
  s->set_program_version(ctx.program().version);
  s->set_time_zone(ctx.zone().name());
  s->set_country(ctx.country());
  if (auto currency = Currency::from_code(ctx.service.settings_.currency)) {
    s->set_currency(std::string(currency->code()));
    s->set_currency_exponent(static_cast<uint32_t>(currency->exponent()));
  }
  s->set_quarantined(static_cast<uint64_t>(stats.quarantined));
  ACCRUE_ASSIGN_OR_RETURN(auto outstanding, r.offline_outstanding());
  s->set_offline_outstanding_points(outstanding);
  return {};
}

void AgentService::handle_read(const pb::Request& request, Reply& reply, bool may_ask) {
  const TimestampMs now = clock_.now_ms();
  Context ctx{*this, program(), now, now};
  // An identifier the replica does not know: while online, the cloud is asked first (a short
  // lookup; the member joins the replica) and the read runs again with the answer.
  auto answer = [&](pb::Response response) {
    if (may_ask && ctx.unknown && worth_asking(*ctx.unknown) &&
        ask_cloud(ctx.unknown,
                  [this, request, reply]() mutable { handle_read(request, reply, false); })) {
      return;
    }
    reply(std::move(response));
  };
  auto lease = readers_.acquire();
  Replica& r = *lease;
  pb::Response out;
  out.set_request_id(request.request_id());

  // Every read runs in the reader's snapshot, renewed only when something was committed since.
  if (auto latest = lease.latest(); !latest) {
    out = error_response(request.request_id(), latest.error());
    return reply(std::move(out));
  }
  if (request.op_case() == pb::Request::kValidate) {
    auto fast = ctx.validate_by_identifier(r, request.validate().identifier());
    if (!fast) {
      out = error_response(request.request_id(), fast.error());
      return answer(std::move(out));
    }
    if (auto& hit = *fast) {
      *out.mutable_validate() = std::move(*hit);
      return answer(std::move(out));
    }
  }
  auto result = Reads::run(ctx, r, request, out);
  if (!result) out = error_response(request.request_id(), result.error());
  answer(std::move(out));
}

bool AgentService::worth_asking(const IdentifierHash& hash) const {
  return calls_ != nullptr && online_.load() && calls_->worth_asking(hash);
}

bool AgentService::ask_cloud(const std::optional<IdentifierHash>& hash,
                             std::function<void()> then) {
  if (!hash || !worth_asking(*hash)) return false;
  return calls_->lookup(*hash, [then = std::move(then)](OnlineCalls::LookupOutcome) { then(); });
}

}  // namespace accrue::agent
