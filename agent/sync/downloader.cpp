#include "agent/sync/downloader.h"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <future>
#include <iterator>
#include <map>
#include <set>

#include "accrue/pos/v1/pos.pb.h"
#include "agent/store/programs.h"
#include "common/engine/lots.h"
#include "common/hex.h"
#include "common/sys/log.h"
#include "common/uuid.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::agent {
namespace sv1 = accrue::sync::v1;
namespace lv1 = accrue::loyalty::v1;
namespace pb = accrue::pos::v1;

namespace {

int status_of(lv1::CustomerStatus s) {
  switch (s) {
    case lv1::CUSTOMER_STATUS_BLOCKED:
      return kStatusBlocked;
    case lv1::CUSTOMER_STATUS_PROVISIONAL:
      return kStatusProvisional;
    default:
      return kStatusActive;
  }
}

Result<void> apply_draws(Replica& w, const std::vector<Lot>& lots, const std::vector<Draw>& draws) {
  for (const auto& d : draws) {
    auto it = std::ranges::find(lots, d.lot_id, &Lot::lot_id);
    if (it == lots.end()) continue;
    ACCRUE_TRY(w.set_lot_remaining(std::stoll(d.lot_id), it->remaining - d.points));
  }
  return {};
}

}  // namespace

Result<void> rebase_member(Replica& w, const std::string& customer_id, int64_t watermark,
                           const std::set<std::string>* in_cloud) {
  ACCRUE_ASSIGN_OR_RETURN(auto customer, w.customer(customer_id));
  if (!customer) return {};
  ACCRUE_TRY(w.rebase_lots(customer_id, watermark));
  ACCRUE_ASSIGN_OR_RETURN(auto events, w.member_events_after(customer_id, watermark));
  // Spending after W, replayed in order against the new confirmed balance and the lots of
  // events after W: the confirmed (older) points first, then local lots first-in-first-out, as
  // when they happened; what neither covers stays a debit on the confirmed balance.
  int64_t debit = 0;
  const int64_t confirmed = customer->confirmed_available;
  for (const auto& e : events) {
    // An online redemption or return the cloud applied before this agent uploaded it: already
    // inside the confirmed balance although its seq is after W, and so is a return's refund
    // (its lot here would count it twice).
    if (in_cloud && in_cloud->contains(e.event_id)) {
      ACCRUE_TRY(w.remove_lot(e.seq, customer_id));
      continue;
    }
    if (e.kind == pb::TRANSACTION_KIND_REDEMPTION || e.kind == pb::TRANSACTION_KIND_REWARD_CLAIM) {
      ACCRUE_ASSIGN_OR_RETURN(auto lots, w.lots(customer_id));
      const SpendPlan spend = plan_spend(confirmed - debit, lots, -e.points, e.occurred_at);
      ACCRUE_TRY(apply_draws(w, lots, spend.draws));
      // What the lots cannot cover: the cloud's truth moved under it; its next snapshot settles
      // it.
      debit += spend.from_confirmed + spend.uncovered;
    } else if (e.kind == pb::TRANSACTION_KIND_RETURN) {
      const int64_t points = -e.points;
      ACCRUE_ASSIGN_OR_RETURN(auto ref, w.ledger_ref(e.seq));
      ACCRUE_ASSIGN_OR_RETURN(auto lots, w.lots(customer_id));
      // A sale at or before W is in the confirmed balance: its reversal is a debit there.
      auto plan = plan_reversal(lots, ref && *ref > watermark ? std::to_string(*ref) : "", points,
                                e.occurred_at);
      ACCRUE_TRY(apply_draws(w, lots, plan.draws));
      debit += plan.shortfall;
    } else if (e.kind == pb::TRANSACTION_KIND_ADJUSTMENT) {
      // The give-back of a voided online redemption (the only adjustment a store makes): its
      // redemption was replayed above, or is inside the confirmed balance already.
      debit -= e.points;
    }
  }
  return w.set_local_debit(customer_id, debit);
}

