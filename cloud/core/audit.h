// Invariant "ledger is the truth", checked over a whole database: every customer's balance equals
// the sum of their ledger entries, and every open lot belongs to an existing balance. Read-only;
// runs in one REPEATABLE READ snapshot so concurrent ingestion cannot make it report a false
// mismatch.
#pragma once

#include <string>
#include <vector>

#include "cloud/pg/pg.h"

namespace accrue::cloud {

struct AuditMismatch {
  std::string customer_id;
  int64_t balance = 0;
  int64_t ledger_sum = 0;
};

struct AuditReport {
  int64_t customers = 0;
  int64_t ledger_rows = 0;
  int64_t mismatches = 0;
  std::vector<AuditMismatch> examples;  // at most 20
  bool ok() const { return mismatches == 0; }
};

Result<AuditReport> audit(pg::Connection& c);

}  // namespace accrue::cloud
