// `accrue-cloud generate`: a realistic data set for load tests and demos, loaded with COPY.
//
// Customers are the synthetic members (common/synthetic.h: the same ids, cards and tiers as a
// store replica seeded with `accrue-agent seed`), each with a display name, a card identifier
// (when the programme key is given), `receipts_per_customer` sales spread over the last year
// (amounts from 5 to 300 EUR, points from the published programme's engine at the member's tier),
// their ledger rows, a balance equal to the sum of those rows (the audit holds) and one lot per
// customer carrying the points. Stores S0..S(n-1) are the customers' home stores. Writes the
// customer ids, one per line, to `csv_path` for the load generator.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cloud/core/programs.h"
#include "cloud/pg/pg.h"

namespace accrue::cloud {

struct GenerateOptions {
  int64_t customers = 500'000;
  int64_t first = 0;
  int receipts_per_customer = 20;
  int stores = 100;
  std::optional<std::vector<uint8_t>> program_key;  // identifiers are linked only with it
  std::string csv_path;                             // empty: no CSV
  uint64_t seed = 42;
  // Connections loading in parallel (this one included), when connect_more can open the others.
  int workers = 2;
  std::function<Result<pg::Connection>()> connect_more;
};

struct GenerateReport {
  int64_t customers = 0;
  int64_t receipts = 0;
  double seconds = 0;
};

// `progress(done, total)` is called as customers are written. Errors: kFailedPrecondition when
// no programme is published or customers of that range exist already; database errors.
Result<GenerateReport> generate(pg::Connection& c, ProgramCatalog& programs,
                                const GenerateOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress);

}  // namespace accrue::cloud
