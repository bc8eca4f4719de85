// The parts of ingestion (cloud/sync/ingest.h), in the order a batch goes through them:
//  1. check_batch / check_events: what needs no database (ingest_checks.cpp);
//  2. lock_agent, mark_duplicates, load_state: the agent row locked, events already in the
//     ledger, then a BatchState with the programmes, customers, balances (locked in customer
//     order), open lots and daily-cap figures the new events need (ingest_state.cpp);
//  3. apply_event: one function per event kind, no I/O, each adding to the state's Writes or
//     answering a rejection (ingest_events.cpp);
//  4. write_batch: the gathered rows in a fixed number of set-based statements, COPY with its
//     INSERT fallback (ingest_writer.cpp);
//  5. track_agent_seq: gaps in the agent's seq, and its online events (ingest_writer.cpp).
// Internal to cloud/sync; nothing here is thread-safe (one batch, one thread).
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "accrue/sync/v1/sync.pb.h"
#include "cloud/core/programs.h"
#include "cloud/pg/pg.h"
#include "common/coupon.h"
#include "common/engine/lots.h"
#include "common/engine/returns.h"
#include "common/ledger.h"
#include "common/sealed_contact.h"
#include "common/uuid.h"

namespace accrue::cloud::ingest {

namespace sv1 = accrue::sync::v1;

// Which of the three flows a batch belongs to (see Ingest's three entry points).
enum class Flow {
  kStore,       // a store's upload: seq from 1, gaps recorded
  kOnline,      // one redemption decided by the cloud while the till waits: no seq yet
  kHeadOffice,  // head office and the web shop (HQ, WEB): no seq, deductions covered, a return
                // asking for more than its sale has left refused ("bad_return"), not held
  kReview,      // a held return applied again once its sale is known: the agent's seq untouched
};

struct Rejection {
  std::string code;
  std::string message;
};

// What becomes of each event of the batch: rejected (the first reason found wins), a duplicate,
// or new.
class Verdicts {
 public:
  explicit Verdicts(int n)
      : rejected_(static_cast<size_t>(n)), duplicate_(static_cast<size_t>(n)) {}
  void reject(int i, std::string code, std::string message) {
    auto& r = rejected_[static_cast<size_t>(i)];
    if (!r) r = Rejection{std::move(code), std::move(message)};
  }
  void reject(int i, Rejection r) { reject(i, std::move(r.code), std::move(r.message)); }
  void mark_duplicate(int i) { duplicate_[static_cast<size_t>(i)] = true; }
  const std::optional<Rejection>& rejection(int i) const {
    return rejected_[static_cast<size_t>(i)];
  }
  bool duplicate(int i) const { return duplicate_[static_cast<size_t>(i)]; }
  bool any_duplicate() const { return std::ranges::find(duplicate_, true) != duplicate_.end(); }
  bool is_new(int i) const { return !rejection(i) && !duplicate(i); }
  int size() const { return static_cast<int>(rejected_.size()); }

