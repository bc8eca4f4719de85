// The parts of AgentService (agent/core/service.h), one file each:
//   service.cpp     construction, the checks every request gets, dispatch to the parts
//   members.cpp     member resolution: an identifier from the till -> a member, or one the
//                   replica does not know (which a write may ask the cloud about first)
//   reads.cpp       the read operations, one function each
//   writes.cpp      the write transaction: idempotency, accrue, return, enrol
//   redemption.cpp  redemption: the offline limits, online redemption (intent, ask, settle)
//                   and the voids of redemptions whose outcome is unknown
//   coupons.cpp     coupons: check, apply, void
//   claims.cpp      rewards claimed at the till
//   quarantine.cpp  the operator's quarantine commands
// Internal to agent/core.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accrue/pos/v1/pos.pb.h"
#include "accrue/sync/v1/sync.pb.h"
#include "agent/core/service.h"
#include "agent/store/replica.h"
#include "common/civil_time.h"
#include "common/coupon.h"
#include "common/engine/basket.h"
#include "common/engine/lots.h"
#include "common/engine/redemption.h"
#include "common/engine/tiers.h"
#include "common/money.h"
#include "common/sealed_contact.h"

namespace accrue::agent {

namespace service_parts {

namespace pb = accrue::pos::v1;
namespace sync = accrue::sync::v1;

// Points expiring within this horizon are shown as "expiring".
inline constexpr int64_t kExpiringHorizonMs = 30 * kMsPerDay;
// An online redemption left undecided this long (an answer lost inside the agent) is voided
// when its till transaction comes again, or by the running agent's sweep.
inline constexpr TimestampMs kStaleOnlineRedemptionMs = 60'000;

Error invalid(std::string message);
// A till-supplied id: at most 64 characters, no control characters.
Result<void> check_id(std::string_view field, std::string_view v, bool required);
// What makes a retry of a write "the same request" (proto/README.md, Idempotency): SHA-256 of
// the operation's bytes with every identifier in it as the agent understands it (the normalised
// value, no entry mode), so a card scanned and then keyed with spaces is the same sale. The
// cashier, request id and deadline are outside the operation, so they never count. `legacy`
// hashes the bytes as sent, as replicas recorded before identifiers were normalised: a recorded
// print that matches either is the same request.
// The kind of a till identifier the agent normalises and hashes; none for a customer id.
std::optional<IdentifierKind> hashed_kind(pos::v1::IdentifierKind kind);
struct Fingerprint {
  std::string current;  // what is recorded now
  std::string legacy;
  bool matches(std::string_view recorded) const {
    return recorded == current || recorded == legacy;
  }
};
Fingerprint fingerprint(const google::protobuf::Message& op, std::string_view country);
std::string uuid_bytes(const Uuid& u);
std::string event_id_text(std::string_view bytes);

struct Balance {
  int64_t available = 0;
  int64_t pending = 0;
  int64_t expiring = 0;
  TimestampMs expiring_at = kNeverExpires;
};

// Invariant "local events stay on top" (docs/architecture.md): what the till sees is the
// cloud-confirmed balance plus local events not yet confirmed (local lots, minus what was spent
// locally beyond them).
Balance balance_of(const CustomerRow* c, const std::vector<Lot>& lots, TimestampMs now);

// An identifier from the till, resolved against the replica.
struct Member {
  std::optional<CustomerRow> customer;
  std::string owner;                   // customer_id or provisional owner key
  std::optional<IdentifierHash> hash;  // absent when identified by customer id
  std::optional<IdentifierKind> kind;  // likewise
};

pb::MemberStatus member_status(const Member& m);
// The identifier hash inside a provisional owner key ("h:<64 hex digits>").
std::optional<IdentifierHash> hash_of_provisional_owner(std::string_view owner);
std::string tier_name(const Program& p, std::string_view tier_id);

// A write request as checked before it takes a writer slot (no replica needed; writes.cpp).
struct WriteRequest {
  std::string pos_tx_id;
  int kind = 0;                  // the TransactionKind its receipt records
  Fingerprint print;             // what a retry must repeat
  std::optional<Basket> basket;  // accrue: the basket, its time defaulted to the arrival
};

// Appends an event the agent makes on its own (a void, not a till's write): its ledger row, then
// its outbox row under the seq SQLite gave the ledger row (redemption.cpp).
Result<void> append_event(Replica& r, const LedgerRow& row, sync::EventEnvelope env,
                          TimestampMs now);
// Voids an online redemption whose outcome in the cloud is unknown (redemption.cpp).
Result<void> void_online_redemption(Replica& r, const std::string& agent_id,
                                    const sync::EventEnvelope& sent, const std::string& owner,
                                    const Uuid& adjustment_id, TimestampMs now,
                                    std::string_view why);
// Gives back a coupon whose online use has an unknown outcome in the cloud: the use is uploaded
// as sent, then a CouponUseVoid of it (the coupon ends usable either way; coupons.cpp).
Result<void> void_online_coupon(Replica& r, const sync::EventEnvelope& sent,
                                const std::string& owner, const Uuid& void_id, TimestampMs now);
// Gives up on an online reward claim whose answer never reached the till: the claim is uploaded
// marked abandoned (the cloud keeps it if it booked it, else books nothing; claims.cpp).
Result<void> abandon_online_claim(Replica& r, const sync::EventEnvelope& sent,
                                  const std::string& owner, TimestampMs now);
// The same for an intent the replica kept (online_redemption: a redemption, a coupon use or a
// reward claim), which it then removes.
Result<void> void_intent(Replica& r, const std::string& agent_id, const OnlineRedemptionRow& row,
                         const Uuid& adjustment_id, TimestampMs now, std::string_view why);

}  // namespace service_parts

// One request's view: the programme it started with, its clock and deadline, and what member
// resolution found out (members.cpp).
struct AgentService::Context {
  Context(const AgentService& s, std::shared_ptr<const ActiveProgram> p, TimestampMs at,
          TimestampMs until)
      : service(s), active(std::move(p)), now(at), deadline(until) {}

