// The points expiry run: lots whose expiry has passed give up what remains in them, as ledger
// entries (kind 6, one per customer and run), so every balance keeps equal to its ledger and
// lifetime_expired counts them. Customers are taken in batches, each in one transaction that
// locks their balance rows in customer order first, as ingestion does (no deadlock with it, and
// no lot changes under it). Idempotent: a lot expires once; running it twice changes nothing
// the second time. "Now" is `clock`'s. The scheduler's daily `expiry` job runs it;
// `accrue-cloud expire` runs it to the end and POST /v1/points/expiry-runs for a bounded time.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cloud/pg/pg.h"
#include "common/clock.h"

namespace accrue::cloud {

struct ExpiryReport {
  int64_t customers = 0;
  int64_t lots = 0;
  int64_t points = 0;
  bool complete = true;  // false: stopped at the time limit with lots still due
};

// `after_batch(customer ids)` runs after each committed batch (cache invalidation).
Result<ExpiryReport> run_expiry(
    pg::Connection& c, const Clock& clock, Random& random,
    std::chrono::milliseconds time_limit = std::chrono::hours(24), int batch_customers = 1000,
    const std::function<void(const std::vector<std::string>&)>& after_batch = {});

}  // namespace accrue::cloud
