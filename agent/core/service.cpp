#include "agent/core/service.h"

#include <openssl/sha.h>

#include <algorithm>

#include "agent/core/service_parts.h"
#include "common/sys/log.h"
#include "common/wire/pos_error.h"

namespace accrue::agent {

namespace service_parts {

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

namespace {

std::string sha256(const std::string& bytes) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// Every Identifier in `m`, at any depth, as the agent understands it. One that does not
// normalise is left as sent (the request is refused for it anyway); a customer id is a UUID,
// compared as sent.
void canonicalise_identifiers(google::protobuf::Message& m, std::string_view country) {
  if (m.GetDescriptor() == pb::Identifier::descriptor()) {
    auto& id = static_cast<pb::Identifier&>(m);
    id.clear_entry_mode();
    if (auto kind = hashed_kind(id.kind())) {
      if (auto n = normalize_identifier(*kind, id.value(), country)) id.set_value(n->value);
    }
    return;
  }
  const auto* reflection = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(m, f); ++i) {
        canonicalise_identifiers(*reflection->MutableRepeatedMessage(&m, f, i), country);
      }
    } else {
      canonicalise_identifiers(*reflection->MutableMessage(&m, f), country);
    }
  }
}

}  // namespace

std::optional<IdentifierKind> hashed_kind(pb::IdentifierKind kind) {
  switch (kind) {
    case pb::IDENTIFIER_KIND_CARD:
      return IdentifierKind::kCard;
    case pb::IDENTIFIER_KIND_PHONE:
      return IdentifierKind::kPhone;
    case pb::IDENTIFIER_KIND_EMAIL:
      return IdentifierKind::kEmail;
    case pb::IDENTIFIER_KIND_QR_TOKEN:
      return IdentifierKind::kQrToken;
    default:
      return std::nullopt;  // a customer id (a UUID), or no kind
  }
}

Fingerprint fingerprint(const google::protobuf::Message& op, std::string_view country) {
  std::unique_ptr<google::protobuf::Message> canonical(op.New());
  canonical->CopyFrom(op);
  canonicalise_identifiers(*canonical, country);
  return {sha256(canonical->SerializeAsString()), sha256(op.SerializeAsString())};
}

std::string uuid_bytes(const Uuid& u) {
  return {reinterpret_cast<const char*>(u.bytes().data()), u.bytes().size()};
}

std::string event_id_text(std::string_view bytes) {
  std::array<uint8_t, 16> b{};
  std::copy_n(bytes.begin(), std::min<size_t>(16, bytes.size()), b.begin());
  return Uuid(b).to_string();
}

Balance balance_of(const CustomerRow* c, const std::vector<Lot>& lots, TimestampMs now) {
  LotBalance lb = accrue::balance_of(lots, now, now + kExpiringHorizonMs);
  if (c) lb = store_balance({c->confirmed_available, c->confirmed_pending, c->local_debit}, lb);
  return Balance{lb.available, lb.pending, lb.expiring, lb.expiring_at_ms};
}

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

}  // namespace service_parts

using namespace service_parts;

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
    case pb::Request::kApplyCoupon:
    case pb::Request::kVoidCoupon:
    case pb::Request::kClaimReward:
      return handle_write(request, reply);
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

}  // namespace accrue::agent