  const AgentService& service;
  std::shared_ptr<const ActiveProgram> active;
  TimestampMs now;
  TimestampMs deadline;
  // An identifier the replica did not know (the last one resolved): a read may ask the cloud
  // about it and answer again.
  std::optional<IdentifierHash> unknown;
  // Whether a write may stop to ask the cloud about an unknown identifier first.
  bool may_ask = false;
  // The outcome "ask the cloud first": the identifier a write stopped for (it rolled back;
  // handle_write looks the identifier up, then runs the request again).
  std::optional<IdentifierHash> ask_first_about;
  // The online redemption whose intent this write recorded, or the return of another store's
  // sale to send (handle_write asks the cloud).
  std::shared_ptr<service_parts::sync::EventEnvelope> online_event;

  const Program& program() const { return active->program; }
  const TimeZone& zone() const { return active->zone; }
  // The store's country (per-country rates, national phone numbers): the registry's.
  const std::string& country() const { return active->country; }
  int64_t local_day(TimestampMs t) const { return day_of_ms(zone().to_local_ms(t)); }
  // "Online" is the result of the last round trip to the cloud (set by the sync client).
  bool online() const;

  Result<NormalizedIdentifier> normalize(const service_parts::pb::Identifier& id) const;
  // The member an identifier names; an identifier nobody here has is a provisional owner, and
  // is remembered in `unknown`.
  Result<service_parts::Member> resolve(Replica& r, const service_parts::pb::Identifier& id);
  // For a write: the identifier is unknown here and the cloud is worth asking first. Records
  // the outcome in `ask_first_about`; the write then stops (rolled back).
  bool ask_first(const service_parts::Member& m);
  Result<service_parts::Balance> balance(Replica& r, const service_parts::Member& m) const;
  service_parts::pb::ValidateResult make_validate(const service_parts::Member& m,
                                                  const service_parts::Balance& b) const;
  Result<service_parts::pb::ValidateResult> validate_result(Replica& r,
                                                            const service_parts::Member& m) const;
  // The tier this store shows for a member (Profile, AccrueResult): the cloud's qualifying value
  // plus her events here that the cloud has not confirmed yet (store_tier_view: a tier reached
  // shows, a downgrade never does). No view for an unknown identifier.
  Result<StoreTierView> tier_view(Replica& r, const service_parts::Member& m) const;
  // The largest redemption she can make at this till now (Profile.redeemable): her `available`
  // points in the store's currency at her tier's rate; offline, also within the programme's
  // offline limits per redemption and per member and day. nullopt when nothing.
  Result<std::optional<RedemptionOffer>> redemption_offer(Replica& r,
                                                          const service_parts::Member& m,
                                                          Points available) const;
  // Validate without a read transaction: a member is one statement (member, identifier and
  // local lot sums); an unknown identifier is one more for its provisional lots. nullopt for a
  // customer id, which the general path resolves. The identifier is hashed once either way.
  Result<std::optional<service_parts::pb::ValidateResult>> validate_by_identifier(
      Replica& r, const service_parts::pb::Identifier& id);
  // The envelope every outbox event shares; record() fills in seq.
  service_parts::sync::EventEnvelope envelope(const Uuid& event_id, TimestampMs occurred_at) const;
};

// One write request inside the group-commit transaction: the request's own changes, applied by
// the writer thread. Every method either applies all of its changes or returns an error (the
// writer then rolls back to the request's savepoint). writes.cpp and redemption.cpp.
struct AgentService::WriteTxn {
  AgentService& service;
  Replica& r;
  Context& ctx;
  const service_parts::pb::Request& req;
  const std::string& pos_tx_id;
  TimestampMs now;
  service_parts::pb::Response& out;
  std::optional<int64_t> event_seq;  // the ledger seq of the event this request made
  bool refused = false;              // `out` holds a refusal that still commits (online redeem)