 private:
  std::vector<std::optional<Rejection>> rejected_;
  std::vector<bool> duplicate_;
};

// Checks of the batch as a whole: its store is the caller, an agent id, at most `max_events`.
Result<void> check_batch(const sv1::EventBatch& batch, std::string_view store_id,
                         size_t max_events);
// Checks of each event that need no database; answers the new event ids (each once) to look for
// in the ledger. An event id twice in the batch is a duplicate from its second time on.
std::vector<std::string> check_events(const sv1::EventBatch& batch, Flow flow, Verdicts& v);

// The agent's row, locked for the whole batch (FOR UPDATE): batches of one agent apply one after
// another. Creates the store and agent rows on first contact.
struct AgentRow {
  int64_t watermark = 0;  // the highest seq of the agent's events processed (column last_seq)
  std::string country;    // the store's, for programmes with rates per country
  std::string time_zone;  // the store's; empty: the programme's
};
Result<AgentRow> lock_agent(pg::Connection& c, const sv1::EventBatch& batch,
                            std::string_view store_id);
// Events already in the ledger (event_id is its primary key) become duplicates, and so do
// returns the cloud has already seen (sale_return: by event id, or by the return's own store,
// till and transaction, whatever event id a retry carries); not in the review flow, which
// applies a held return.
Result<void> mark_duplicates(pg::Connection& c, const sv1::EventBatch& batch,
                             const std::vector<std::string>& ids, Flow flow, Verdicts& v);

struct LotState {
  std::string customer_id;
  Lot lot;
  bool is_new = false;
  bool dirty = false;
};

struct CustomerState {
  std::string customer_id;
  std::string tier_id;
  std::vector<size_t> lots;  // indexes into BatchState::lots, any order
  int64_t points = 0;        // balance.points as locked (before this batch)
};

struct BalanceDelta {
  int64_t points = 0;
  int64_t earned = 0;
  int64_t redeemed = 0;
  TimestampMs last_purchase_ms = 0;
};

// What this batch adds to customer_day: the daily cap's accruals, tier qualification.
struct DayDelta {
  int64_t earned = 0, qualifying_points = 0, spend_minor = 0;
};

// Everything the batch will write, gathered before any of it is written. Rows are JSON objects:
// the fallback statements read them with jsonb_to_recordset, the COPYs encode the same rows.
struct Writes {
  boost::json::array ledger, customers, pii, identifiers, receipts, receipt_reversals,
      receipt_claims, sale_returns, sale_redemptions, feed;
  boost::json::array coupon_events;  // uses and voids, written by write_coupon_events
  boost::json::array reward_claims;  // coupons claimed at tills, written by write_reward_claims
  // Offline redemptions the member's points no longer covered (overdraft table), and what later
  // earnings of members in debt repaid (customer -> points).
  boost::json::array overdrafts;
  std::map<std::string, int64_t> repaid;
  std::map<std::string, BalanceDelta> balances;
  std::map<std::pair<std::string, int64_t>, DayDelta> day_deltas;  // (customer, local day)
  std::set<std::string> touched;  // customers the batch changed: the feed, the cache, the store
};

// A sale returns may name: its member (empty while provisional), the points it has not given
// back yet, and its lines as recorded (absent for sales recorded without them).
struct SaleState {
  std::string customer_id;
  int64_t left = 0;
  std::optional<std::vector<SaleLine>> lines;
  bool lines_changed = false;  // a return of this batch changed them
  int64_t redeemed = 0;        // by the redemptions that paid for it (receipt.redeemed_points)
  int64_t refunded = 0;        // of those, given back by its returns so far
};

// A redemption a sale may name as having paid for it (Accrual.redemption_event_ids).
struct RedemptionState {
  std::string customer_id, store_id;
  int64_t points = 0;
  bool linked = false;  // already paid for a sale
};

// A sale's lines as receipt.lines holds them (JSON), and back; nullopt for anything else.
boost::json::array sale_lines_json(const std::vector<SaleLine>& lines);
std::optional<std::vector<SaleLine>> sale_lines_from_json(std::string_view text);

// A sale as a store names it without its event id: (store, till, POS transaction).
using SaleRef = std::tuple<std::string, std::string, std::string>;

// What the events of one batch read and change, loaded once before the first event is applied.
struct BatchState {
  std::map<std::pair<std::string, uint32_t>, std::shared_ptr<const PublishedProgram>> programs;
  std::vector<LotState> lots;
  std::map<std::string, CustomerState> customers_by_id;
  std::map<std::string, std::string> temp_to_id;        // store temp id -> customer id
  std::map<std::string, std::string> hash_to_customer;  // identifier hash (raw) -> customer id
  // Provisional accruals not yet claimed, by identifier hash: (event id, points, occurred at).
  std::map<std::string, std::vector<std::tuple<std::string, int64_t, TimestampMs>>> unclaimed;
  std::map<std::string, SaleState> sales;              // by the sale's event id
  std::map<SaleRef, std::string> sales_by_ref;         // -> event id
  std::map<std::string, RedemptionState> redemptions;  // by event id
  // Coupon uses new sales name as multiplying their points
  // (Accrual.multiplier_coupon_use_event_id), as the cloud holds them from earlier batches: event
  // id -> (store, reward id), live ones only.
  std::map<std::string, std::pair<std::string, std::string>> multiplier_uses;
  // Coupon ids that new reward claims name and a coupon holds already (lower-case UUID text);
  // the batch's own claims are added as they are applied.
  std::set<std::string> taken_coupon_ids;
  std::map<std::pair<std::string, int64_t>, int64_t> earned_on_day;  // (customer, day) -> points
  Writes out;

