// Member resolution: an identifier from the till -> the member it names, or one the replica
// does not know (a provisional owner, which the cloud may be asked about).
#include <algorithm>

#include "agent/core/service_parts.h"

namespace accrue::agent {

using namespace service_parts;

bool AgentService::Context::online() const { return service.online_.load(); }

Result<NormalizedIdentifier> AgentService::Context::normalize(const pb::Identifier& id) const {
  const auto kind = hashed_kind(id.kind());
  if (!kind) {
    return std::unexpected(invalid("identifier.kind: card, phone, email, qr_token or customer_id"));
  }
  if (id.value().size() > 1024) return std::unexpected(invalid("identifier.value: too long"));
  return normalize_identifier(*kind, id.value(), country());
}

Result<Member> AgentService::Context::resolve(Replica& r, const pb::Identifier& id) {
  Member m;
  if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID) {
    ACCRUE_ASSIGN_OR_RETURN(auto uuid, Uuid::parse(id.value(), "identifier.value"));
    ACCRUE_ASSIGN_OR_RETURN(auto c, r.customer(uuid.to_string()));
    if (!c) return fail(ErrorCode::kNotFound, "No member with this customer id at this store.");
    m.customer = std::move(c);
    m.owner = m.customer->customer_id;
    return m;
  }
  ACCRUE_ASSIGN_OR_RETURN(auto n, normalize(id));
  IdentifierHash h = service.hasher_.hash(n);
  m.hash = h;
  m.kind = n.kind;
  ACCRUE_ASSIGN_OR_RETURN(auto c, r.customer_by_hash(h));
  m.customer = std::move(c);
  m.owner = m.customer ? m.customer->customer_id : provisional_owner(h);
  if (!m.customer) unknown = h;
  return m;
}

bool AgentService::Context::ask_first(const Member& m) {
  if (m.customer || !m.hash || !may_ask || !service.worth_asking(*m.hash)) return false;
  ask_first_about = m.hash;
  return true;
}

Result<Balance> AgentService::Context::balance(Replica& r, const Member& m) const {
  ACCRUE_ASSIGN_OR_RETURN(auto lots, r.lots(m.owner));
  return balance_of(m.customer ? &*m.customer : nullptr, lots, now);
}

Result<std::optional<RedemptionOffer>> AgentService::Context::redemption_offer(
    Replica& r, const Member& m, Points available) const {
  if (!m.customer) return std::nullopt;
  ACCRUE_ASSIGN_OR_RETURN(auto currency, Currency::from_code(service.settings_.currency));
  Points limit = 0;
  if (!online()) {
    // Every offline rule the redemption itself would meet (apply_redeem), so that what is
    // offered is granted.
    ACCRUE_ASSIGN_OR_RETURN(auto d, r.daily(m.owner, local_day(now)));
    ACCRUE_ASSIGN_OR_RETURN(auto outstanding, r.offline_outstanding());
    std::optional<TimestampMs> last_sync;
    if (TimestampMs synced = service.last_sync_ms_.load(); synced != 0) last_sync = synced;
    limit = offline_redemption_headroom(program().offline_limits,
                                        {0, d.second, outstanding, last_sync, now});
    if (limit <= 0) return std::nullopt;
  }
  return accrue::redemption_offer(program().redemption, currency, available, limit, country(),
                                  tier_redemption_value_bp(program(), m.customer->tier_id));
}

