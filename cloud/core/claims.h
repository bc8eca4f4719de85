// Provisional points find their owner however her card was registered (docs/lifecycle.md,
// "Provisional points"). A till that does not know a card still books the sale's points, against
// the card's keyed hash and nobody's balance. They become a member's through a claim (sync.proto,
// Claim), applied by ingestion like any head-office event:
//   - a till enrolment claims them in its own event;
//   - head office's create and add-identifier send a claim in the same transaction;
//   - an import of members with cards claims after each committed batch;
//   - the scheduler's daily `claims` sweep claims whatever is left (a claim a crash cut off, an
//     accrual uploaded while its card was being registered).
// A claimed accrual is never claimed again: claims of the same identifier are serialised by its
// row lock in ingestion.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cloud/core/programs.h"
#include "cloud/sync/ingest.h"

namespace accrue::cloud {

struct ClaimReport {
  int64_t members = 0;  // members with something to claim
  int64_t claimed = 0;  // their claim events ingestion applied
  int64_t refused = 0;  // claim events ingestion rejected (reported, not retried)
};

struct ClaimOptions {
  const PublishedProgram& program;  // the programme in force
  TimestampMs now = 0;
  std::function<std::string()> next_id;  // a fresh UUIDv7 per event
  std::string actor;                     // "hq:<subject>", "import:<job>", "scheduler"
  // Only these members (an import's batch); empty: every member (the daily sweep).
  std::vector<std::string> customers;
  // Between rounds (the scheduler renews its lease here).
  std::function<Result<void>()> between_rounds;
};

// Claims for every member in scope who owns an identifier with unclaimed provisional accruals.
Result<ClaimReport> claim_unclaimed(pg::Connection& c, Ingest& ingest, const ClaimOptions& o);

// The claims of members an import batch just wrote (`customers`), under the programme in force,
// on a connection of `pool`. Thread-safe (the import's writers call it in parallel).
Result<ClaimReport> claim_after_import(pg::Pool& pool, ProgramCatalog& programs, Ingest& ingest,
                                       const std::vector<std::string>& customers,
                                       const std::string& actor);

}  // namespace accrue::cloud