  const Program& program() const { return ctx.program(); }

  // Ledger row, then outbox row carrying the same seq: SQLite assigns seq as max + 1 inside the
  // transaction, so a rolled-back request leaves no gap (the upload order is gap-free).
  Result<int64_t> record(const Uuid& id, int k, const std::string& owner, int64_t points,
                         std::optional<Money> amount, TimestampMs at,
                         service_parts::sync::EventEnvelope& env);
  Result<void> accrue(const Basket& basket);
  // The redemptions the accrual names as having paid for its basket (redemption_pos_tx_ids).
  Result<std::vector<LedgerRow>> redemptions_paying(const service_parts::Member& m);
  // The points-multiplier coupon among those the accrual names (coupon_pos_tx_ids), if any.
  struct CouponMultiplier {
    int64_t use_seq = 0;
    std::string use_event_id;  // 16 bytes
    int64_t bp = 0;
  };
  Result<std::optional<CouponMultiplier>> coupon_multiplier(const service_parts::Member& m);
  Result<void> return_sale();
  Result<void> credit_refund(int64_t seq, const std::string& owner, int64_t points);
  // A return of a sale this replica does not hold: online, ctx.online_event carries it to the
  // cloud; offline it is recorded as pending.
  Result<void> return_elsewhere();
  // Records such a return with the cloud's answer (none: pending, nothing reversed here).
  // `in_snapshot`: the member's confirmed balance already holds it (online_in_flight), so her
  // balance here does not move again.
  Result<void> record_return_elsewhere(
      service_parts::sync::EventEnvelope env,
      const std::optional<service_parts::sync::OnlineReturnResponse>& answer,
      bool in_snapshot = false);
  // With the cloud's answer or its absence; a refusal is an answer (`refused`), not an error.
  Result<void> settle_online_return(const service_parts::sync::EventEnvelope& event,
                                    const OnlineCalls::ReturnOutcome& outcome);
  Result<void> enroll();
  // Coupons (coupons.cpp): applied to a sale, or that use voided. A use is planned (the checks,
  // the effect, the event), then recorded: decided here (`offline`: within the store's bound of
  // unconfirmed uses), or by the cloud while the till waits (intent, ask, settle, like an
  // online redemption).
  struct CouponPlan {
    Uuid id;
    service_parts::sync::EventEnvelope env;
    std::string owner;   // the member's, or empty for a bearer coupon used without one
    std::string raw_id;  // the coupon id's 16 bytes
    service_parts::pb::CouponCheck check;
  };
  Result<CouponPlan> plan_coupon(bool offline, bool decided_by_cloud);
  Result<void> record_coupon_use(CouponPlan& plan, bool offline);
  Result<void> apply_coupon();
  Result<void> prepare_online_coupon(const std::string& fingerprint);
  Result<void> settle_online_coupon(const service_parts::sync::EventEnvelope& event,
                                    const OnlineCalls::RedeemOutcome& outcome);
  Result<void> void_coupon();
  // `contact` sealed to the cloud's key (meta contact_key, from the change feed); nullopt when
  // there is nothing to seal or the cloud has given no key yet.
  Result<std::optional<std::string>> seal_for_cloud(const ContactDetails& contact);

  // Rewards claimed at the till (claims.cpp): planned (the checks, the coupon, the event), then
  // recorded: decided here (`offline`: an offline-claimable reward within the store's budget),
  // or by the cloud while the till waits (intent, ask, settle). A gift is handed over at once:
  // the claim records a use of its coupon.
  struct ClaimPlan {
    service_parts::Member m;
    const Reward* reward = nullptr;
    std::vector<Lot> lots;
    Uuid id;
    service_parts::sync::EventEnvelope env;  // body: reward_claim
  };
  // `decided_by_cloud`: the cloud has booked it, so nothing is judged here again.
  Result<ClaimPlan> plan_claim(bool offline, bool decided_by_cloud);
  // `answer`: the cloud's (none: decided here). `in_snapshot` as for apply_redeem.
  Result<void> record_claim(ClaimPlan& plan, const service_parts::sync::OnlineClaimResponse* answer,
                            bool in_snapshot);
  Result<void> claim_reward();  // decided here: offline, or without a cloud to ask
  // ClaimReward. `online`: step 1, the intent made durable and ctx.online_event set (or, for a
  // retry after "no answer", the same claim asked again). Offline, such a retry is decided by
  // the offline rules under the claim's event id, or waits for the cloud.
  Result<void> claim(const std::string& fingerprint, bool online);
  Result<void> settle_online_claim(const service_parts::sync::EventEnvelope& event,
                                   const OnlineCalls::ClaimOutcome& outcome);

