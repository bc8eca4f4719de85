// The calls to accrue-cloud that a till is waiting for: the lookup of an identifier the replica
// does not know (GET /v1/sync/lookup), the online redemption and coupon use (POST
// /v1/sync/redeem), the return of another store's sale (POST /v1/sync/return) and the reward
// claimed at a till (POST /v1/sync/claim).
//
// They never share the uploader's connection: a 1 MiB batch in flight must not hold a cashier
// up. One thread and one keep-alive connection of their own, a bounded queue, and short
// timeouts (a lookup gives up after 300 ms by default and the till goes on with the provisional
// path). Every accepted call ends in exactly one callback, on this client's thread.
//
// "Online" stays the result of the last round trip: a call that cannot reach the cloud sets the
// service offline (the uploader sets it online again with its next success), so that tills stop
// waiting for a cloud that is not there.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <unordered_map>

#include "agent/core/service.h"
#include "agent/store/group_commit.h"
#include "agent/sync/cloud_client.h"

namespace accrue::agent {

struct OnlineClientOptions {
  std::string agent_id;
  std::chrono::milliseconds lookup_timeout{300};
  std::chrono::milliseconds redeem_timeout{2000};
  // An identifier the cloud did not know is not asked about again for this long.
  std::chrono::milliseconds unknown_ttl{std::chrono::minutes(10)};
  size_t max_unknown = 10000;
  size_t max_queue = 64;
  // How often undecided online redemptions older than any round trip are looked for (and
  // voided: AgentService::void_stale_online_redemptions).
  std::chrono::milliseconds sweep_interval{std::chrono::seconds(10)};
};

class OnlineClient final : public OnlineCalls {
 public:
  OnlineClient(OnlineClientOptions options, std::unique_ptr<CloudClient> client,
               GroupCommitWriter& writer, AgentService& service, const Clock& clock);
  ~OnlineClient() override;  // stop()

  void start();
  // Abandons the call in flight; queued calls end as unavailable. Idempotent.
  void stop();

  bool worth_asking(const IdentifierHash& hash) override;
  bool lookup(const IdentifierHash& hash, std::function<void(LookupOutcome)> done) override;
  bool redeem(const sync::v1::EventEnvelope& event,
              std::function<void(RedeemOutcome)> done) override;
  bool return_sale(const sync::v1::EventEnvelope& event,
                   std::function<void(ReturnOutcome)> done) override;
  bool claim(const sync::v1::EventEnvelope& event, std::function<void(ClaimOutcome)> done) override;

 private:
  struct Call {
    std::optional<IdentifierHash> hash;  // a lookup
    sync::v1::EventEnvelope event;       // or a redemption, a return, a claim
    std::function<void(LookupOutcome)> looked_up;
    std::function<void(RedeemOutcome)> redeemed;
    std::function<void(ReturnOutcome)> returned;
    std::function<void(ClaimOutcome)> claimed;
  };
  bool enqueue(Call call);
  void run(std::stop_token stop);
  void do_lookup(Call& call);
  void do_redeem(Call& call);
  void do_return(Call& call);
  void do_claim(Call& call);
  // POSTs `event` (as a `Request`) to `path` and reads the cloud's `Answer` to it; nullopt, with
  // `why`, when there is none (unreachable, an HTTP error, an answer about another event).
  template <typename Request, typename Answer>
  std::optional<Answer> post_event(const char* path, const char* failure,
                                   const sync::v1::EventEnvelope& event, std::string& why);
  void unreachable(const std::string& why);

  OnlineClientOptions options_;
  std::unique_ptr<CloudClient> client_;
  GroupCommitWriter& writer_;
  AgentService& service_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Call> queue_;
  bool accepting_ = false;  // from start() until stop(): calls are taken
  std::unordered_map<std::string, TimestampMs> unknown_;  // hash bytes -> asked again after
  std::jthread thread_;
};

}  // namespace accrue::agent
