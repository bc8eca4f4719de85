// The change feed a store downloads: pages of customer snapshots, identifier links, temp-id
// mappings and programme versions in the store's scope (its home customers and the customers it
// has seen in the last `scope_days`).
//
// Never skipping a row committed late: every change_feed row carries its writer's transaction id
// (xid8). A page only delivers rows whose transaction is older than the reading snapshot's xmin,
// i.e. transactions that had finished when the page was read, so no transaction still in flight
// can later commit a row behind the cursor. A long transaction therefore holds the feed back
// (bounded by keeping transactions short; the lag is a metric). Sequence order is never trusted:
// ids from a bigserial are handed out at insert and can commit in any order.
//
// Cursors are opaque to stores (base64url text):
//   b:<xmin at start>:<last customer id>   bootstrap: every customer in scope, by id
//   c:<xmin at start>:<last coupon id>     bootstrap, then: every coupon spent and not expired
//   f:<xid>:<id>                          the feed, after row (xid, id)
// An empty cursor starts a bootstrap (page.reset tells the store to rebuild); so does a cursor
// this version cannot read. Thread-safe.
#pragma once

#include "accrue/sync/v1/sync.pb.h"
#include "cloud/core/programs.h"
#include "cloud/pg/pool.h"
#include "cloud/sync/feed.h"
#include "common/sealed_contact.h"

namespace accrue::cloud {

class ChangeFeed {
 public:
  ChangeFeed(pg::Pool& pool, ProgramCatalog& programs, const Clock& clock, int scope_days)
      : pool_(pool), programs_(programs), clock_(clock), scope_days_(scope_days) {}

  // The public key every page carries (ChangesPage.contact_key). Set once, before serving.
  void set_contact_key(const ContactPublicKey& key) { contact_key_.assign(key.begin(), key.end()); }

  // kInvalidArgument for a cursor that is not one of ours.
  // `agent_id` (optional, one of the store's agents) asks for agent_processed_seq: that
  // agent's highest processed seq, read in the page's snapshot.
  Result<sync::v1::ChangesPage> page(const std::string& store_id, const std::string& cursor,
                                     uint32_t max_changes, const std::string& agent_id = "");
  // GET /v1/sync/lookup: the customer an identifier hash belongs to (found = false when none);
  // the customer joins the store's scope, so later changes reach it through the feed.
  // `agent_id` as for page(): the watermark the snapshot was read at.
  Result<sync::v1::LookupResponse> lookup(const std::string& store_id, const std::string& hash,
                                          const std::string& agent_id = "");

  struct PruneResult {
    int64_t deleted = 0;
    bool skipped = false;  // another prune held the lock
  };
  // Deletes change-feed rows older than `retention`, in batches of `batch` rows (one
  // transaction each, so the table is never locked for long), and moves the feed horizon past
  // them: cursors at or before it get a reset. Only one prune runs at a time (advisory lock).
  static Result<PruneResult> prune(pg::Connection& c, std::chrono::seconds retention,
                                   int batch = 10'000);

 private:
  pg::Pool& pool_;
  ProgramCatalog& programs_;
  const Clock& clock_;
  int scope_days_;
  std::string contact_key_;  // raw, or empty
};

}  // namespace accrue::cloud