  // Points spent offline (a redemption, a claim's cost): the programme's offline limits decide
  // first, then the spend counts against them.
  Result<void> offline_points_allowed(const std::string& owner, int64_t points);
  Result<void> count_offline_points(const std::string& owner, int64_t points);
  // Spends `points` of hers: the confirmed (older) points first, then her lots here first in,
  // first out. `decided_by_cloud`: what this replica does not cover becomes a debit on her
  // confirmed balance instead of a refusal. `in_snapshot`: her confirmed balance holds it already.
  Result<void> spend(const CustomerRow& c, const std::vector<Lot>& lots, int64_t points,
                     bool decided_by_cloud, bool in_snapshot);

  // A redemption decided, before anything is written: who, how many points, for what value.
  struct RedeemPlan {
    service_parts::Member m;
    int64_t points = 0;
    Money value;
    std::vector<Lot> lots;
  };
  // `check_available`: refuse what the member's balance here does not cover (every path but
  // the recording of a redemption the cloud has already applied).
  Result<RedeemPlan> plan_redeem(bool check_available);
  // Records the planned redemption as event `id`. Offline, the programme's offline limits
  // decide first (a refusal writes nothing). `decided_by_cloud`: the cloud has applied it, so
  // what the replica does not cover becomes a debit on the confirmed balance instead of a
  // refusal (the next snapshot settles it). `in_snapshot`: the member's confirmed balance
  // already holds it (a snapshot that came down while the till waited), so it draws nothing here.
  Result<void> apply_redeem(RedeemPlan& plan, const Uuid& id, TimestampMs at, bool online,
                            bool decided_by_cloud, bool in_snapshot = false);
  // Decided here: offline (the programme's offline limits), or online without a cloud to ask.
  Result<void> redeem();
  // Online, step 1: the redemption is planned and its intent made durable before the cloud is
  // asked (ctx.online_event carries what to send).
  Result<void> prepare_online_redeem(const std::string& fingerprint);
  // Online, step 2, with the cloud's answer (or its absence). Refusals are answers here, not
  // errors: the intent's removal must commit either way.
  Result<void> settle_online_redeem(const service_parts::sync::EventEnvelope& event,
                                    const OnlineCalls::RedeemOutcome& outcome);
};

// Coupons at the till (coupons.cpp): the checks a coupon meets here, shared by CheckCoupon (a
// read) and ApplyCoupon (a write).
struct AgentService::Coupons {
  // What the checks found: the coupon, its reward, and the member at the till (when given).
  struct Found {
    CouponClaims claims;
    const Reward* reward = nullptr;
    std::optional<service_parts::Member> member;
    std::string raw_id;  // the coupon id's 16 bytes
  };
  // The coupon `code` names, when it may be used here now by the member `identifier` names
  // (none: UNSPECIFIED kind). Refusals for the cashier (proto/README.md): coupon.malformed,
  // coupon.unknown_key, coupon.forged, coupon.expired, coupon.spent, coupon.used_here,
  // coupon.reward_unknown, coupon.member_needed, coupon.other_member, coupon.member_blocked.
  // `decided_by_cloud`: the cloud has applied this use, so the feed saying "spent" (of this very
  // use) does not refuse it.
  static Result<Found> find(Context& ctx, Replica& r, std::string_view code,
                            const service_parts::pb::Identifier& identifier, TimestampMs now,
                            bool decided_by_cloud);
  // The check as the till reads it, with the effect on `basket` when there is one.
  static Result<service_parts::pb::CouponCheck> describe(const Found& f, const Basket* basket);
  // CheckCoupon.
  static Result<service_parts::pb::CouponCheck> check(Context& ctx, Replica& r,
                                                      const service_parts::pb::Request& request);
  // ListRewards: the catalogue in force as it stands for the member. Refusals:
  // reward.member_unknown (kNotFound), reward.member_blocked.
  static Result<service_parts::pb::RewardList> rewards(Context& ctx, Replica& r,
                                                       const service_parts::pb::Request& request);
};

}  // namespace accrue::agent