namespace {

// The changes of a page or a lookup, in the writer's transaction.
Result<void> apply_changes(Replica& w,
                           const google::protobuf::RepeatedPtrField<sv1::Change>& changes,
                           uint64_t processed_seq,
                           const google::protobuf::RepeatedPtrField<std::string>& online_applied,
                           TimestampMs now, bool* program_changed, int64_t rebuild = 0) {
  const auto through = static_cast<int64_t>(processed_seq);
  std::set<std::string> in_cloud;
  for (const auto& id : online_applied) {
    auto u = Uuid::parse(id, "online_applied_event_ids");
    if (!u) return fail(ErrorCode::kInvalidArgument, "change feed: " + u.error().message);
    in_cloud.emplace(reinterpret_cast<const char*>(u->bytes().data()), u->bytes().size());
  }
  // Of those, the ones whose outcome this agent has not recorded yet (the till still waits, or
  // the answer was lost): the member's snapshot below holds them, so when the outcome is
  // recorded it must not be counted against her balance again.
  std::vector<std::string> in_flight;
  if (!in_cloud.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto flying, w.in_flight());
    std::ranges::set_intersection(in_cloud, flying, std::back_inserter(in_flight));
  }
  // Members whose whole set of identifiers follows their snapshot, and that set as it comes.
  std::map<std::string, std::set<std::string>> complete_sets;
  for (const auto& ch : changes) {
    switch (ch.change_case()) {
      case sv1::Change::kProgram: {
        auto program = wire::program_from_proto(ch.program());
        if (!program) {
          // A programme this agent cannot read: keep the one in force, say so loudly.
          log(LogLevel::kError, "program_refused",
              {{"program_id", ch.program().program_id()}, {"reason", program.error().message}});
          break;
        }
        ACCRUE_ASSIGN_OR_RETURN(auto installed, install_program(w, *program, now));
        if (installed && program_changed) *program_changed = true;
        break;
      }
      case sv1::Change::kCustomer: {
        const auto& s = ch.customer();
        if (s.customer_id().empty() || s.customer_id().size() > 64) {
          return fail(ErrorCode::kInvalidArgument, "change feed: a customer without a valid id");
        }
        ACCRUE_ASSIGN_OR_RETURN(auto existing, w.customer(s.customer_id()));
        CustomerRow row = existing.value_or(CustomerRow{});
        row.customer_id = s.customer_id();
        row.status = status_of(s.status());
        row.tier_id = s.tier_id();
        row.display_name = s.display_name();
        row.home_store_id = s.home_store_id();
        row.confirmed_available = s.available_points();
        row.confirmed_pending = s.pending_points();
        row.confirmed_as_of = s.as_of_ms();
        row.birthday_month = static_cast<int>(s.birthday_month());
        row.birthday_day = static_cast<int>(s.birthday_day());
        row.qualifying_value = s.qualifying_value();
        row.local_debit = 0;  // rebuilt below
        ACCRUE_TRY(w.upsert_customer(row));
        if (s.identifiers_follow()) complete_sets[s.customer_id()].clear();
        // A snapshot read before this agent's later events: never move W backwards.
        ACCRUE_ASSIGN_OR_RETURN(
            auto before, existing.has_value() ? w.watermark(s.customer_id()) : Result<int64_t>(0));
        const int64_t w_seq = std::max(before, through);
        ACCRUE_TRY(w.set_watermark(s.customer_id(), w_seq));
        if (rebuild != 0) ACCRUE_TRY(w.mark_rebuilt(s.customer_id(), rebuild));
        ACCRUE_TRY(
            rebase_member(w, s.customer_id(), w_seq, w_seq == through ? &in_cloud : nullptr));
        if (w_seq == through) {
          for (const auto& id : in_flight) ACCRUE_TRY(w.held_in_snapshot(id, s.customer_id()));
        }
        break;
      }
      case sv1::Change::kIdentifier: {
        const auto& link = ch.identifier();
        if (link.identifier().hash().size() != 32) {
          return fail(ErrorCode::kInvalidArgument,
                      "change feed: an identifier hash of " +
                          std::to_string(link.identifier().hash().size()) + " bytes");
        }
        IdentifierHash hash{};
        std::copy(link.identifier().hash().begin(), link.identifier().hash().end(), hash.begin());
        if (auto set = complete_sets.find(link.customer_id()); set != complete_sets.end()) {
          set->second.insert(link.identifier().hash());
        }
        ACCRUE_ASSIGN_OR_RETURN(auto owner, w.customer_for_hash(hash));
        if (owner && *owner == link.customer_id()) break;
        if (!owner) {
          ACCRUE_TRY(w.link_identifier(hash, link.customer_id()));
        } else {
          ACCRUE_TRY(w.relink_identifier(hash, link.customer_id()));
        }
        // Sales made here before the identifier was known now count for the member; those the
        // cloud has already credited to it are inside its confirmed balance.
        ACCRUE_ASSIGN_OR_RETURN(auto moved,
                                w.reassign_owner(provisional_owner(hash), link.customer_id()));
        if (moved) {  // lots the member's confirmed balance may already hold: rebase
          ACCRUE_ASSIGN_OR_RETURN(auto w_seq, w.watermark(link.customer_id()));
          ACCRUE_TRY(rebase_member(w, link.customer_id(), w_seq));
        }
        break;
      }
      case sv1::Change::kMapping: {
        // A member enrolled here (under the agent's temporary id) got its cloud id.
        const auto& m = ch.mapping();
        if (m.temp_customer_id() == m.customer_id()) break;
        if (m.customer_id().empty() || m.customer_id().size() > 64 ||
            m.temp_customer_id().empty() || m.temp_customer_id().size() > 64) {
          return fail(ErrorCode::kInvalidArgument, "change feed: a mapping without a valid id");
        }
        ACCRUE_TRY(w.map_temporary_id(m.temp_customer_id(), m.customer_id()));
        // Lots moved in from the temporary id may be inside the member's confirmed balance.
        ACCRUE_ASSIGN_OR_RETURN(auto w_seq, w.watermark(m.customer_id()));
        ACCRUE_TRY(rebase_member(w, m.customer_id(), w_seq));
        break;
      }
      case sv1::Change::kRemoved:
        ACCRUE_TRY(w.remove_customer(ch.removed().customer_id()));
        break;
      case sv1::Change::kCoupon: {
        // Spent elsewhere (refused here from now on), or usable again.
        auto id = Uuid::parse(ch.coupon().coupon_id(), "coupon_id");
        if (!id) return fail(ErrorCode::kInvalidArgument, "change feed: " + id.error().message);
        const std::string raw(reinterpret_cast<const char*>(id->bytes().data()),
                              id->bytes().size());
        ACCRUE_TRY(w.set_coupon_spent(raw, ch.coupon().expires_at_ms(), ch.coupon().spent()));
        break;
      }
      default:
        break;
    }
  }
  // What the cloud no longer links to her stops finding her here.
  for (const auto& [customer_id, hashes] : complete_sets) {
    ACCRUE_TRY(w.keep_only_identifiers(customer_id, hashes));
  }
  return {};
}

}  // namespace

