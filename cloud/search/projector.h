// Keeps the Elasticsearch/OpenSearch read model (elastic.h) up to date from the change feed.
//
// Every write that changes what the search shows (a sale's balance, a profile, a status, an
// erasure, a merge, an import) already writes a change_feed row for its customer in its own
// transaction; the projector reads those rows in the feed's safe order ((xid, id), only from
// transactions finished before the reading snapshot, as the stores' feed does: a transaction
// that commits late is never skipped), loads the named customers as they are now, and sends
// them with one `_bulk`. The cursor moves only after the index accepted the batch, so a crash or
// a cluster outage re-sends, never loses.
//
// Versions. Each batch takes the next `epoch` (a counter in search_projection, incremented
// under its row lock) and then reads the documents, so a higher epoch always carries content
// read later. Documents go out with that epoch as their external version: a replica that
// stalled and sends an old batch late gets 409 (stale) and cannot overwrite newer content.
//
// One replica projects at a time, holding a lease on the search_projection row (renewed each
// batch); the others only measure the lag. A rebuild (first start, an operator's
// `accrue-cloud search rebuild`, or a cursor that fell behind the feed's pruning horizon) fills
// a fresh index from the customer table and moves the alias onto it in one call; the feed is
// then replayed from the rebuild's starting snapshot.
//
// Lag: the age of the oldest change not yet projected (0 when none), measured every tick by
// every replica; /metrics shows it as accrue_search_projection_lag_seconds. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "cloud/pg/pool.h"
#include "cloud/search/elastic.h"

namespace accrue::cloud::search {

struct ProjectorOptions {
  int batch = 500;                       // feed rows per batch (customers per bulk at most)
  std::chrono::milliseconds poll{1000};  // between batches when there was nothing to do
  std::chrono::seconds lease{30};
  std::string owner;  // who holds the lease (replica name); made up when empty
};

struct ProjectorCounters {
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> documents{0};  // indexed or deleted
  std::atomic<uint64_t> stale{0};      // a newer version was indexed already
  std::atomic<uint64_t> failed{0};     // documents the index refused (logged)
  std::atomic<uint64_t> errors{0};     // batches that failed whole (retried)
  std::atomic<uint64_t> rebuilds{0};
  std::atomic<int64_t> lag_ms{0};
};

struct TickOutcome {
  bool leased = false;   // this replica holds the projection
  int rows = 0;          // feed rows consumed
  int documents = 0;     // documents sent
  bool more = false;     // a full batch: go again at once
  bool rebuilt = false;  // a rebuild ran first
};

struct RebuildOutcome {
  std::string index;
  int64_t documents = 0;
  std::chrono::milliseconds took{0};
};

class SearchProjector {
 public:
  SearchProjector(pg::Pool& pool, ElasticClient& client, ProjectorOptions options);
  ~SearchProjector();

  // Starts the background thread (once the schema is in place).
  void start();
  void stop();

  // One step: takes or renews the lease; rebuilds when the projection has never been built or
  // its cursor is behind the feed horizon; else projects one batch. Measures the lag either way.
  Result<TickOutcome> tick();
  // Fills a fresh index and moves the alias onto it, then gives the lease up. While another
  // replica holds the lease, asks it to rebuild instead (its next tick does) and answers
  // nullopt. `progress` (optional) is called after each chunk with the documents so far.
  Result<std::optional<RebuildOutcome>> rebuild(const std::function<void(int64_t)>& progress = {});
  // The age of the oldest change not yet projected; measured by tick() and lag().
  Result<std::chrono::milliseconds> lag();

  const ProjectorCounters& counters() const { return counters_; }
  const std::string& owner() const { return o_.owner; }

 private:
  struct Cursor {
    std::string xid;
    int64_t id = 0;
  };
  struct Lease {
    Cursor cursor;
    std::string index;       // empty: never built
    bool behind = false;     // the feed was pruned past the cursor
    bool requested = false;  // an operator asked for a rebuild
  };
  // nullopt while another replica holds it.
  Result<std::optional<Lease>> take_lease(pg::Connection& c);
  Result<RebuildOutcome> rebuild_leased(pg::Connection& c,
                                        const std::function<void(int64_t)>& progress);
  Result<TickOutcome> project_batch(pg::Connection& c, const Cursor& from);
  // Bumps the epoch (under the row lock) and returns it.
  Result<int64_t> next_epoch(pg::Connection& c);
  Result<std::chrono::milliseconds> lag_on(pg::Connection& c);
  void account(const BulkOutcome& b);
  void run(std::stop_token stop);

  pg::Pool& pool_;
  ElasticClient& client_;
  ProjectorOptions o_;
  ProjectorCounters counters_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;
};

}  // namespace accrue::cloud::search
