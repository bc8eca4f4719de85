// The store's SQLite replica: opening and migrating the file, and every query the agent runs,
// as prepared statements on one connection. The daemon holds one read-write Replica (used only
// by the group-commit writer thread) and a pool of read-only ones for the I/O threads; WAL lets
// the readers run beside the writer. Not thread-safe: one Replica per thread at a time.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/store/sqlite.h"
#include "common/clock.h"
#include "common/coupon.h"
#include "common/customer.h"
#include "common/engine/lots.h"
#include "common/identifier.h"

namespace accrue::agent {

// customer.status: the shared numbering (common/customer.h); before schema v6 provisional was 3.
inline constexpr int kStatusActive = to_int(CustomerStatus::kActive);
inline constexpr int kStatusBlocked = to_int(CustomerStatus::kBlocked);
inline constexpr int kStatusProvisional = to_int(CustomerStatus::kProvisional);

struct CustomerRow {
  std::string customer_id;
  int status = kStatusActive;
  std::string tier_id;
  std::string display_name;
  std::string home_store_id;
  int64_t confirmed_available = 0;
  int64_t confirmed_pending = 0;
  int64_t confirmed_as_of = 0;
  int64_t qualifying_value = 0;
  int64_t local_debit = 0;
  int birthday_month = 0;
  int birthday_day = 0;
  int64_t enrolled_at = 0;
};

// A till write record (docs/glossary.md): what the agent answered a till's write, kept to answer
// a retry the same way (table receipt, its older name).
struct TillWriteRow {
  int kind = 0;
  std::string fingerprint;
  std::string response;  // serialised accrue.pos.v1.Response
  std::optional<int64_t> seq;
};

struct LedgerRow {
  int64_t seq = 0;
  std::string event_id;  // 16 bytes
  int kind = 0;
  std::string owner;
  int64_t points = 0;
  std::optional<int64_t> amount_minor;
  std::string currency;
  int64_t occurred_at = 0;
  std::string till_id;
  std::string pos_tx_id;
  int64_t program_version = 0;
  bool confirmed = false;
};

// A coupon used at one of this store's tills (the coupon_use table).
struct CouponUseRow {
  int64_t seq = 0;        // the CouponUse's ledger seq
  std::string coupon_id;  // 16 bytes
  TimestampMs expires_at = 0;
  std::optional<int64_t> voided_seq;
  std::optional<int64_t> sale_seq;  // the sale whose points it multiplied
};

// An online redemption waiting for the cloud's answer (the online_redemption table).
struct OnlineRedemptionRow {
  std::string till_id;
  std::string pos_tx_id;
  std::string event_id;  // 16 bytes
  std::string fingerprint;
  std::string owner;
  std::string envelope;  // serialised accrue.sync.v1.EventEnvelope
  int64_t created_at = 0;
};

struct SaleLineRow {
  uint32_t line_no = 0;
  int64_t quantity_milli = 0;
  int64_t points = 0;
  int64_t returned_quantity_milli = 0;
  int64_t points_reversed = 0;
  int64_t amount_minor = 0;  // 0 for lines sold before amounts were kept
};

// What paid for a sale in points: its redemptions' points and what its returns gave back so far.
struct SaleRedeemed {
  int64_t redeemed = 0;
  int64_t refunded = 0;
};

struct OutboxStats {
  int64_t depth = 0;
  std::optional<int64_t> oldest_created_at;
  int64_t quarantined = 0;
};

struct OutboxEntry {
  int64_t seq = 0;
  std::string event_id;  // 16 bytes
  std::string body;      // serialised accrue.sync.v1.EventEnvelope
};

struct QuarantineRow {
  int64_t seq = 0;
  std::string event_id;  // 16 bytes
  std::string body;      // serialised accrue.sync.v1.EventEnvelope
  std::string reject_code;
  std::string message;
  int64_t quarantined_at = 0;
};

// The owner key of ledger rows and lots for an identifier no member has yet.
std::string provisional_owner(const IdentifierHash& hash);

class Replica {
 public:
  // Opens the file, applies pending migrations (refusing a file newer than this binary) and
  // runs PRAGMA quick_check (kDataLoss when damaged). Sets WAL and synchronous=FULL.
  static Result<Replica> open_writer(const std::string& path);
  static Result<Replica> open_reader(const std::string& path);

