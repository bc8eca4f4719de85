// The agent's operations: one request of the till API in, one response out. Knows nothing of
// sockets or framing (agent/api/ does that) and nothing of SQL (agent/store/ does that).
//
// Reads run on the calling thread with a pooled read-only connection. Writes (accrue, redeem,
// return, enroll) go to the group-commit writer and are answered only after their transaction
// is durable (invariant "durable before acknowledged", docs/architecture.md); they are idempotent
// by (till_id, pos_tx_id) (invariant "same request, same answer", docs/architecture.md).
//
// Thread-safe: handle() may be called from any number of I/O threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "accrue/pos/v1/pos.pb.h"
#include "accrue/sync/v1/sync.pb.h"
#include "agent/store/group_commit.h"
#include "agent/store/reader_pool.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/program.h"
#include "common/time_zone.h"
#include "common/uuid.h"

namespace accrue::agent {

namespace service_parts {
struct WriteRequest;
struct Fingerprint;
}  // namespace service_parts

struct ServiceSettings {
  std::string store_id;
  std::string agent_id;
  std::string currency = "EUR";  // the store's currency (redemptions by points)
  uint32_t max_deadline_ms = 10000;
  uint32_t default_deadline_ms = 5000;
  uint32_t max_page = 100;
  std::string version = "0.1.0";
};

// The program in force with its resolved time zone. Replaced atomically when a new version
// arrives; requests keep the version they started with.
// What the store runs under: the programme in force, in the store's time zone, and the store's
// country (per-country rates, national phone numbers). Zone and country are the cloud's store
// registry's, from the change feed; before the first sync, the configuration's.
struct ActiveProgram {
  Program program;
  TimeZone zone;
  std::string country;
};

// Who is asking: tills get the till operations; the operator operations (the quarantine) need
// the agent's own user or root on the unix socket (the server checks the peer's credentials).
struct Caller {
  bool operator_rights = false;
};

// The calls to the cloud a till waits for (agent/sync/online_client implements them). Every
// call that returns true ends in exactly one callback, on the implementation's thread; false
// when it could not be queued (no callback then).
class OnlineCalls {
 public:
  virtual ~OnlineCalls() = default;

  enum class LookupOutcome {
    kJoined,       // the cloud knows the member; it is in the replica now
    kNotFound,     // the cloud does not know the identifier either
    kUnavailable,  // no answer in time: go on with what the replica knows
  };
  struct RedeemOutcome {
    bool answered = false;  // the cloud decided: `result` is its answer
    sync::v1::EventResult result;
    int64_t available_points = 0;  // hers in the cloud, with the answer
    std::string why;               // when not answered
  };

  struct ReturnOutcome {
    bool answered = false;  // the cloud decided: `response` is its answer
    sync::v1::OnlineReturnResponse response;
    std::string why;  // when not answered
  };

  struct ClaimOutcome {
    bool answered = false;  // the cloud decided: `response` is its answer
    sync::v1::OnlineClaimResponse response;
    std::string why;  // when not answered
  };

  // Whether to ask about `hash` now (false when the cloud said "unknown" a moment ago).
  virtual bool worth_asking(const IdentifierHash& hash) = 0;
  virtual bool lookup(const IdentifierHash& hash, std::function<void(LookupOutcome)> done) = 0;
  virtual bool redeem(const sync::v1::EventEnvelope& event,
                      std::function<void(RedeemOutcome)> done) = 0;
  // A return of another store's sale (POST /v1/sync/return).
  virtual bool return_sale(const sync::v1::EventEnvelope& event,
                           std::function<void(ReturnOutcome)> done) = 0;
  // A reward claimed at a till (POST /v1/sync/claim).
  virtual bool claim(const sync::v1::EventEnvelope& event,
                     std::function<void(ClaimOutcome)> done) = 0;
};

class AgentService {
 public:
  using Reply = std::function<void(pos::v1::Response)>;

  AgentService(ServiceSettings settings, ReaderPool& readers, GroupCommitWriter& writer,
               IdentifierHasher hasher, const Clock& clock, Random& random);