Result<void> apply_changes_page(Replica& w, const sv1::ChangesPage& page, TimestampMs now,
                                bool* program_changed) {
  // reset: the cloud sends the store's whole scope again, from this page until has_more is
  // false. Tills keep reading the replica as it was, updated member by member (never emptied);
  // members the rebuild did not send are swept in the transaction of its last page.
  ACCRUE_ASSIGN_OR_RETURN(auto generation, w.meta_int("rebuild_generation"));
  ACCRUE_ASSIGN_OR_RETURN(auto rebuilding, w.meta_int("rebuilding"));
  int64_t rebuild = rebuilding.value_or(0) != 0 ? generation.value_or(0) : 0;
  if (page.reset()) {
    rebuild = generation.value_or(0) + 1;
    ACCRUE_TRY(w.set_meta("rebuild_generation", std::to_string(rebuild)));
    ACCRUE_TRY(w.set_meta("rebuilding", "1"));
  }
  // The store as the registry has it: a new zone or country reloads what the tills run under,
  // like a new programme.
  if (page.has_store()) {
    for (const auto& [key, value] : {std::pair{"store_time_zone", &page.store().time_zone()},
                                     {"store_country", &page.store().country()}}) {
      ACCRUE_ASSIGN_OR_RETURN(auto had, w.meta(key));
      if (had != *value) {
        ACCRUE_TRY(w.set_meta(key, *value));
        if (program_changed) *program_changed = true;
        log(LogLevel::kInfo, "store_profile_changed", {{"key", key}, {"value", *value}});
      }
    }
  }
  // The cloud's key for sealing contact details at enrolment (kept as hex; "" when it has none).
  if (page.contact_key().empty() || page.contact_key().size() == 32) {
    const std::string key = to_hex(std::string_view(page.contact_key()));
    ACCRUE_ASSIGN_OR_RETURN(auto had, w.meta("contact_key"));
    if (had.value_or("") != key) ACCRUE_TRY(w.set_meta("contact_key", key));
  }
  // The coupon keys: every one ever given is kept (coupons signed before a rotation stay good).
  for (const auto& key : page.coupon_keys()) {
    if (key.public_key().size() != 32) {
      return fail(
          ErrorCode::kInvalidArgument,
          "change feed: a coupon key of " + std::to_string(key.public_key().size()) + " bytes");
    }
    CouponPublicKey raw{};
    std::copy(key.public_key().begin(), key.public_key().end(),
              reinterpret_cast<char*>(raw.data()));
    ACCRUE_TRY(w.put_coupon_key(key.key_id(), raw));
  }
  // A rebuild sends the whole list of spent coupons again.
  if (page.reset()) ACCRUE_TRY(w.clear_spent_coupons());
  ACCRUE_TRY(w.forget_expired_coupons(now));
  ACCRUE_TRY(apply_changes(w, page.changes(), page.agent_processed_seq(),
                           page.online_applied_event_ids(), now, program_changed, rebuild));
  if (rebuild != 0 && !page.has_more()) {
    ACCRUE_ASSIGN_OR_RETURN(auto swept, w.sweep_not_rebuilt(rebuild));
    ACCRUE_TRY(w.set_meta("rebuilding", "0"));
    log(LogLevel::kInfo, "replica_rebuilt",
        {{"generation", std::to_string(rebuild)}, {"removed", std::to_string(swept)}});
  }
  const auto& next = page.next_cursor();
  if (next.size() > 4096 ||
      next.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
          std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "change feed: the next cursor is not base64url");
  }
  ACCRUE_TRY(w.set_meta("sync_cursor", next));
  return w.set_meta("last_sync_ms", std::to_string(now));
}

