// Applies an agent's batch of events to the system of record, exactly once per event
// (docs/architecture.md, invariant "applied once").
//
// One PostgreSQL transaction per batch, a fixed number of statements whatever its size:
//  1. the agent's row is locked (FOR UPDATE): batches of one agent apply one after another, so a
//     batch posted ten times at once applies once and the others see duplicates;
//  2. events already in the ledger (event_id is its primary key) answer `duplicate`;
//  3. new events are recomputed with the programme version they name (the domain core's engine,
//     the same code the store ran); a difference is kept in ledger.agent_points and the cloud's
//     figure wins;
//  4. ledger rows, balances, lots, receipts and change-feed rows are written with set-based
//     statements (COPY, jsonb_to_recordset), balances locked in customer order;
//  5. members whose qualifying value changed rise to the tier it earns them (cloud/core/tiers.h).
// The parts, one file each, are named in cloud/sync/ingest_parts.h.
// One bad event never fails the batch: it is answered `rejected` with a code and skipped. Only a
// database failure fails the whole batch (kUnavailable: the agent retries the same bytes).
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>

#include "accrue/sync/v1/sync.pb.h"
#include "cloud/core/programs.h"
#include "cloud/pg/pool.h"
#include "common/coupon.h"
#include "common/sealed_contact.h"
#include "common/uuid.h"

namespace accrue::cloud {

struct IngestCounters {
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> duplicate{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> mismatched{0};  // the store's points differed from the cloud's
  // Enrolments whose sealed contact this cloud's key could not open (kept sealed).
  std::atomic<uint64_t> unreadable_contacts{0};
  std::atomic<uint64_t> seq_gaps{0};
  std::atomic<uint64_t> tier_moves{0};  // members the batches moved to another tier
  // Offline redemptions the member's points no longer covered when they arrived, and their
  // uncovered points (docs/offline-exposure.md).
  std::atomic<uint64_t> overdrafts{0};
  std::atomic<uint64_t> overdraft_points{0};
  std::atomic<uint64_t> coupon_double_uses{0};  // uses of a coupon spent, voided or unknown
};

namespace ingest {
struct Writes;
}

class Ingest {
 public:
  Ingest(pg::Pool& pool, ProgramCatalog& programs, const Clock& clock, Random& random,
         size_t max_batch_events)
      : pool_(pool),
        programs_(programs),
        clock_(clock),
        ids_(clock, random),
        max_batch_events_(max_batch_events) {}

  // `store_id` is the authenticated caller; the batch must be its own (kPermissionDenied).
  // kInvalidArgument for a batch that is malformed as a whole (no agent, too many events).
  Result<sync::v1::EventBatchResult> apply(const sync::v1::EventBatch& batch,
                                           std::string_view store_id);

  // POST /v1/sync/redeem: one redemption decided by the cloud, atomically: applied only when the
  // customer's available points (locked for the batch) cover it, else rejected with
  // "insufficient_points" and changing nothing. Idempotent by event_id (a replay answers
  // duplicate). Answers the available points after the decision.
  Result<sync::v1::OnlineRedeemResponse> redeem_online(const sync::v1::OnlineRedeemRequest& request,
                                                       std::string_view store_id);

  // POST /v1/sync/claim: a reward claimed at a till, decided by the cloud while the till waits:
  // the reward's rules (window, tier, segments, her limit, the stock) with her row and the stock
  // row locked, then her points, then the coupon signed and stored, in one transaction. A refusal
  // is REJECTED with the till's message id ("reward_refused": reward.*; "insufficient_points":
  // points.insufficient). Idempotent by event_id: a retry answers DUPLICATE with the same coupon.
  // kUnavailable without a coupon key.
  Result<sync::v1::OnlineClaimResponse> claim_online(const sync::v1::OnlineClaimRequest& request,
                                                     std::string_view store_id);