  static int schema_version();

  // A read transaction around several reads: one consistent snapshot, and one WAL lock cycle
  // instead of one per statement. end_read() is safe to call after a failed begin.
  Result<void> begin_read();
  void end_read();
  // Reads in a snapshot that stays open across requests for as long as nothing has been
  // committed: `generation` counts the commits (ReaderPool). When it still equals the open
  // snapshot's, that snapshot is the latest state and is reused, saving the lock and file-size
  // system calls SQLite makes per read transaction; otherwise the snapshot is renewed.
  Result<void> read_at(uint64_t generation);
  // The generation of the open snapshot (meaningless when none is open).
  uint64_t snapshot_generation() const { return snapshot_generation_; }
  bool in_read() const;

  // Reads
  Result<std::optional<std::string>> customer_for_hash(const IdentifierHash& hash);
  Result<std::optional<CustomerRow>> customer(std::string_view customer_id);
  // The member an identifier hash belongs to, in one lookup.
  Result<std::optional<CustomerRow>> customer_by_hash(const IdentifierHash& hash);
  // The same plus the member's local lots at `now` (available, pending), in one statement: the
  // hot path of validate.
  struct MemberBalance {
    CustomerRow customer;
    int64_t local_available = 0;
    int64_t local_pending = 0;
  };
  Result<std::optional<MemberBalance>> member_balance(const IdentifierHash& hash, TimestampMs now);
  Result<std::vector<Lot>> lots(std::string_view owner);
  Result<std::optional<TillWriteRow>> till_write(std::string_view till_id,
                                                 std::string_view pos_tx_id);
  Result<std::vector<LedgerRow>> transactions(std::string_view owner, int64_t before_seq,
                                              int limit);
  Result<std::vector<SaleLineRow>> sale_lines(int64_t seq);
  Result<std::optional<LedgerRow>> ledger_entry(int64_t seq);
  // The sale a redemption paid for (sale_redemption), if any.
  Result<std::optional<int64_t>> sale_paid_by(int64_t redemption_seq);
  Result<SaleRedeemed> sale_redeemed(int64_t sale_seq);
  Result<OutboxStats> outbox_stats();
  // The oldest pending events after `after_seq`: at most `max_events`, and no more than
  // `max_bytes` of bodies (but always at least one event when any is pending).
  Result<std::vector<QuarantineRow>> quarantine(int64_t after_seq, int limit);
  // `more` (optional) says whether pending events were left out by either limit.
  Result<std::vector<OutboxEntry>> outbox_batch(int64_t after_seq, int max_events, size_t max_bytes,
                                                bool* more = nullptr);
  Result<std::optional<std::string>> meta(std::string_view key);
  // An integer meta value; kDataLoss when the stored text is not an integer.
  Result<std::optional<int64_t>> meta_int(std::string_view key);
  Result<std::optional<std::string>> latest_program_body();
  // "<program_id>:<version>" of the programme in force, or nullopt before the first one.
  Result<std::optional<std::string>> latest_program_version();
  Result<std::pair<int64_t, int64_t>> daily(std::string_view owner,
                                            int64_t day);  // earned, redeemed
  Result<int64_t> offline_outstanding();  // points of offline redemptions not yet confirmed

