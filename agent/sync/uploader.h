// Upload: drains the outbox to accrue-cloud, oldest first, in bounded batches
// (docs/architecture.md, Data flows: Upload; invariants "applied once" and "one bad event never
// blocks the queue").
//
//   - Continuous while anything is pending: the next batch goes as soon as the previous one is
//     answered; an idle uploader wakes on every commit (notify()) and polls as a backstop, so the
//     queue never waits for the next local write.
//   - A batch is built once and its exact bytes are re-sent on every retry until the cloud
//     answers it (the cloud applies each event once by event_id either way).
//   - Failures (no route, TLS, timeout, 5xx, 429) retry by timer with exponential backoff and
//     full jitter, never sooner than a Retry-After; a 413 halves the batch.
//   - Per-event results: applied and duplicate leave the outbox and mark the ledger row
//     confirmed; rejected go to the quarantine with the cloud's code; the queue moves on.
//   - "Online" is the result of the last round trip, published to the service with the time of
//     the last success (also kept in the replica's meta).
//
// The uploader reads the outbox on its own read-only connection and writes through the
// group-commit writer, like every other write.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "accrue/sync/v1/sync.pb.h"
#include "agent/core/service.h"
#include "agent/store/group_commit.h"
#include "agent/sync/cloud_client.h"
#include "agent/sync/downloader.h"

namespace accrue::agent {

struct UploaderOptions {
  std::string database_path;
  std::string store_id;
  std::string agent_id;
  int max_events = 1000;
  size_t max_bytes = 1u << 20;
  std::chrono::milliseconds idle_poll{1000};
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_max{60000};
  // How often the change feed is read while nothing else happens (at once again while the
  // cloud says more pages are waiting).
  std::chrono::milliseconds download_interval{5000};
  // While a backlog drains (the last batch was full), the change feed is read at most this
  // often: it would mostly bring back the balances of the members in the batches just sent,
  // changing again with the next ones. Measured on 100k queued events: pages of those echoes
  // took 7.3 s of a 22 s drain with the 5 s interval.
  std::chrono::milliseconds backlog_download_interval{30000};
  // The sync thread's nice value (Linux: per thread). Building, compressing and settling
  // 1000-event batches yields the CPU to the tills' socket threads: in the backlog benchmark
  // (agent and till on one core, the cloud elsewhere) validate p99 during the drain fell from
  // 1.2-1.7 ms at nice 0 to 0.40-0.43 ms at nice 10, and the drain did not slow (11-12 s).
  int nice = 10;
};

struct UploaderStats {
  uint64_t batches = 0;  // answered by the cloud with per-event results
  uint64_t applied = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t failures = 0;  // round trips that failed (transport or HTTP status)
  uint64_t pages = 0;     // change-feed pages applied
};

class Uploader {
 public:
  // `downloader` (optional) runs on the same thread, between upload batches: one connection,
  // one view of "online".
  Uploader(UploaderOptions options, std::unique_ptr<CloudClient> client, GroupCommitWriter& writer,
           AgentService& service, const Clock& clock, Random& random,
           std::unique_ptr<Downloader> downloader = nullptr);
  ~Uploader();  // stop()

  Result<void> start();
  // Something was committed: look at the outbox now rather than at the next poll.
  void notify();
  // Abandons the request in flight (within ~100 ms) and joins the thread. Idempotent.
  void stop();

  UploaderStats stats() const;

 private:
  struct Batch {
    std::string bytes;                // the serialised EventBatch, sent as is on every retry
    std::vector<int64_t> seqs;        // outbox seqs, in batch order
    std::vector<std::string> bodies;  // the envelopes (for per-event bookkeeping)
    bool more = false;                // more events were pending behind it
  };
  void run(std::stop_token stop);
  Result<std::optional<Batch>> next_batch(Replica& reader);
  // true when the batch is settled (its results are durable); false to retry it.
  bool send(const Batch& batch, std::chrono::milliseconds& wait);
  // Change-feed pages while one is due. A failure only puts the next download off (by the
  // backoff): it never holds uploads back.
  // `backlog`: the batch about to go is part of a backlog (backlog_download_interval applies).
  void maybe_download(Replica& reader, bool backlog);
  Result<void> settle(const Batch& batch, const sync::v1::EventBatchResult& results);
  void set_online(bool online, const std::string& why);
  std::chrono::milliseconds backoff(std::optional<std::chrono::seconds> retry_after);
  void wait_for(std::chrono::milliseconds d, bool kickable);

  UploaderOptions options_;
  std::unique_ptr<CloudClient> client_;
  std::unique_ptr<Downloader> downloader_;
  GroupCommitWriter& writer_;
  AgentService& service_;
  const Clock& clock_;
  Random& random_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::stop_token stop_;  // the worker's own, for its waits (set as run() begins)
  bool kicked_ = false;
  UploaderStats stats_;
  int attempt_ = 0;
  int max_events_ = 0;
  std::optional<bool> online_;
  std::chrono::steady_clock::time_point next_download_{};
  std::chrono::steady_clock::time_point last_download_{};  // the last read of the feed began
  bool more_before_ = false;  // events were pending behind the previous batch
  std::jthread thread_;
};

}  // namespace accrue::agent