  // POST /v1/sync/return: a return of a sale made in another store, decided by the cloud while
  // the till waits, from the sale's lines as recorded: never more than the sale has left across
  // all its returns chain-wide (an over-return is rejected "bad_return"). A return of a sale not
  // known yet is held for review (held_for_review; nothing reversed). Idempotent by event_id and
  // by the return's own till transaction.
  Result<sync::v1::OnlineReturnResponse> return_online(const sync::v1::OnlineReturnRequest& request,
                                                       std::string_view store_id);

  // A return held for review (`envelope`: the store's event as it arrived), applied again now:
  // nullopt once applied (or found applied already), else why it is still held. The scheduler's
  // daily `returns` job and head office's retry call it.
  Result<std::optional<std::string>> apply_held_return(const std::string& store_id,
                                                       const std::string& envelope);

  // Events head office makes through its API (adjustments and enrolment bonuses), as one more
  // event source: the virtual store kHeadOfficeStore and its agent kHeadOfficeAgent, no seq
  // (each event is idempotent by its event_id), a deduction only when the customer's available
  // points cover it (else rejected "insufficient_points"). `prepare` runs in the transaction
  // before the events are read (a new member's rows, so her bonus is booked with her); `also`
  // after they are written (the audit row). A failure of either rolls everything back.
  Result<sync::v1::EventBatchResult> apply_head_office(
      const sync::v1::EventBatch& batch,
      std::function<Result<void>(pg::Connection&, const sync::v1::EventBatchResult&)> also = {},
      std::function<Result<void>(pg::Connection&)> prepare = {});
  // The web shop's orders and returns (cloud/hq/orders_api.cpp) come the same way, as the
  // virtual store kWebShopStore: a batch names which of the two it is.
  static constexpr std::string_view kHeadOfficeStore = "HQ";
  static constexpr std::string_view kHeadOfficeAgent = "HQ-api";
  static constexpr std::string_view kWebShopStore = "WEB";
  static constexpr std::string_view kWebShopAgent = "WEB-api";
  // Stores no agent runs in: not in the fleet's views, never given a store token.
  static bool is_virtual_store(std::string_view store_id) {
    return store_id == kHeadOfficeStore || store_id == kWebShopStore;
  }

  const IngestCounters& counters() const { return counters_; }
  // Runs after each committed batch, before apply() returns, with the customers it changed
  // (the cache invalidates them here). Set once, before serving.
  void on_commit(std::function<void(const std::vector<std::string>&)> f) {
    after_commit_ = std::move(f);
  }
  // The key that opens the contact details stores seal at enrolment (auth.contact_key_file);
  // without one they are stored sealed. Set once, before serving.
  void set_contact_opener(ContactOpener opener) {
    contact_ = std::make_unique<ContactOpener>(std::move(opener));
  }
  // Signs the coupons of rewards claimed at tills (auth.coupon_key_file); null: online claims
  // are refused and an uploaded claim's coupon is stored without a code. Set once, before serving.
  void set_coupon_signer(const CouponSigner* signer) { coupons_ = signer; }

 private:
  struct Entry;  // which of the three entry points, and what it adds to the transaction
  void apply_returns_held_for(const sync::v1::EventBatch& batch,
                              const sync::v1::EventBatchResult& result);
  Result<sync::v1::EventBatchResult> apply(const sync::v1::EventBatch& batch,
                                           std::string_view store_id, const Entry& entry);
  Uuid next_id();
  // The member's available points now (-1: no such member).
  Result<int64_t> available_points(const std::string& customer_id);
  Result<void> promote(pg::Connection& c, ingest::Writes& w, TimestampMs now);

  pg::Pool& pool_;
  ProgramCatalog& programs_;
  const Clock& clock_;
  std::mutex ids_mu_;
  UuidV7Generator ids_;
  size_t max_batch_events_;
  IngestCounters counters_;
  std::function<void(const std::vector<std::string>&)> after_commit_;
  std::unique_ptr<ContactOpener> contact_;
  const CouponSigner* coupons_ = nullptr;
};

}  // namespace accrue::cloud