  void set_program(std::shared_ptr<const ActiveProgram> program);
  // Set once, before requests arrive (null: no cloud, every redemption is decided here).
  void set_online_calls(OnlineCalls* calls) { calls_ = calls; }
  // Voids the online redemptions a stop left undecided (their outcome in the cloud is unknown):
  // run once at start, before requests arrive. Returns how many.
  Result<int> recover_online_redemptions();
  // Voids the online redemptions left undecided for longer than any round trip can take (the
  // till never came back for them); the online client calls it every few seconds. Reads first,
  // and writes only when there is one. Returns how many.
  Result<int> void_stale_online_redemptions();
  // Whether the last round-trip to the cloud succeeded; the sync client sets it.
  void set_online(bool online) { online_.store(online); }
  // When the replica last synced with the cloud (Unix ms, 0 = never); shown with every validate.
  void set_last_sync(TimestampMs at) { last_sync_ms_.store(at); }
  // The cap on a request's deadline (SIGHUP); requests already running keep theirs.
  void set_max_deadline_ms(uint32_t ms) { max_deadline_ms_.store(ms); }
  std::shared_ptr<const ActiveProgram> program() const;

  // Answers `request` by calling `reply` exactly once, on this thread (reads, errors) or on the
  // writer thread (writes, after commit).
  void handle(const pos::v1::Request& request, Reply reply, Caller caller = {});

  // A response carrying only an error, for callers that fail before handle() (bad framing).
  static pos::v1::Response error_response(std::string_view request_id, const Error& error);

 private:
  // The parts, one file each (agent/core/service_parts.h).
  struct Context;
  struct WriteTxn;
  struct Reads;
  struct Coupons;
  // `may_ask`: an identifier the replica does not know may be looked up in the cloud first.
  void handle_read(const pos::v1::Request& request, Reply& reply, bool may_ask = true);
  void handle_write(const pos::v1::Request& request, const Reply& reply, bool may_ask = true);
  // handle_write's part in the writer's transaction.
  Result<void> apply_write(Replica& r, Context& ctx, const pos::v1::Request& req,
                           const service_parts::WriteRequest& w, pos::v1::Response& out);
  Result<void> settle_pending_intent(Replica& r, const pos::v1::Request& req,
                                     const std::string& pos_tx_id,
                                     const service_parts::Fingerprint& print, TimestampMs now);
  // An online write (redemption, coupon use, another store's return, reward claim), after its
  // intent is durable: `ask` puts it to the cloud, then `settle` records the answer (or its
  // absence) in a writer job (settle_online). writes.cpp.
  template <typename Outcome>
  void online_write(
      const pos::v1::Request& request, const Reply& reply, const service_parts::WriteRequest& w,
      const std::shared_ptr<sync::v1::EventEnvelope>& event,
      bool (OnlineCalls::*ask)(const sync::v1::EventEnvelope&, std::function<void(Outcome)>),
      Result<void> (WriteTxn::*settle)(const sync::v1::EventEnvelope&, const Outcome&));
  // Step 2 of an online write, with the cloud's answer in `settle`: in a writer job, unless a
  // retry was answered meanwhile (that answer stands); then the till write is recorded (not
  // for a refusal) and `reply` called.
  void settle_online(const pos::v1::Request& request, const Reply& reply, int kind,
                     const std::string& pos_tx_id, const service_parts::Fingerprint& print,
                     std::function<Result<void>(WriteTxn&)> settle);
  bool worth_asking(const IdentifierHash& hash) const;
  // Looks `hash` up, then calls `then` (on the lookup's thread) whatever the outcome.
  bool ask_cloud(const std::optional<IdentifierHash>& hash, std::function<void()> then);
  void handle_quarantine_action(const pos::v1::Request& request, Reply reply);

  ServiceSettings settings_;
  ReaderPool& readers_;
  GroupCommitWriter& writer_;
  IdentifierHasher hasher_;
  const Clock& clock_;
  Random& random_;
  UuidV7Generator event_ids_;  // used on the writer thread only
  // The reward claims asked of the cloud whose answer is not settled yet (event ids; writer
  // thread only): a retry of one waits, a retry after "no answer" asks again.
  std::set<std::string> claims_asked_;
  std::atomic<std::shared_ptr<const ActiveProgram>> program_;
  OnlineCalls* calls_ = nullptr;
  std::atomic<bool> online_{false};
  std::atomic<TimestampMs> last_sync_ms_{0};
  std::atomic<uint32_t> max_deadline_ms_;  // settings_.max_deadline_ms, changeable at run time
};

}  // namespace accrue::agent