  // Writes (the writer only, inside a transaction)
  Result<void> set_meta(std::string_view key, std::string_view value);
  Result<void> add_offline_outstanding(int64_t points);
  Result<void> insert_program(std::string_view program_id, int64_t version, std::string_view body,
                              TimestampMs now);
  Result<void> upsert_customer(const CustomerRow& c);
  Result<void> link_identifier(const IdentifierHash& hash, std::string_view customer_id);
  Result<void> add_local_debit(std::string_view customer_id, int64_t points);
  // Appends `row` (its seq is ignored) and returns the seq SQLite assigned: max + 1, so the
  // sequence stays gap-free even when a request's savepoint is rolled back.
  Result<int64_t> insert_ledger(const LedgerRow& row);
  Result<void> insert_outbox(int64_t seq, std::string_view event_id, std::string_view body,
                             TimestampMs now);
  // The cloud took the event (applied, or a duplicate of one it has): out of the outbox, and
  // the ledger row marked confirmed. false when it was no longer in the outbox.
  Result<bool> confirm_uploaded(int64_t seq);
  // The cloud refused the event: from the outbox to the quarantine, with the cloud's reason.
  Result<bool> quarantine_event(int64_t seq, std::string_view code, std::string_view message,
                                TimestampMs now);
  // An operator's decision on a quarantined event: back to the outbox (the same bytes, its
  // original place in the order) or gone. false when `seq` is not quarantined.
  Result<bool> resubmit_quarantined(int64_t seq, TimestampMs now);
  Result<bool> drop_quarantined(int64_t seq);
  Result<void> insert_lot(int64_t seq, std::string_view owner, const Lot& lot);
  Result<void> set_lot_remaining(int64_t seq, int64_t remaining);
  Result<void> insert_till_write(std::string_view till_id, std::string_view pos_tx_id, int kind,
                                 std::string_view fingerprint, std::string_view response,
                                 std::optional<int64_t> seq, TimestampMs now);
  Result<void> insert_sale_line(int64_t seq, const SaleLineRow& line);
  Result<void> add_returned(int64_t seq, uint32_t line_no, int64_t quantity_milli, int64_t points);
  Result<void> link_redemption(int64_t sale_seq, int64_t redemption_seq, int64_t points);
  Result<void> add_refunded(int64_t sale_seq, int64_t points);
  Result<void> add_daily(std::string_view owner, int64_t day, int64_t earned,
                         int64_t redeemed_offline);
  // Downloads (the writer only).
  Result<void> set_ledger_ref(int64_t seq, int64_t ref_seq);
  Result<std::optional<int64_t>> ledger_ref(int64_t seq);
  // The member's local events after `after_seq`, oldest first: under its id or under the
  // provisional owners of its identifiers (sales made before it was known here).
  Result<std::vector<LedgerRow>> member_events_after(std::string_view customer_id,
                                                     int64_t after_seq);
  // The member's watermark (docs/glossary.md): the highest of this agent's seqs that the cloud's
  // balance in the replica includes (column confirmed_through_seq).
  Result<int64_t> watermark(std::string_view customer_id);
  Result<void> set_watermark(std::string_view customer_id, int64_t seq);
  Result<void> set_local_debit(std::string_view customer_id, int64_t points);
  // The lot an event opened (a return's refund the cloud's balance already holds).
  Result<void> remove_lot(int64_t seq, std::string_view owner);
  // Lots opened by events up to `seq` go (the cloud's balance has them); later ones are back to
  // their full points, for the later events to draw from again.
  Result<void> rebase_lots(std::string_view owner, int64_t seq);
  Result<void> remove_customer(std::string_view customer_id);
  // Unlinks every identifier of `customer_id` whose hash (32 raw bytes) is not in `hashes`.
  Result<void> keep_only_identifiers(std::string_view customer_id,
                                     const std::set<std::string>& hashes);
  // A rebuild (the cloud's reset): members confirmed in rebuild `generation` are marked; the
  // sweep removes the others, except members enrolled here and not yet confirmed (provisional)
  // and members with local events the cloud has not confirmed. Returns how many went.
  Result<void> mark_rebuilt(std::string_view customer_id, int64_t generation);
  Result<int64_t> sweep_not_rebuilt(int64_t generation);
  Result<void> relink_identifier(const IdentifierHash& hash, std::string_view customer_id);
  // The member enrolled here as `temp_id` is `customer_id` in the cloud: its identifiers, lots
  // and daily counters move over, its row is renamed (or merged into a row already
  // downloaded), and the temporary id stays an alias for its ledger rows.
  Result<void> map_temporary_id(std::string_view temp_id, std::string_view customer_id);
  // Moves an unknown identifier's lots and daily counters to the member it now belongs to (the
  // ledger is append-only and keeps its rows as written). True when any lot moved.
  Result<bool> reassign_owner(std::string_view from, std::string_view to);

