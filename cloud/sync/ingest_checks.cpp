// Ingestion, part 1: what can be checked without the database.
#include "cloud/sync/ingest_parts.h"
#include "common/engine/basket.h"
#include "common/program.h"

namespace accrue::cloud::ingest {

namespace {

// Why an event's fields cannot be stored, or nullopt. Field sizes and point magnitudes the
// database could refuse (an over-long key in a unique index, a sum out of bigint range) would fail
// the whole batch and block the store's queue: such an event is rejected on its own instead.
std::optional<std::string> field_problem(const sv1::EventEnvelope& e) {
  auto too_long = [](const std::string& v, size_t max) { return v.size() > max; };
  auto points_ok = [](int64_t p) { return p >= -kMaxPoints && p <= kMaxPoints; };
  if (too_long(e.program_id(), 64)) return "program_id: at most 64 characters";
  switch (e.body_case()) {
    case sv1::EventEnvelope::kAccrual: {
      const auto& a = e.accrual();
      if (too_long(a.customer_id(), 64) || too_long(a.till_id(), 64) ||
          too_long(a.pos_tx_id(), 128)) {
        return "accrual: customer_id and till_id at most 64, pos_tx_id at most 128 characters";
      }
      if (!points_ok(a.points())) return "accrual: points out of range";
      break;
    }
    case sv1::EventEnvelope::kRedemption: {
      const auto& r = e.redemption();
      if (too_long(r.customer_id(), 64) || too_long(r.till_id(), 64) ||
          too_long(r.pos_tx_id(), 128) || too_long(r.value().currency(), 3)) {
        return "redemption: field too long";
      }
      if (!points_ok(r.points())) return "redemption: points out of range";
      break;
    }
    case sv1::EventEnvelope::kReturn: {
      const auto& r = e.return_();
      if (too_long(r.customer_id(), 64) || too_long(r.till_id(), 64) ||
          too_long(r.pos_tx_id(), 128) || too_long(r.original_event_id(), 36) ||
          too_long(r.original_store_id(), 64) || too_long(r.original_till_id(), 64) ||
          too_long(r.original_pos_tx_id(), 128)) {
        return "return: field too long";
      }
      if (r.lines_size() > 1000) return "return: at most 1000 lines";
      if (r.till_id().empty() || r.pos_tx_id().empty()) {
        return "return: till_id and pos_tx_id (the return's own transaction) are required";
      }
      if (!r.original_event_id().empty() && !Uuid::parse(r.original_event_id(), "")) {
        return "return: original_event_id is not a UUID";
      }
      if (!points_ok(r.points_reversed())) return "return: points out of range";
      break;
    }
    case sv1::EventEnvelope::kAdjustment: {
      const auto& a = e.adjustment();
      if (too_long(a.customer_id(), 64) || too_long(a.reason(), 500) || too_long(a.actor(), 128)) {
        return "adjustment: field too long";
      }
      if (!points_ok(a.points())) return "adjustment: points out of range";
      break;
    }
    case sv1::EventEnvelope::kEnrolment: {
      const auto& n = e.enrolment();
      if (too_long(n.temp_customer_id(), 64) || too_long(n.display_name(), 200) ||
          n.sealed_contact().size() > 4096 || n.identifiers_size() > 16) {
        return "enrolment: field too long or too many identifiers";
      }
      break;
    }
    case sv1::EventEnvelope::kClaim: {
      const auto& c = e.claim();
      if (too_long(c.customer_id(), 64) || too_long(c.actor(), 128) ||
          c.identifier_hashes_size() == 0 || c.identifier_hashes_size() > 16) {
        return "claim: customer_id at most 64 characters, 1 to 16 identifier hashes";
      }
      break;
    }
    case sv1::EventEnvelope::kCouponUse: {
      const auto& u = e.coupon_use();
      if (too_long(u.customer_id(), 64) || too_long(u.till_id(), 64) ||
          too_long(u.pos_tx_id(), 128) || too_long(u.reward_id(), 40) ||
          too_long(u.discount().currency(), 3)) {
        return "coupon_use: field too long";
      }
      if (u.discount().minor_units() < 0 || u.discount().minor_units() > kMaxAmountMinor) {
        return "coupon_use: discount out of range";
      }
      break;
    }
    case sv1::EventEnvelope::kRewardClaim: {
      const auto& c = e.reward_claim();
      if (too_long(c.customer_id(), 64) || too_long(c.till_id(), 64) ||
          too_long(c.pos_tx_id(), 128) || too_long(c.reward_id(), 40)) {
        return "reward_claim: field too long";
      }
      if (!Uuid::parse(c.coupon_id()) || c.till_id().empty() || c.pos_tx_id().empty()) {
        return "reward_claim: a coupon_id (UUID), till_id and pos_tx_id are required";
      }
      if (c.cost_points() < 0) return "reward_claim: cost_points must not be negative";
      break;
    }
    case sv1::EventEnvelope::kCouponUseVoid: {
      const auto& v = e.coupon_use_void();
      if (too_long(v.till_id(), 64) || too_long(v.pos_tx_id(), 128)) {
        return "coupon_use_void: field too long";
      }
      break;
    }
    default:
      break;
  }
  return std::nullopt;
}

}  // namespace

Result<void> check_batch(const sv1::EventBatch& batch, std::string_view store_id,
                         size_t max_events) {
  if (batch.store_id() != store_id) {
    return fail(ErrorCode::kPermissionDenied, "store " + std::string(store_id) +
                                                  " may only upload its own events (the batch "
                                                  "names store " +
                                                  batch.store_id() + ")");
  }
  if (batch.agent_id().empty() || batch.agent_id().size() > 128) {
    return fail(ErrorCode::kInvalidArgument, "agent_id: required, at most 128 characters");
  }
  if (static_cast<size_t>(batch.events_size()) > max_events) {
    return fail(ErrorCode::kInvalidArgument,
                "events: at most " + std::to_string(max_events) + " per batch");
  }
  return {};
}

std::vector<std::string> check_events(const sv1::EventBatch& batch, Flow flow, Verdicts& v) {
  std::vector<std::string> ids;
  std::set<std::string> seen_in_batch;
  for (int i = 0; i < batch.events_size(); ++i) {
    const auto& e = batch.events(i);
    auto id = Uuid::parse(e.event_id(), "event_id");
    if (!id || id->version() != 7) {
      v.reject(i, "bad_event_id", "event_id: expected a UUIDv7");
      continue;
    }
    if (e.store_id() != batch.store_id() || e.agent_id() != batch.agent_id()) {
      v.reject(i, "wrong_agent", "the event names another store or agent than its batch");
      continue;
    }
    // An online redemption has no seq yet: the agent gives it one when it records the event.
    if (e.seq() == 0 && flow == Flow::kStore) v.reject(i, "bad_seq", "seq: starts at 1");
    if (e.schema_version() != 1) {
      v.reject(i, "schema_version",
               "schema_version " + std::to_string(e.schema_version()) +
                   " is not supported (this service reads 1)");
    }
    if (e.occurred_at_ms() <= 0 || e.occurred_at_ms() >= kMaxTimestampMs) {
      v.reject(i, "bad_time", "occurred_at_ms: out of range");
    }
    if (e.body_case() == sv1::EventEnvelope::BODY_NOT_SET) v.reject(i, "no_body", "empty event");
    if (e.program_id().empty() || e.program_version() == 0) {
      v.reject(i, "program_version", "program_id and program_version are required");
    }
    if (auto bad = field_problem(e)) v.reject(i, "bad_field", *bad);
    if (!seen_in_batch.insert(id->to_string()).second) {
      v.mark_duplicate(i);  // the same event twice in one batch
      continue;
    }
    ids.push_back(id->to_string());
  }
  return ids;
}

}  // namespace accrue::cloud::ingest