Result<StoreTierView> AgentService::Context::tier_view(Replica& r, const Member& m) const {
  if (!m.customer) return StoreTierView{};
  const CustomerRow& c = *m.customer;
  const TierPolicy& tiers = program().tiers;
  auto held = program().tier_index(c.tier_id);
  if (!held || *held + 1 >= tiers.ladder.size())
    return StoreTierView{};  // placed by the cloud, or top
  ACCRUE_ASSIGN_OR_RETURN(auto after, r.watermark(c.customer_id));
  ACCRUE_ASSIGN_OR_RETURN(auto events, r.member_events_after(c.customer_id, after));
  int64_t value = c.qualifying_value;
  const bool spend = tiers.basis == TierBasis::kAmountSpent;
  const std::string spend_currency =
      tiers.spend_currency ? std::string(tiers.spend_currency->code()) : "";
  for (const auto& e : events) {
    if (!spend) {
      if (e.kind == pb::TRANSACTION_KIND_ACCRUAL || e.kind == pb::TRANSACTION_KIND_RETURN ||
          e.kind == pb::TRANSACTION_KIND_ENROLMENT) {
        value += e.points;
      }
    } else if (e.kind == pb::TRANSACTION_KIND_ACCRUAL && e.amount_minor &&
               e.currency == spend_currency) {
      value += *e.amount_minor;
    } else if (e.kind == pb::TRANSACTION_KIND_RETURN) {
      // A return carries no amount: the whole sale counts as returned (the store never shows
      // more than the cloud will confirm).
      ACCRUE_ASSIGN_OR_RETURN(auto ref, r.ledger_ref(e.seq));
      if (!ref) continue;
      ACCRUE_ASSIGN_OR_RETURN(auto sale, r.ledger_entry(*ref));
      if (sale && sale->amount_minor && sale->currency == spend_currency) {
        value -= *sale->amount_minor;
      }
    }
  }
  return store_tier_view(tiers, c.tier_id, value);
}

pb::ValidateResult AgentService::Context::make_validate(const Member& m, const Balance& b) const {
  pb::ValidateResult out;
  out.set_status(member_status(m));
  out.set_available_points(b.available);
  out.set_pending_points(b.pending);
  if (m.customer) {
    out.set_customer_id(m.customer->customer_id);
    out.set_tier_id(m.customer->tier_id);
    out.set_tier_name(tier_name(program(), m.customer->tier_id));
    out.set_display_name(m.customer->display_name);
  }
  out.set_offline(!service.online_.load());
  const TimestampMs synced = service.last_sync_ms_.load();
  out.set_replica_age_s(synced == 0 ? -1 : std::max<int64_t>(0, (now - synced) / 1000));
  return out;
}

Result<pb::ValidateResult> AgentService::Context::validate_result(Replica& r,
                                                                  const Member& m) const {
  ACCRUE_ASSIGN_OR_RETURN(auto b, balance(r, m));
  return make_validate(m, b);
}

Result<std::optional<pb::ValidateResult>> AgentService::Context::validate_by_identifier(
    Replica& r, const pb::Identifier& id) {
  if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID) return std::nullopt;
  ACCRUE_ASSIGN_OR_RETURN(auto n, normalize(id));
  const IdentifierHash h = service.hasher_.hash(n);
  ACCRUE_ASSIGN_OR_RETURN(auto mb, r.member_balance(h, now));
  if (!mb) {
    unknown = h;
    return validate_result(r, Member{std::nullopt, provisional_owner(h), h, n.kind});
  }
  const CustomerRow& c = mb->customer;
  const LotBalance lb = store_balance({c.confirmed_available, c.confirmed_pending, c.local_debit},
                                      LotBalance{mb->local_available, mb->local_pending});
  return make_validate(Member{c, c.customer_id, h, n.kind}, Balance{lb.available, lb.pending});
}

sync::EventEnvelope AgentService::Context::envelope(const Uuid& event_id,
                                                    TimestampMs occurred_at) const {
  sync::EventEnvelope e;
  e.set_event_id(event_id.to_string());
  e.set_store_id(service.settings_.store_id);
  e.set_agent_id(service.settings_.agent_id);
  e.set_occurred_at_ms(occurred_at);
  e.set_program_id(program().program_id);
  e.set_program_version(program().version);
  e.set_schema_version(1);
  return e;
}

}  // namespace accrue::agent