  const PublishedProgram& program_of(const sv1::EventEnvelope& e) const {
    return *programs.at({e.program_id(), e.program_version()});
  }
  // A customer by id or by a store's temp id (a merged member's refs lead to the survivor).
  CustomerState* customer(const std::string& ref);
  // The customer an accrual is about: by id, else by identifier hash; nullptr when unknown.
  CustomerState* accrual_customer(const sv1::Accrual& a);
  std::vector<Lot> lots_of(const CustomerState& c) const;
  // Points the customer earned on that store-local day before this event (the daily cap).
  int64_t earned_today(const std::string& customer_id, int64_t day);
  // Available points now: the locked balance, this batch's changes, the open lots.
  int64_t available(const CustomerState& c, TimestampMs now);
  // The sale a return names (by event id, else by store, till and transaction; the returning
  // store's own when the return names no store); its event id in `event_id`. nullptr: unknown.
  SaleState* sale_of(const sv1::EventEnvelope& e, std::string* event_id);
};

// Fills the state for the batch's new events: their programmes in the store's zone (an
// unpublished version rejects the event), customers by id, temp id and identifier hash, unclaimed
// provisional accruals, the sales that returns name, balances locked in customer order (no deadlock
// between concurrent batches), open lots, and the points earned on each (customer, day) a capped
// accrual falls on.
Result<void> load_state(pg::Connection& c, ProgramCatalog& programs, const sv1::EventBatch& batch,
                        const std::string& store_zone, Verdicts& v, BatchState& s);

// What applying an event needs besides the state.
struct EventContext {
  Flow flow = Flow::kStore;
  std::string country;  // the store's
  TimestampMs now_ms = 0;
  std::function<Uuid()> next_id;         // ids for rows the cloud adds (claims, new members)
  std::function<void()> count_mismatch;  // the store's points differed from the cloud's
  int64_t* available_after = nullptr;    // online redemption: the customer's available points after
  // Opens the contact details stores seal at enrolment; null: they are kept sealed.
  const ContactOpener* contact = nullptr;
  std::function<void()> count_unreadable_contact;  // sealed to another key, or tampered with
};

// Applies one new event to the state: its ledger row and everything that follows from it, or the
// reason it is refused (and nothing changed). `index`: its place in the batch.
std::optional<Rejection> apply_event(BatchState& s, const sv1::EventEnvelope& e,
                                     const EventContext& ctx, int index);

// Writes what the state gathered: new members, ledger, lots, receipts (COPY, or INSERTs that
// skip rows another upload wrote), balances, the stores' scope, customer_day, webhooks and the
// change feed.
Result<void> write_batch(pg::Connection& c, BatchState& s, std::string_view store_id);

// Coupon events (ingest_coupons.cpp): a use or a void checked and gathered, no I/O; then, after
// write_batch, each written on its own (they are few): the coupon marked used or given back, a
// double use recorded, the stores told through the change feed, the webhooks queued.
// In the online flow (the till waits for the cloud's word) a coupon spent already is refused
// ("coupon_spent") and nothing of it is written: the answer lists those events by batch index.
std::optional<Rejection> apply_coupon_event(BatchState& s, const sv1::EventEnvelope& e, int index);
// Rewards claimed at tills (ingest_rewards.cpp), after write_batch: each coupon signed with the
// cloud's key and stored, the reward's stock counted (past its stock only for a claim a store
// decided offline: noted in the webhook), `reward.claimed` queued. Without a coupon key the coupon
// is stored with an empty code (head office sees it; the online entry refuses claims then).
Result<void> write_reward_claims(pg::Connection& c, const boost::json::array& rows,
                                 const CouponSigner* signer);

struct CouponWrites {
  std::vector<std::pair<int, Rejection>> refused;  // batch index, why
  uint64_t double_uses = 0;                        // uses of a coupon spent, voided or unknown
};
Result<CouponWrites> write_coupon_events(pg::Connection& c, const boost::json::array& rows,
                                         Flow flow);

// Records jumps past the agent's watermark + 1 as gaps (store flow), the online decisions
// beside the watermark (online flow), and the new watermark; nothing in the review flow.
// Answers the number of gaps.
Result<uint64_t> track_agent_seq(pg::Connection& c, const sv1::EventBatch& batch, const Verdicts& v,
                                 Flow flow, int64_t watermark);

}  // namespace accrue::cloud::ingest
