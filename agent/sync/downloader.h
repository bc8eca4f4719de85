// Download: pages of the cloud's change feed applied to the replica (docs/architecture.md, Data
// flows: Download; invariant "local events stay on top"). Each page is applied in one SQLite
// transaction through the group-commit writer, with the cursor saved in the same transaction, so a
// crash replays at most the page in flight (applying a page twice is harmless: snapshots replace,
// links are idempotent).
//
// A downloaded balance never hides local events. Every page says up to which seq the cloud had
// processed this agent's events when it read the page's balances (agent_processed_seq = W).
// Applying a member's snapshot replaces its confirmed figures and records W for that member;
// its local view is then rebuilt from its own events after W only: lots of earlier events are
// dropped (the cloud's balance has them), lots of later ones are restored to their full points,
// and later redemptions and returns are replayed against the new confirmed balance and those
// lots. The balance a till sees stays confirmed + local events the cloud has not yet counted.
//
// Not thread-safe: the sync thread calls step().
#pragma once

#include <functional>
#include <set>
#include <string>

#include "accrue/sync/v1/sync.pb.h"
#include "agent/store/group_commit.h"
#include "agent/sync/cloud_client.h"
#include "common/program.h"

namespace accrue::agent {

struct DownloaderOptions {
  std::string agent_id;
  uint32_t max_changes = 500;
};

class Downloader {
 public:
  // `on_program` runs on the sync thread after a page that installed a newer programme
  // commits.
  Downloader(DownloaderOptions options, GroupCommitWriter& writer, std::function<void()> on_program,
             const Clock& clock)
      : options_(std::move(options)),
        writer_(writer),
        on_program_(std::move(on_program)),
        clock_(clock) {}

  // Fetches and applies one page. Returns whether more pages are waiting; kUnavailable when
  // the cloud could not be reached or answered with an error (the caller backs off).
  Result<bool> step(CloudClient& client, Replica& reader);
  // The cloud's Retry-After with the last failed step, if it sent one (the next download waits
  // at least that long).
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

 private:
  DownloaderOptions options_;
  GroupCommitWriter& writer_;
  std::function<void()> on_program_;
  const Clock& clock_;
  std::optional<std::chrono::seconds> retry_after_;
};

// Applies `page` inside the writer's transaction (exposed for tests). Sets *program_changed
// when a newer programme was installed.
Result<void> apply_changes_page(Replica& w, const sync::v1::ChangesPage& page, TimestampMs now,
                                bool* program_changed);
// A member found by GET /v1/sync/lookup joins the replica, as a one-member page would.
Result<void> apply_lookup(Replica& w, const sync::v1::LookupResponse& found, TimestampMs now);
// Rebuilds a member's local view on top of its confirmed balance: see above. Events whose ids
// are in `in_cloud` (16-byte event ids: online redemptions inside the confirmed balance though
// after W) are not replayed.
Result<void> rebase_member(Replica& w, const std::string& customer_id, int64_t watermark,
                           const std::set<std::string>* in_cloud = nullptr);

}  // namespace accrue::agent