  // Coupons (replica_coupons.cpp). Reads: the cloud's verification keys; whether the change feed
  // said a coupon (16 bytes) was spent elsewhere; its live use here; a use by its ledger seq;
  // how many uses (and reward claims) this store decided without the cloud that uploads have not
  // confirmed yet.
  Result<std::vector<std::pair<uint32_t, CouponPublicKey>>> coupon_keys();
  Result<bool> coupon_spent(std::string_view coupon_id);
  Result<std::optional<int64_t>> live_coupon_use(std::string_view coupon_id);
  Result<std::optional<CouponUseRow>> coupon_use(int64_t seq);
  Result<int64_t> offline_coupons();
  Result<int64_t> offline_claims();
  // Writes (the writer only).
  Result<void> put_coupon_key(uint32_t key_id, const CouponPublicKey& key);
  Result<void> set_coupon_spent(std::string_view coupon_id, TimestampMs expires_at, bool spent);
  Result<void> forget_expired_coupons(TimestampMs now);
  Result<void> clear_spent_coupons();
  Result<void> insert_coupon_use(int64_t seq, std::string_view coupon_id, TimestampMs expires_at);
  Result<void> void_coupon_use(int64_t seq, int64_t voided_seq);
  Result<void> set_coupon_use_sale(int64_t seq, int64_t sale_seq);
  Result<void> add_offline_coupons(int64_t n);
  Result<void> add_offline_claims(int64_t n);

  // Online redemptions in flight (the writer only).
  Result<void> insert_online_redemption(const OnlineRedemptionRow& row);
  Result<std::optional<OnlineRedemptionRow>> online_redemption(std::string_view till_id,
                                                               std::string_view pos_tx_id);
  Result<std::vector<OnlineRedemptionRow>> online_redemptions();
  // When the oldest undecided online redemption was written, if any.
  Result<std::optional<int64_t>> oldest_online_redemption();
  Result<void> delete_online_redemption(std::string_view till_id, std::string_view pos_tx_id);
  // Online decisions in flight, and the members whose confirmed balance already holds one
  // (schema v9, online_in_flight).
  Result<void> mark_in_flight(std::string_view event_id);
  Result<std::set<std::string>> in_flight();
  Result<void> held_in_snapshot(std::string_view event_id, std::string_view customer_id);
  // Ends the flight of `event_id`: the members whose snapshot holds it.
  Result<std::set<std::string>> land_in_flight(std::string_view event_id);
  Result<void> clear_in_flight();

  // Runs one of the transaction-control statements (BEGIN IMMEDIATE, SAVEPOINT job, ...) from a
  // prepared statement kept for the connection: the writer runs several per request.
  Result<void> control(const char* sql);

  sqlite::Db& db() { return db_; }

 private:
  explicit Replica(sqlite::Db db) : db_(std::move(db)) {}
  // The prepared statement for `sql` (a string literal), prepared on first use.
  Result<sqlite::Stmt*> q(const char* sql);

  sqlite::Db db_;
  std::map<const char*, sqlite::Stmt> stmts_;
  uint64_t snapshot_generation_ = 0;
};

}  // namespace accrue::agent
