#include "agent/core/service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <future>

#include "accrue/sync/v1/sync.pb.h"
#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/engine/events.h"
#include "common/engine/lots.h"
#include "common/engine/redemption.h"
#include "common/engine/returns.h"
#include "common/engine/tiers.h"
#include "common/sys/log.h"
#include "common/wire/loyalty_codec.h"
#include "common/wire/pos_error.h"

namespace accrue::agent {

namespace pb = accrue::pos::v1;
namespace sync = accrue::sync::v1;

namespace {

constexpr int64_t kExpiringHorizonMs = 30 * kMsPerDay;

Error invalid(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }

Result<void> check_id(std::string_view field, std::string_view v, bool required) {
  if (v.empty() && required) return std::unexpected(invalid(std::string(field) + ": is required"));
  if (v.size() > 64)
    return std::unexpected(invalid(std::string(field) + ": at most 64 characters"));
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::unexpected(invalid(std::string(field) + ": control characters are not allowed"));
    }
  }
  return {};
}

std::string fingerprint(const google::protobuf::Message& op) {
  std::string bytes = op.SerializeAsString();
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string uuid_bytes(const Uuid& u) {
  return {reinterpret_cast<const char*>(u.bytes().data()), u.bytes().size()};
}

std::string event_id_text(std::string_view bytes) {
  std::array<uint8_t, 16> b{};
  std::copy_n(bytes.begin(), std::min<size_t>(16, bytes.size()), b.begin());
  return Uuid(b).to_string();
}

struct Balance {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t expiring = 0;
  TimestampMs expiring_at = kNeverExpires;
};

// Invariant "local events stay on top" (docs/architecture.md): what the till sees is the
// cloud-confirmed balance plus local events not yet confirmed (local lots, minus what was spent
// locally beyond them).
Balance balance_of(const CustomerRow* c, const std::vector<Lot>& lots, TimestampMs now) {
  LotBalance lb = accrue::balance_of(lots, now, now + kExpiringHorizonMs);
  Balance b{lb.available, lb.pending, lb.expiring, lb.expiring_at_ms};
  if (c) {
    b.available += c->confirmed_available - c->local_debit;
    b.pending += c->confirmed_pending;
  }
  return b;
}

// An identifier from the till, resolved against the replica.
struct Member {
  std::optional<CustomerRow> customer;
  std::string owner;                   // customer_id or provisional owner key
  std::optional<IdentifierHash> hash;  // absent when identified by customer id
  std::optional<IdentifierKind> kind;  // likewise
};

pb::MemberStatus member_status(const Member& m) {
  if (!m.customer) return pb::MEMBER_STATUS_UNKNOWN;
  switch (m.customer->status) {
    case kStatusBlocked:
      return pb::MEMBER_STATUS_BLOCKED;
    case kStatusProvisional:
      return pb::MEMBER_STATUS_PROVISIONAL;
    default:
      return pb::MEMBER_STATUS_ACTIVE;
  }
}

// The identifier hash inside a provisional owner key ("h:<64 hex digits>").
std::optional<IdentifierHash> hash_of_provisional_owner(std::string_view owner) {
  if (!owner.starts_with("h:") || owner.size() != 2 + 64) return std::nullopt;
  IdentifierHash h{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < h.size(); ++i) {
    int hi = nibble(owner[2 + 2 * i]), lo = nibble(owner[3 + 2 * i]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

std::string tier_name(const Program& p, std::string_view tier_id) {
  if (auto i = p.tier_index(tier_id)) {
    const Tier& t = p.tiers.ladder[*i];
    return t.name.empty() ? t.tier_id : t.name;
  }
  return std::string(tier_id);
}

}  // namespace

struct AgentService::Context {
  Context(const AgentService& s, std::shared_ptr<const ActiveProgram> p, TimestampMs at,
          TimestampMs until)
      : service(s), active(std::move(p)), now(at), deadline(until) {}

  const AgentService& service;
  std::shared_ptr<const ActiveProgram> active;
  TimestampMs now;
  TimestampMs deadline;
  // An identifier the replica did not know (the last one resolved), and whether the cloud may
  // be asked about it before answering.
  mutable std::optional<IdentifierHash> unknown;
  bool may_ask = false;
  // A write stopped to ask the cloud first (handle_write looks it up, then runs it again).
  mutable bool asking = false;
  // The online redemption whose intent this write recorded (handle_write asks the cloud).
  std::shared_ptr<sync::EventEnvelope> online_event;

  const Program& program() const { return active->program; }
  const TimeZone& zone() const { return active->zone; }
  int64_t local_day(TimestampMs t) const { return day_of_ms(zone().to_local_ms(t)); }

  Result<NormalizedIdentifier> normalize(const pb::Identifier& id) const {
    IdentifierKind kind;
    switch (id.kind()) {
      case pb::IDENTIFIER_KIND_CARD:
        kind = IdentifierKind::kCard;
        break;
      case pb::IDENTIFIER_KIND_PHONE:
        kind = IdentifierKind::kPhone;
        break;
      case pb::IDENTIFIER_KIND_EMAIL:
        kind = IdentifierKind::kEmail;
        break;
      case pb::IDENTIFIER_KIND_QR_TOKEN:
        kind = IdentifierKind::kQrToken;
        break;
      default:
        return std::unexpected(
            invalid("identifier.kind: card, phone, email, qr_token or customer_id"));
    }
    if (id.value().size() > 1024) return std::unexpected(invalid("identifier.value: too long"));
    return normalize_identifier(kind, id.value(), service.settings_.default_country);
  }

  Result<Member> resolve(Replica& r, const pb::Identifier& id) const {
    Member m;
    if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID) {
      auto uuid = Uuid::parse(id.value(), "identifier.value");
      if (!uuid) return std::unexpected(uuid.error());
      auto c = r.customer(uuid->to_string());
      if (!c) return std::unexpected(c.error());
      if (!*c) return fail(ErrorCode::kNotFound, "No member with this customer id at this store.");
      m.customer = std::move(*c);
      m.owner = m.customer->customer_id;
      return m;
    }
    auto n = normalize(id);
    if (!n) return std::unexpected(n.error());
    IdentifierHash h = service.hasher_.hash(*n);
    m.hash = h;
    m.kind = n->kind;
    auto c = r.customer_by_hash(h);
    if (!c) return std::unexpected(c.error());
    m.customer = std::move(*c);
    m.owner = m.customer ? m.customer->customer_id : provisional_owner(h);
    if (!m.customer) unknown = h;
    return m;
  }

  // For a write: the identifier is unknown here and the cloud is worth asking first. The write
  // then stops (rolled back) and runs again once the cloud has answered.
  bool ask_first(const Member& m) const {
    if (m.customer || !m.hash || !may_ask || !service.worth_asking(*m.hash)) return false;
    asking = true;
    return true;
  }

  Result<Balance> balance(Replica& r, const Member& m) const {
    auto lots = r.lots(m.owner);
    if (!lots) return std::unexpected(lots.error());
    return balance_of(m.customer ? &*m.customer : nullptr, *lots, now);
  }

  // "Online" is the result of the last round-trip to the cloud (set by the sync client).
  bool online() const { return service.online_.load(); }

  pb::ValidateResult make_validate(const Member& m, const Balance& b) const {
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

  Result<pb::ValidateResult> validate_result(Replica& r, const Member& m) const {
    auto b = balance(r, m);
    if (!b) return std::unexpected(b.error());
    return make_validate(m, *b);
  }

  // Validate without a read transaction: a member is one statement (member, identifier and
  // local lot sums); an unknown identifier is one more for its provisional lots. nullopt for a
  // customer id, which the general path resolves. The identifier is hashed once either way.
  Result<std::optional<pb::ValidateResult>> validate_by_identifier(Replica& r,
                                                                   const pb::Identifier& id) const {
    if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID) return std::nullopt;
    auto n = normalize(id);
    if (!n) return std::unexpected(n.error());
    const IdentifierHash h = service.hasher_.hash(*n);
    auto mb = r.member_balance(h, now);
    if (!mb) return std::unexpected(mb.error());
    if (!*mb) {
      unknown = h;
      return validate_result(r, Member{std::nullopt, provisional_owner(h), h, n->kind});
    }
    const CustomerRow& c = (*mb)->customer;
    Balance b;  // as balance_of(): confirmed, minus local spending, plus local lots
    b.available = c.confirmed_available - c.local_debit + (*mb)->local_available;
    b.pending = c.confirmed_pending + (*mb)->local_pending;
    return make_validate(Member{c, c.customer_id, h, n->kind}, b);
  }

  // The envelope every outbox event shares; record() fills in seq.
  sync::EventEnvelope envelope(const Uuid& event_id, TimestampMs occurred_at) const {
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
};

AgentService::AgentService(ServiceSettings settings, ReaderPool& readers, GroupCommitWriter& writer,
                           IdentifierHasher hasher, const Clock& clock, Random& random)
    : settings_(std::move(settings)),
      readers_(readers),
      writer_(writer),
      hasher_(std::move(hasher)),
      clock_(clock),
      random_(random),
      event_ids_(clock, random),
      max_deadline_ms_(settings_.max_deadline_ms) {}

void AgentService::set_program(std::shared_ptr<const ActiveProgram> program) {
  program_.store(std::move(program));
}

std::shared_ptr<const ActiveProgram> AgentService::program() const { return program_.load(); }

pb::Response AgentService::error_response(std::string_view request_id, const Error& error) {
  pb::Response r;
  r.set_request_id(std::string(request_id));
  *r.mutable_error() = wire::to_pos_error(error);
  return r;
}

void AgentService::handle(const pb::Request& request, Reply reply_to_till, Caller caller) {
  // Failures on the agent's side (not the request's) are logged for the operator: code, op and
  // message only; messages never carry identifiers.
  Reply reply = [reply_to_till = std::move(reply_to_till),
                 op = static_cast<int>(request.op_case())](pb::Response response) {
    if (response.has_error()) {
      auto code = wire::error_code_from_pos(response.error().code());
      if (code == ErrorCode::kInternal || code == ErrorCode::kDataLoss ||
          code == ErrorCode::kUnavailable || code == ErrorCode::kResourceExhausted) {
        log(LogLevel::kWarn, "request_failed",
            {{"code", std::string(to_string(code))},
             {"op", std::to_string(op)},
             {"message", response.error().message()}});
      }
    }
    reply_to_till(std::move(response));
  };
  auto bad = [&](const Error& e) { reply(error_response(request.request_id(), e)); };
  if (auto r = check_id("request_id", request.request_id(), false); !r) return bad(r.error());
  if (auto r = check_id("till_id", request.till_id(), false); !r) return bad(r.error());
  if (auto r = check_id("cashier_id", request.cashier_id(), false); !r) return bad(r.error());
  if (!program()) {
    return bad({ErrorCode::kUnavailable,
                "The loyalty program is not loaded yet; the agent has not synced."});
  }
  switch (request.op_case()) {
    case pb::Request::kAccrue:
    case pb::Request::kRedeem:
    case pb::Request::kReturn:
    case pb::Request::kEnroll:
      return handle_write(request, std::move(reply));
    case pb::Request::OP_NOT_SET:
      return bad(invalid("request: no operation set (validate, accrue, ...)"));
    case pb::Request::kListQuarantine:
    case pb::Request::kQuarantineAction:
      if (!caller.operator_rights) {
        return bad({ErrorCode::kPermissionDenied,
                    "quarantine operations are for the agent's operator: the unix socket, as "
                    "the agent's own user or root"});
      }
      if (request.op_case() == pb::Request::kQuarantineAction) {
        return handle_quarantine_action(request, std::move(reply));
      }
      return handle_read(request, reply);
    default:
      return handle_read(request, reply);
  }
}

void AgentService::handle_quarantine_action(const pb::Request& request, Reply reply) {
  const auto& q = request.quarantine_action();
  auto bad = [&](const Error& e) { reply(error_response(request.request_id(), e)); };
  using Action = pb::QuarantineActionRequest;
  if (q.action() != Action::ACTION_RESUBMIT && q.action() != Action::ACTION_DROP) {
    return bad(invalid("quarantine_action: action must be resubmit or drop"));
  }
  if (q.all() == (q.seqs_size() > 0)) {
    return bad(invalid("quarantine_action: give seqs or all, not both"));
  }
  if (q.seqs_size() > 10000) return bad(invalid("quarantine_action: at most 10000 seqs"));
  if (q.action() == Action::ACTION_DROP && (q.reason().empty() || q.reason().size() > 500)) {
    return bad(invalid("quarantine_action: dropping needs a reason (1 to 500 characters)"));
  }
  const TimestampMs now = clock_.now_ms();
  auto affected = std::make_shared<uint32_t>(0);
  auto dropped = std::make_shared<std::vector<int64_t>>();
  WriteJob job;
  job.apply = [q, now, affected, dropped](Replica& w) -> Result<void> {
    std::vector<int64_t> seqs(q.seqs().begin(), q.seqs().end());
    if (q.all()) {
      auto rows = w.quarantine(0, 1'000'000);
      if (!rows) return std::unexpected(rows.error());
      for (const auto& r : *rows) seqs.push_back(r.seq);
    }
    for (int64_t seq : seqs) {
      auto done = q.action() == Action::ACTION_RESUBMIT ? w.resubmit_quarantined(seq, now)
                                                        : w.drop_quarantined(seq);
      if (!done) return std::unexpected(done.error());
      if (*done) {
        ++*affected;
        if (q.action() == Action::ACTION_DROP) dropped->push_back(seq);
      }
    }
    return {};
  };
  job.done = [reply, affected, dropped, q, id = request.request_id()](Result<void> r) {
    if (!r) return reply(error_response(id, r.error()));
    for (int64_t seq : *dropped) {
      log(LogLevel::kWarn, "quarantine_dropped",
          {{"seq", std::to_string(seq)}, {"reason", q.reason()}});
    }
    if (q.action() == Action::ACTION_RESUBMIT && *affected > 0) {
      log(LogLevel::kInfo, "quarantine_resubmitted", {{"events", std::to_string(*affected)}});
    }
    pb::Response out;
    out.set_request_id(id);
    out.mutable_quarantine_action()->set_affected(*affected);
    reply(std::move(out));
  };
  if (!writer_.submit(std::move(job))) {
    return bad({ErrorCode::kResourceExhausted, "The agent is busy; retry in a moment."});
  }
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

  auto run = [&]() -> Result<void> {
    switch (request.op_case()) {
      case pb::Request::kValidate: {
        auto m = ctx.resolve(r, request.validate().identifier());
        if (!m) return std::unexpected(m.error());
        auto v = ctx.validate_result(r, *m);
        if (!v) return std::unexpected(v.error());
        *out.mutable_validate() = std::move(*v);
        return {};
      }
      case pb::Request::kGetProfile: {
        auto m = ctx.resolve(r, request.get_profile().identifier());
        if (!m) return std::unexpected(m.error());
        if (!m->customer) return fail(ErrorCode::kNotFound, "No member with this identifier.");
        auto v = ctx.validate_result(r, *m);
        if (!v) return std::unexpected(v.error());
        auto* p = out.mutable_profile();
        *p->mutable_member() = std::move(*v);
        const auto& ladder = ctx.program().tiers.ladder;
        if (auto i = ctx.program().tier_index(m->customer->tier_id); i && *i + 1 < ladder.size()) {
          p->set_next_tier_id(ladder[*i + 1].tier_id);
          p->set_distance_to_next_tier(
              std::max<int64_t>(0, ladder[*i + 1].threshold - m->customer->qualifying_value));
        }
        auto b = ctx.balance(r, *m);
        if (!b) return std::unexpected(b.error());
        if (b->expiring > 0) {
          p->set_expiring_points(b->expiring);
          p->set_expiring_at_ms(b->expiring_at);
        }
        p->set_enrolled_at_ms(m->customer->enrolled_at);
        return {};
      }
      case pb::Request::kListTransactions: {
        const auto& req = request.list_transactions();
        auto m = ctx.resolve(r, req.identifier());
        if (!m) return std::unexpected(m.error());
        int64_t before = INT64_MAX;
        if (!req.page_token().empty()) {
          char* end = nullptr;
          before = std::strtoll(req.page_token().c_str(), &end, 10);
          if (*end != '\0' || before <= 0)
            return fail(ErrorCode::kInvalidArgument, "page_token: not a token from this agent");
        }
        uint32_t limit = req.limit() == 0 ? 20 : std::min(req.limit(), settings_.max_page);
        auto rows = r.transactions(m->owner, before, static_cast<int>(limit) + 1);
        if (!rows) return std::unexpected(rows.error());
        auto* list = out.mutable_transactions();
        for (size_t i = 0; i < rows->size() && i < limit; ++i) {
          const LedgerRow& row = (*rows)[i];
          auto* t = list->add_transactions();
          t->set_event_id(event_id_text(row.event_id));
          t->set_kind(static_cast<pb::TransactionKind>(row.kind));
          t->set_occurred_at_ms(row.occurred_at);
          t->set_points(row.points);
          t->set_store_id(settings_.store_id);
          t->set_pos_tx_id(row.pos_tx_id);
          if (row.amount_minor) {
            t->mutable_amount()->set_minor_units(*row.amount_minor);
            t->mutable_amount()->set_currency(row.currency);
          }
          t->set_confirmed(row.confirmed);
        }
        if (rows->size() > limit) list->set_next_page_token(std::to_string((*rows)[limit - 1].seq));
        return {};
      }
      case pb::Request::kPreview: {
        const auto& req = request.preview();
        auto basket = wire::basket_from_proto(req.basket());
        if (!basket) return fail(basket.error().code, "basket." + basket.error().message);
        if (basket->occurred_at_ms == 0) basket->occurred_at_ms = now;
        std::string tier;
        int64_t earned_today = 0;
        if (req.has_identifier()) {
          auto m = ctx.resolve(r, req.identifier());
          if (!m) return std::unexpected(m.error());
          if (m->customer) tier = m->customer->tier_id;
          auto d = r.daily(m->owner, ctx.local_day(basket->occurred_at_ms));
          if (!d) return std::unexpected(d.error());
          earned_today = d->first;
        }
        auto e = compute_earn(ctx.program(), *basket,
                              {tier, earned_today, &ctx.zone(), settings_.default_country});
        if (!e) return std::unexpected(e.error());
        auto* p = out.mutable_preview();
        p->set_points(e->points);
        p->set_base_points(e->base_points);
        p->set_bonus_points(e->bonus_points);
        p->set_capped_points(e->capped_points);
        for (const auto& l : e->lines) {
          auto* lp = p->add_lines();
          lp->set_line_no(l.line_no);
          lp->set_points(l.points);
        }
        for (const auto& id : e->rules_fired) p->add_rules_fired(id);
        p->set_program_version(e->program_version);
        return {};
      }
      case pb::Request::kGetTransactionStatus: {
        const auto& req = request.get_transaction_status();
        ACCRUE_TRY(check_id("pos_tx_id", req.pos_tx_id(), true));
        ACCRUE_TRY(check_id("till_id", req.till_id(), false));
        const std::string& till = req.till_id().empty() ? request.till_id() : req.till_id();
        auto rc = r.receipt(till, req.pos_tx_id());
        if (!rc) return std::unexpected(rc.error());
        auto* s = out.mutable_transaction_status();
        s->set_found(rc->has_value());
        if (*rc) {
          s->set_kind(static_cast<pb::TransactionKind>((*rc)->kind));
          s->mutable_original()->ParseFromString((*rc)->response);
        }
        return {};
      }
      case pb::Request::kListQuarantine: {
        const auto& lq = request.list_quarantine();
        const uint32_t limit = lq.limit() == 0 ? 50 : lq.limit();
        if (limit > 500) return fail(ErrorCode::kInvalidArgument, "limit: at most 500");
        auto rows = r.quarantine(lq.after_seq(), static_cast<int>(limit));
        if (!rows) return std::unexpected(rows.error());
        auto stats = r.outbox_stats();
        if (!stats) return std::unexpected(stats.error());
        auto* list = out.mutable_quarantine();
        list->set_total(static_cast<uint64_t>(stats->quarantined));
        for (const auto& row : *rows) {
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
      case pb::Request::kGetAgentStatus: {
        auto stats = r.outbox_stats();
        if (!stats) return std::unexpected(stats.error());
        const bool on = ctx.online();
        auto* s = out.mutable_agent_status();
        s->set_store_id(settings_.store_id);
        s->set_agent_id(settings_.agent_id);
        s->set_version(settings_.version);
        s->set_online(on);
        s->set_last_sync_ms(last_sync_ms_.load());
        s->set_outbox_depth(static_cast<uint64_t>(stats->depth));
        if (stats->oldest_created_at) {
          s->set_oldest_pending_age_s(
              std::max<int64_t>(0, (now - *stats->oldest_created_at) / 1000));
        }
        s->set_program_version(ctx.program().version);
        s->set_quarantined(static_cast<uint64_t>(stats->quarantined));
        auto outstanding = r.offline_outstanding();
        if (!outstanding) return std::unexpected(outstanding.error());
        s->set_offline_outstanding_points(*outstanding);
        return {};
      }
      default:
        return fail(ErrorCode::kUnimplemented, "operation not supported by this agent");
    }
  };
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
    if (*fast) {
      *out.mutable_validate() = std::move(**fast);
      return answer(std::move(out));
    }
  }
  auto result = run();
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

namespace {

// An online redemption left undecided this long (an answer lost inside the agent) is voided
// when its till transaction comes again.
constexpr TimestampMs kStaleOnlineRedemptionMs = 60'000;

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
  auto id = Uuid::parse(sent.event_id(), "event_id");
  if (!id) return std::unexpected(id.error());
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
    auto seq = r.insert_ledger(row);
    if (!seq) return std::unexpected(seq.error());
    env.set_seq(static_cast<uint64_t>(*seq));
    return r.insert_outbox(*seq, row.event_id, env.SerializeAsString(), now);
  };
  ACCRUE_TRY(add(*id, pb::TRANSACTION_KIND_REDEMPTION, sent));
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
  if (!sent.ParseFromString(row.envelope) || !sent.has_redemption()) {
    return fail(ErrorCode::kDataLoss, "an online redemption's record does not parse");
  }
  ACCRUE_TRY(void_online_redemption(r, agent_id, sent, row.owner, adjustment_id, now, why));
  return r.delete_online_redemption(row.till_id, row.pos_tx_id);
}

}  // namespace

// One write request inside the group-commit transaction: the request's own changes, applied
// by the writer thread. Every method either applies all of its changes or returns an error
// (the writer then rolls back to the request's savepoint).
struct AgentService::WriteTxn {
  AgentService& service;
  Replica& r;
  Context& ctx;
  const pb::Request& req;
  const std::string& pos_tx_id;
  TimestampMs now;
  pb::Response& out;
  std::optional<int64_t> event_seq;  // the ledger seq of the event this request made
  bool refused = false;              // `out` holds a refusal that still commits (online redeem)

  const Program& program() const { return ctx.program(); }

  // Ledger row, then outbox row carrying the same seq: SQLite assigns seq as max + 1 inside
  // the transaction, so a rolled-back request leaves no gap (the upload order is gap-free).
  Result<int64_t> record(const Uuid& id, int k, const std::string& owner, int64_t points,
                         std::optional<Money> amount, TimestampMs at, sync::EventEnvelope& env) {
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
    auto seq = r.insert_ledger(row);
    if (!seq) return std::unexpected(seq.error());
    env.set_seq(static_cast<uint64_t>(*seq));
    ACCRUE_TRY(r.insert_outbox(*seq, row.event_id, env.SerializeAsString(), now));
    event_seq = *seq;
    return *seq;
  }

  Result<void> accrue(const Basket& basket) {
    const Program& program = ctx.program();
    const auto& a = req.accrue();
    auto m = ctx.resolve(r, a.identifier());
    if (!m) return std::unexpected(m.error());
    if (ctx.ask_first(*m)) return fail(ErrorCode::kUnavailable, "asking the cloud first");
    if (m->customer && m->customer->status == kStatusBlocked) {
      return fail(ErrorCode::kFailedPrecondition,
                  "This member is blocked: no points can be earned.");
    }
    const int64_t day = ctx.local_day(basket.occurred_at_ms);
    auto d = r.daily(m->owner, day);
    if (!d) return std::unexpected(d.error());
    const std::string tier = m->customer ? m->customer->tier_id : "";
    auto e = compute_earn(program, basket,
                          {tier, d->first, &ctx.zone(), service.settings_.default_country});
    if (!e) return std::unexpected(e.error());
    Uuid id = service.event_ids_.next();
    int64_t total = 0;
    for (const auto& l : basket.lines) total += l.amount_minor;
    auto env = ctx.envelope(id, basket.occurred_at_ms);
    auto* acc = env.mutable_accrual();
    if (m->customer) acc->set_customer_id(m->customer->customer_id);
    if (!m->customer && m->hash) {
      acc->mutable_identifier()->set_kind(std::string(to_string(*m->kind)));
      acc->mutable_identifier()->set_hash(
          std::string(reinterpret_cast<const char*>(m->hash->data()), m->hash->size()));
    }
    acc->set_till_id(req.till_id());
    acc->set_pos_tx_id(pos_tx_id);
    *acc->mutable_basket() = wire::basket_to_proto(basket);
    acc->set_points(e->points);
    for (const auto& l : e->lines) {
      auto* lp = acc->add_lines();
      lp->set_line_no(l.line_no);
      lp->set_points(l.points);
    }
    for (const auto& rid : e->rules_fired) acc->add_rules_fired(rid);
    acc->set_provisional(!m->customer);
    auto seq = record(id, pb::TRANSACTION_KIND_ACCRUAL, m->owner, e->points,
                      Money(total, basket.currency), basket.occurred_at_ms, env);
    if (!seq) return std::unexpected(seq.error());
    if (e->points > 0) {
      Lot lot = open_lot(program.lots, ctx.zone(), std::to_string(*seq), basket.occurred_at_ms,
                         e->points);
      ACCRUE_TRY(r.insert_lot(*seq, m->owner, lot));
    }
    for (size_t i = 0; i < basket.lines.size(); ++i) {
      ACCRUE_TRY(r.insert_sale_line(*seq, {basket.lines[i].line_no, basket.lines[i].quantity_milli,
                                           e->lines[i].points, 0, 0}));
    }
    ACCRUE_TRY(r.add_daily(m->owner, day, e->points, 0));
    auto b = ctx.balance(r, *m);
    if (!b) return std::unexpected(b.error());
    const bool on = ctx.online();
    auto* res = out.mutable_accrue();
    res->set_event_id(id.to_string());
    res->set_points_earned(e->points);
    res->set_available_points(b->available);
    res->set_pending_points(b->pending);
    res->set_offline(!on);
    res->set_provisional(!m->customer);
    res->set_program_version(program.version);
    return {};
  }

  // A redemption decided, before anything is written: who, how many points, for what value.
  struct RedeemPlan {
    Member m;
    int64_t points = 0;
    Money value;
    std::vector<Lot> lots;
  };

  // `check_available`: refuse what the member's balance here does not cover (every path but
  // the recording of a redemption the cloud has already applied).
  Result<RedeemPlan> plan_redeem(bool check_available) {
    const Program& program = ctx.program();
    const auto& a = req.redeem();
    auto m = ctx.resolve(r, a.identifier());
    if (!m) return std::unexpected(m.error());
    if (ctx.ask_first(*m)) return fail(ErrorCode::kUnavailable, "asking the cloud first");
    if (!m->customer)
      return fail(ErrorCode::kNotFound,
                  "No member with this identifier: points cannot be redeemed.");
    if (m->customer->status == kStatusBlocked) {
      return fail(ErrorCode::kFailedPrecondition,
                  "This member is blocked: points cannot be redeemed.");
    }
    auto store_currency = Currency::from_code(service.settings_.currency);
    if (!store_currency) return std::unexpected(store_currency.error());
    Currency currency = *store_currency;
    int64_t points = 0;
    if (a.amount_case() == pb::RedeemRequest::kPoints) {
      points = a.points();
      if (points <= 0) return fail(ErrorCode::kInvalidArgument, "points: must be positive");
    } else if (a.amount_case() == pb::RedeemRequest::kDiscount) {
      auto money = wire::money_from_proto(a.discount());
      if (!money) return fail(money.error().code, "discount." + money.error().message);
      currency = money->currency();
      auto p = points_for_discount(program.redemption, *money, service.settings_.default_country);
      if (!p) return std::unexpected(p.error());
      points = *p;
    } else {
      return fail(ErrorCode::kInvalidArgument, "redeem: give points or a discount");
    }
    auto value =
        redemption_value(program.redemption, currency, points, service.settings_.default_country);
    if (!value) return std::unexpected(value.error());
    auto lots = r.lots(m->owner);
    if (!lots) return std::unexpected(lots.error());
    if (check_available) {
      Balance b = balance_of(&*m->customer, *lots, now);
      if (b.available < points) {
        return fail(ErrorCode::kInsufficientPoints,
                    "Not enough points: " + std::to_string(std::max<int64_t>(0, b.available)) +
                        " available.");
      }
    }
    return RedeemPlan{std::move(*m), points, *value, std::move(*lots)};
  }

  // Records the planned redemption as event `id`. Offline, the programme's offline limits
  // decide first (a refusal writes nothing). `decided_by_cloud`: the cloud has applied it, so
  // what the replica does not cover becomes a debit on the confirmed balance instead of a
  // refusal (the next snapshot settles it).
  Result<void> apply_redeem(RedeemPlan& plan, const Uuid& id, TimestampMs at, bool online,
                            bool decided_by_cloud) {
    const Program& program = ctx.program();
    Member& m = plan.m;
    const int64_t points = plan.points;
    const int64_t day = ctx.local_day(now);
    if (!online) {
      auto d = r.daily(m.owner, day);
      if (!d) return std::unexpected(d.error());
      auto outstanding = r.offline_outstanding();
      if (!outstanding) return std::unexpected(outstanding.error());
      std::optional<TimestampMs> last_sync;
      if (TimestampMs synced = service.last_sync_ms_.load(); synced != 0) last_sync = synced;
      auto decision = decide_offline_redemption(program.offline_limits,
                                                {points, d->second, *outstanding, last_sync, now});
      if (!decision.allowed) return fail(ErrorCode::kRefused, decision.message);
    }
    // Spend the cloud-confirmed points first (they are the oldest), then local lots FIFO.
    int64_t from_confirmed =
        std::clamp<int64_t>(m.customer->confirmed_available - m.customer->local_debit, 0, points);
    int64_t rest = points - from_confirmed;
    if (rest > 0) {
      auto draws = draw_fifo(plan.lots, rest, now);
      if (!draws && !decided_by_cloud) return std::unexpected(draws.error());
      if (draws) {
        for (const auto& dr : *draws) {
          auto it = std::ranges::find(plan.lots, dr.lot_id, &Lot::lot_id);
          ACCRUE_TRY(r.set_lot_remaining(std::stoll(dr.lot_id), it->remaining - dr.points));
        }
      } else {
        from_confirmed = points;  // beyond what this replica knows: the cloud's figure rules
      }
      rest = 0;
    }
    if (from_confirmed > 0) ACCRUE_TRY(r.add_local_debit(m.owner, from_confirmed));
    auto env = ctx.envelope(id, at);
    auto* red = env.mutable_redemption();
    red->set_customer_id(m.customer->customer_id);
    red->set_till_id(req.till_id());
    red->set_pos_tx_id(pos_tx_id);
    red->set_points(points);
    *red->mutable_value() = wire::money_to_proto(plan.value);
    red->set_offline(!online);
    auto seq = record(id, pb::TRANSACTION_KIND_REDEMPTION, m.owner, -points, plan.value, at, env);
    if (!seq) return std::unexpected(seq.error());
    if (!online) {
      ACCRUE_TRY(r.add_daily(m.owner, day, 0, points));
      ACCRUE_TRY(r.add_offline_outstanding(points));
    }
    auto updated = r.customer(m.owner);
    if (!updated) return std::unexpected(updated.error());
    auto after = ctx.balance(r, Member{std::move(*updated), m.owner, m.hash, m.kind});
    if (!after) return std::unexpected(after.error());
    auto* res = out.mutable_redeem();
    res->set_event_id(id.to_string());
    res->set_points_redeemed(points);
    *res->mutable_discount() = wire::money_to_proto(plan.value);
    res->set_available_points(after->available);
    res->set_offline(!online);
    return {};
  }

  // Decided here: offline (the programme's offline limits), or online without a cloud to ask.
  Result<void> redeem() {
    auto plan = plan_redeem(true);
    if (!plan) return std::unexpected(plan.error());
    return apply_redeem(*plan, service.event_ids_.next(), now, ctx.online(), false);
  }

  // Online, step 1: the redemption is planned and its intent made durable before the cloud is
  // asked (ctx.online_event carries what to send).
  Result<void> prepare_online_redeem(const std::string& fingerprint) {
    auto plan = plan_redeem(true);
    if (!plan) return std::unexpected(plan.error());
    Uuid id = service.event_ids_.next();
    auto env = std::make_shared<sync::EventEnvelope>(ctx.envelope(id, now));
    auto* red = env->mutable_redemption();
    red->set_customer_id(plan->m.customer->customer_id);
    red->set_till_id(req.till_id());
    red->set_pos_tx_id(pos_tx_id);
    red->set_points(plan->points);
    *red->mutable_value() = wire::money_to_proto(plan->value);
    ACCRUE_TRY(r.insert_online_redemption({req.till_id(), pos_tx_id, uuid_bytes(id), fingerprint,
                                           plan->m.owner, env->SerializeAsString(), now}));
    ctx.online_event = std::move(env);
    return {};
  }

  // Online, step 2, with the cloud's answer (or its absence). Refusals are answers here, not
  // errors: the intent's removal must commit either way.
  Result<void> settle_online_redeem(const sync::EventEnvelope& event,
                                    const OnlineCalls::RedeemOutcome& outcome) {
    auto intent = r.online_redemption(req.till_id(), pos_tx_id);
    if (!intent) return std::unexpected(intent.error());
    if (!*intent || (*intent)->event_id.size() != 16) {
      return fail(ErrorCode::kInternal, "the online redemption's record is missing");
    }
    const std::string owner = (*intent)->owner;
    ACCRUE_TRY(r.delete_online_redemption(req.till_id(), pos_tx_id));
    auto id = Uuid::parse(event.event_id(), "event_id");
    if (!id) return std::unexpected(id.error());
    const auto& sent = event.redemption();
    auto value = wire::money_from_proto(sent.value());
    if (!value) return std::unexpected(value.error());
    auto refuse = [&](ErrorCode code, std::string message) -> Result<void> {
      out = error_response(req.request_id(), {code, std::move(message)});
      refused = true;
      return {};
    };
    const auto status = outcome.result.status();
    if (outcome.answered &&
        (status == sync::EVENT_STATUS_APPLIED || status == sync::EVENT_STATUS_DUPLICATE)) {
      auto plan = plan_redeem(false);
      if (!plan) return std::unexpected(plan.error());
      plan->points = sent.points();
      plan->value = *value;
      return apply_redeem(*plan, *id, event.occurred_at_ms(), true, true);
    }
    if (outcome.answered && (outcome.result.reject_code() == "insufficient_points" ||
                             outcome.result.reject_code() == "bad_points")) {
      return refuse(ErrorCode::kInsufficientPoints, outcome.result.message());
    }
    // The cloud could not decide (it does not know the member yet, say) or did not answer:
    // the offline rules decide, with the same event id, so that the upload is a duplicate if
    // the cloud did apply it after all.
    auto plan = plan_redeem(true);
    Result<void> applied = plan ? Result<void>{} : Result<void>(std::unexpected(plan.error()));
    if (plan) {
      plan->points = sent.points();
      plan->value = *value;
      applied = apply_redeem(*plan, *id, event.occurred_at_ms(), false, false);
    }
    if (applied) return {};
    const ErrorCode code = applied.error().code;
    if (code != ErrorCode::kRefused && code != ErrorCode::kInsufficientPoints &&
        code != ErrorCode::kNotFound && code != ErrorCode::kFailedPrecondition) {
      return applied;  // the replica failed: the intent stays and is voided at the next start
    }
    if (outcome.answered) return refuse(code, applied.error().message);
    // Unknown outcome and not allowed offline: void it, so the points come back if the cloud
    // applied it.
    ACCRUE_TRY(void_online_redemption(r, service.settings_.agent_id, event, owner,
                                      service.event_ids_.next(), now,
                                      "the store got no answer from the cloud"));
    return refuse(ErrorCode::kUnavailable,
                  "The loyalty service did not answer, and offline: " + applied.error().message +
                      " No points were redeemed.");
  }

  Result<void> return_sale() {
    const auto& a = req.return_();
    ACCRUE_TRY(check_id("original_till_id", a.original_till_id(), false));
    ACCRUE_TRY(check_id("original_pos_tx_id", a.original_pos_tx_id(), true));
    const std::string& till = a.original_till_id().empty() ? req.till_id() : a.original_till_id();
    auto original = r.receipt(till, a.original_pos_tx_id());
    if (!original) return std::unexpected(original.error());
    if (!*original || (*original)->kind != pb::TRANSACTION_KIND_ACCRUAL || !(*original)->seq) {
      return fail(ErrorCode::kNotFound,
                  "No sale " + a.original_pos_tx_id() + " on till " + till + " at this store.");
    }
    const int64_t sale_seq = *(*original)->seq;
    auto sale_entry = r.ledger_entry(sale_seq);
    if (!sale_entry) return std::unexpected(sale_entry.error());
    if (!*sale_entry) {
      return fail(ErrorCode::kDataLoss, "the original sale's ledger entry is missing");
    }
    auto rows = r.sale_lines(sale_seq);
    if (!rows) return std::unexpected(rows.error());
    std::vector<SaleLine> sale;
    for (const auto& l : *rows)
      sale.push_back(
          {l.line_no, l.quantity_milli, l.points, l.returned_quantity_milli, l.points_reversed});
    std::vector<ReturnLine> lines;
    for (const auto& l : a.lines()) lines.push_back({l.line_no(), l.quantity_milli()});
    auto outcome = compute_return(sale, lines);
    if (!outcome) return std::unexpected(outcome.error());
    // The ledger keeps the owner as written; an unknown identifier that enrolled since the
    // sale now has its lots under the member.
    std::string owner = (*sale_entry)->owner;
    if (auto hash = hash_of_provisional_owner(owner)) {
      auto cid = r.customer_for_hash(*hash);
      if (!cid) return std::unexpected(cid.error());
      if (*cid) owner = **cid;
    }
    auto lots = r.lots(owner);
    if (!lots) return std::unexpected(lots.error());
    auto plan = plan_reversal(*lots, std::to_string(sale_seq), outcome->points_reversed, now);
    for (const auto& dr : plan.draws) {
      auto it = std::ranges::find(*lots, dr.lot_id, &Lot::lot_id);
      ACCRUE_TRY(r.set_lot_remaining(std::stoll(dr.lot_id), it->remaining - dr.points));
    }
    auto customer = r.customer(owner);
    if (!customer) return std::unexpected(customer.error());
    if (plan.shortfall > 0 && *customer) ACCRUE_TRY(r.add_local_debit(owner, plan.shortfall));
    for (const auto& l : outcome->lines)
      ACCRUE_TRY(r.add_returned(sale_seq, l.line_no, l.quantity_milli, l.points));
    Uuid id = service.event_ids_.next();
    auto env = ctx.envelope(id, now);
    auto* ret = env.mutable_return_();
    if (*customer) ret->set_customer_id(owner);
    ret->set_till_id(req.till_id());
    ret->set_pos_tx_id(pos_tx_id);
    ret->set_original_event_id(event_id_text((*sale_entry)->event_id));
    for (const auto& l : outcome->lines) {
      auto* rl = ret->add_lines();
      rl->set_line_no(l.line_no);
      rl->set_quantity_milli(l.quantity_milli);
    }
    ret->set_points_reversed(outcome->points_reversed);
    auto seq = record(id, pb::TRANSACTION_KIND_RETURN, owner, -outcome->points_reversed,
                      std::nullopt, now, env);
    if (!seq) return std::unexpected(seq.error());
    ACCRUE_TRY(r.set_ledger_ref(*seq, sale_seq));
    auto after_lots = r.lots(owner);
    if (!after_lots) return std::unexpected(after_lots.error());
    auto updated = r.customer(owner);
    if (!updated) return std::unexpected(updated.error());
    Balance after = balance_of(*updated ? &**updated : nullptr, *after_lots, now);
    const bool on = ctx.online();
    auto* res = out.mutable_return_();
    res->set_event_id(id.to_string());
    res->set_points_reversed(outcome->points_reversed);
    res->set_available_points(after.available);
    res->set_offline(!on);
    return {};
  }

  Result<void> enroll() {
    const Program& program = ctx.program();
    const auto& a = req.enroll();
    if (a.identifiers_size() == 0 || a.identifiers_size() > 4) {
      return fail(ErrorCode::kInvalidArgument, "identifiers: give 1 to 4 identifiers");
    }
    if (!a.consents().terms()) {
      return fail(ErrorCode::kFailedPrecondition,
                  "The member must accept the programme terms to enrol.");
    }
    if (a.display_name().size() > 40)
      return fail(ErrorCode::kInvalidArgument, "display_name: at most 40 bytes");
    if ((a.birthday_month() == 0) != (a.birthday_day() == 0) || a.birthday_month() > 12 ||
        (a.birthday_month() > 0 && static_cast<int>(a.birthday_day()) >
                                       days_in_month(2000, static_cast<int>(a.birthday_month())))) {
      return fail(ErrorCode::kInvalidArgument,
                  "birthday: month 1..12 with a valid day, or neither");
    }
    std::vector<std::pair<IdentifierKind, IdentifierHash>> hashes;
    for (const auto& id : a.identifiers()) {
      if (id.kind() == pb::IDENTIFIER_KIND_CUSTOMER_ID)
        return fail(ErrorCode::kInvalidArgument, "identifiers: a customer id cannot be enrolled");
      auto n = ctx.normalize(id);
      if (!n) return std::unexpected(n.error());
      IdentifierHash h = service.hasher_.hash(*n);
      auto existing = r.customer_for_hash(h);
      if (!existing) return std::unexpected(existing.error());
      if (*existing)
        return fail(ErrorCode::kAlreadyExists,
                    "This " + std::string(to_string(n->kind)) + " already belongs to a member.");
      if (std::ranges::any_of(hashes, [&](const auto& p) { return p.second == h; })) {
        return fail(ErrorCode::kInvalidArgument, "identifiers: the same identifier twice");
      }
      hashes.emplace_back(n->kind, h);
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
    auto seq =
        record(id, pb::TRANSACTION_KIND_ENROLMENT, c.customer_id, bonus, std::nullopt, now, env);
    if (!seq) return std::unexpected(seq.error());
    if (bonus > 0) {
      LotPolicy immediate = program.lots;
      immediate.pending_days = 0;  // a welcome bonus is not subject to the return window
      ACCRUE_TRY(r.insert_lot(*seq, c.customer_id,
                              open_lot(immediate, ctx.zone(), std::to_string(*seq), now, bonus)));
    }
    auto* res = out.mutable_enroll();
    res->set_customer_id(c.customer_id);
    res->set_provisional(true);
    res->set_bonus_points(bonus);
    return {};
  }
};

void AgentService::handle_write(const pb::Request& request, Reply reply, bool may_ask) {
  const TimestampMs received = clock_.now_ms();
  const uint32_t cap = max_deadline_ms_.load();
  uint32_t deadline_ms = std::min(
      request.deadline_ms() == 0 ? settings_.default_deadline_ms : request.deadline_ms(), cap);
  auto ctx = std::make_shared<Context>(Context{*this, program(), received, received + deadline_ms});
  ctx->may_ask = may_ask;
  auto out = std::make_shared<pb::Response>();
  out->set_request_id(request.request_id());

  // Validation that needs no replica happens here, before the request takes a writer slot.
  const google::protobuf::Message* op = nullptr;
  std::string pos_tx_id;
  int kind = 0;
  std::optional<Basket> basket;
  switch (request.op_case()) {
    case pb::Request::kAccrue: {
      op = &request.accrue();
      pos_tx_id = request.accrue().pos_tx_id();
      kind = pb::TRANSACTION_KIND_ACCRUAL;
      auto b = wire::basket_from_proto(request.accrue().basket());
      if (!b)
        return reply(
            error_response(request.request_id(), {b.error().code, "basket." + b.error().message}));
      if (b->occurred_at_ms == 0) b->occurred_at_ms = received;
      basket = std::move(*b);
      break;
    }
    case pb::Request::kRedeem:
      op = &request.redeem();
      pos_tx_id = request.redeem().pos_tx_id();
      kind = pb::TRANSACTION_KIND_REDEMPTION;
      break;
    case pb::Request::kReturn:
      op = &request.return_();
      pos_tx_id = request.return_().pos_tx_id();
      kind = pb::TRANSACTION_KIND_RETURN;
      break;
    case pb::Request::kEnroll:
      op = &request.enroll();
      pos_tx_id = request.enroll().pos_tx_id();
      kind = pb::TRANSACTION_KIND_ENROLMENT;
      break;
    default:
      return reply(error_response(request.request_id(), invalid("not a write operation")));
  }
  if (auto r = check_id("till_id", request.till_id(), true); !r)
    return reply(error_response(request.request_id(), r.error()));
  if (auto r = check_id("pos_tx_id", pos_tx_id, true); !r)
    return reply(error_response(request.request_id(), r.error()));
  std::string print = fingerprint(*op);

  WriteJob job;
  job.apply = [this, ctx, out, req = request, print, pos_tx_id, kind,
               basket = std::move(basket)](Replica& r) mutable -> Result<void> {
    const TimestampMs now = clock_.now_ms();
    if (now > ctx->deadline) {
      return fail(ErrorCode::kDeadlineExceeded,
                  "The request waited too long and was not applied; it is safe to retry.");
    }
    ctx->now = now;
    // Invariant "same request, same answer" (docs/architecture.md): the same (till, pos_tx_id)
    // answers the same; a different body conflicts.
    auto prior = r.receipt(req.till_id(), pos_tx_id);
    if (!prior) return std::unexpected(prior.error());
    if (*prior) {
      if ((*prior)->fingerprint != print) {
        return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " + req.till_id() +
                                              " was already recorded with different content.");
      }
      out->ParseFromString((*prior)->response);
      out->set_request_id(req.request_id());
      switch (out->result_case()) {
        case pb::Response::kAccrue:
          out->mutable_accrue()->set_replayed(true);
          break;
        case pb::Response::kRedeem:
          out->mutable_redeem()->set_replayed(true);
          break;
        case pb::Response::kReturn:
          out->mutable_return_()->set_replayed(true);
          break;
        case pb::Response::kEnroll:
          out->mutable_enroll()->set_replayed(true);
          break;
        default:
          break;
      }
      return {};
    }

    WriteTxn txn{*this, r, *ctx, req, pos_tx_id, now, *out, std::nullopt};
    Result<void> applied;
    const bool redeem_online = req.op_case() == pb::Request::kRedeem && calls_ && online_.load();
    if (req.op_case() == pb::Request::kRedeem) {
      auto pending = r.online_redemption(req.till_id(), pos_tx_id);
      if (!pending) return std::unexpected(pending.error());
      if (*pending && (*pending)->fingerprint != print) {
        return fail(ErrorCode::kConflict, "Transaction " + pos_tx_id + " on till " + req.till_id() +
                                              " is being redeemed with different content.");
      }
      if (*pending && now - (*pending)->created_at < kStaleOnlineRedemptionMs) {
        return fail(ErrorCode::kUnavailable,
                    "This redemption is being decided by the loyalty service; retry in a moment.");
      }
      if (*pending) {
        ACCRUE_TRY(void_intent(r, settings_.agent_id, **pending, event_ids_.next(), now,
                               "left undecided inside the agent"));
      }
    }
    switch (req.op_case()) {
      case pb::Request::kAccrue:
        applied = txn.accrue(*basket);
        break;
      case pb::Request::kRedeem:
        if (redeem_online) {
          applied = txn.prepare_online_redeem(print);
          if (applied) return {};  // no receipt yet: the cloud's answer settles it
        } else {
          applied = txn.redeem();
        }
        break;
      case pb::Request::kReturn:
        applied = txn.return_sale();
        break;
      case pb::Request::kEnroll:
        applied = txn.enroll();
        break;
      default:
        return fail(ErrorCode::kInternal, "not a write operation");
    }
    if (!applied) return applied;
    return r.insert_receipt(req.till_id(), pos_tx_id, kind, print, out->SerializeAsString(),
                            txn.event_seq, now);
  };
  job.done = [this, ctx, out, reply, request, print](Result<void> result) {
    if (!result && ctx->asking) {
      // The identifier is unknown here: ask the cloud, then run the request again.
      auto again = [this, request, reply]() { handle_write(request, reply, false); };
      if (!ask_cloud(ctx->unknown, again)) again();
      return;
    }
    if (!result) return reply(error_response(request.request_id(), result.error()));
    if (ctx->online_event) return redeem_online(request, reply, ctx->online_event, print);
    reply(std::move(*out));
  };
  if (!writer_.submit(std::move(job))) {
    reply(error_response(request.request_id(), {ErrorCode::kResourceExhausted,
                                                "The loyalty agent is busy; please retry."}));
  }
}

void AgentService::redeem_online(const pb::Request& request, Reply reply,
                                 std::shared_ptr<sync::EventEnvelope> event,
                                 const std::string& print) {
  auto settle = [this, request, reply, event, print](OnlineCalls::RedeemOutcome outcome) {
    const TimestampMs received = clock_.now_ms();
    auto ctx = std::make_shared<Context>(
        Context{*this, program(), received, received + max_deadline_ms_.load()});
    auto out = std::make_shared<pb::Response>();
    out->set_request_id(request.request_id());
    WriteJob job;
    job.apply = [this, ctx, out, request, event, print,
                 outcome = std::move(outcome)](Replica& r) -> Result<void> {
      const TimestampMs now = clock_.now_ms();
      ctx->now = now;
      const std::string& pos_tx_id = request.redeem().pos_tx_id();
      WriteTxn txn{*this, r, *ctx, request, pos_tx_id, now, *out, std::nullopt};
      ACCRUE_TRY(txn.settle_online_redeem(*event, outcome));
      if (txn.refused) return {};
      return r.insert_receipt(request.till_id(), pos_tx_id, pb::TRANSACTION_KIND_REDEMPTION, print,
                              out->SerializeAsString(), txn.event_seq, now);
    };
    job.done = [out, reply, request_id = request.request_id()](Result<void> result) {
      if (!result) return reply(error_response(request_id, result.error()));
      reply(std::move(*out));
    };
    if (!writer_.submit(std::move(job))) {
      // The intent stays: the till's retry (or the next start) voids it.
      reply(error_response(request.request_id(), {ErrorCode::kResourceExhausted,
                                                  "The loyalty agent is busy; please retry."}));
    }
  };
  if (!calls_->redeem(*event, settle)) settle({false, {}, "the online queue is full"});
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
    auto rows = r.online_redemptions();
    if (!rows) return std::unexpected(rows.error());
    for (const auto& row : *rows) {
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
    auto oldest = lease->oldest_online_redemption();
    if (!oldest) return std::unexpected(oldest.error());
    if (!*oldest || **oldest >= before) return 0;
  }
  return void_online_redemptions(
      writer_, before, [this](Replica& r, const OnlineRedemptionRow& row) {
        return void_intent(r, settings_.agent_id, row, event_ids_.next(), clock_.now_ms(),
                           "left undecided: the till did not come back for it");
      });
}

}  // namespace accrue::agent