Result<void> apply_lookup(Replica& w, const sv1::LookupResponse& found, TimestampMs now) {
  google::protobuf::RepeatedPtrField<sv1::Change> changes;
  *changes.Add()->mutable_customer() = found.customer();
  for (const auto& link : found.identifiers()) *changes.Add()->mutable_identifier() = link;
  // The answer is newer than any rebuild page the cloud may have written before the lookup put
  // this store in the member's scope, so the member is marked as part of the rebuild going on
  // (or of the next one, if its first page is already on its way): the sweep must not drop a
  // member a till has just been told about.
  ACCRUE_ASSIGN_OR_RETURN(auto generation, w.meta_int("rebuild_generation"));
  ACCRUE_ASSIGN_OR_RETURN(auto rebuilding, w.meta_int("rebuilding"));
  const int64_t mark = generation.value_or(0) + (rebuilding.value_or(0) != 0 ? 0 : 1);
  return apply_changes(w, changes, found.agent_processed_seq(), found.online_applied_event_ids(),
                       now, nullptr, mark);
}

Result<bool> Downloader::step(CloudClient& client, Replica& reader) {
  ACCRUE_TRY(reader.begin_read());
  auto cursor = reader.meta("sync_cursor");
  auto outbox = reader.outbox_stats();
  auto program = reader.latest_program_version();
  reader.end_read();
  if (!cursor) return std::unexpected(cursor.error());
  std::string path = "/v1/sync/changes?max=" + std::to_string(options_.max_changes) +
                     "&agent=" + options_.agent_id;
  // The agent's health rides on every poll, for head office's view of the stores' sync: the
  // outbox depth and its oldest event, the quarantine, the programme version in force.
  if (outbox) {
    path += "&outbox=" + std::to_string(outbox->depth) +
            "&quarantined=" + std::to_string(outbox->quarantined);
    if (outbox->oldest_created_at) {
      path += "&oldest_ms=" + std::to_string(*outbox->oldest_created_at);
    }
  }
  if (program && *program) {
    // Percent-encoded: everything but RFC 3986's unreserved characters.
    path += "&program=" + boost::urls::encode(**program, boost::urls::unreserved_chars);
  }
  // The cursor is opaque and already URL-safe (base64url, as the cloud hands it out).
  if (*cursor && !(*cursor)->empty()) path += "&cursor=" + **cursor;
  retry_after_.reset();
  ACCRUE_ASSIGN_OR_RETURN(auto reply, client.get(path, std::chrono::seconds(30)));
  if (reply.status != 200) {
    retry_after_ = reply.retry_after;
    return fail(ErrorCode::kUnavailable,
                "changes: HTTP " + std::to_string(reply.status) + ": " +
                    reply.body.substr(0, std::min<size_t>(reply.body.find('\n'), 200)));
  }
  sv1::ChangesPage page;
  if (!page.ParseFromString(reply.body)) {
    return fail(ErrorCode::kUnavailable, "changes: the cloud's page does not parse");
  }
  const TimestampMs now = clock_.now_ms();
  bool program_changed = false;
  std::promise<Result<void>> done;
  auto applied = done.get_future();
  WriteJob job;
  job.apply = [&page, now, &program_changed](Replica& w) {
    return apply_changes_page(w, page, now, &program_changed);
  };
  job.done = [&done](Result<void> r) { done.set_value(std::move(r)); };
  if (!writer_.submit(std::move(job))) {
    return fail(ErrorCode::kUnavailable, "the writer's queue is full");
  }
  auto result = applied.get();
  if (!result) {
    log(LogLevel::kError, "changes_page_refused", {{"reason", result.error().message}});
    return std::unexpected(result.error());
  }
  if (program_changed && on_program_) on_program_();
  return page.has_more();
}

}  // namespace accrue::agent
