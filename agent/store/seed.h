// Fills a replica with synthetic members for tests, demos and benchmarks: member i has the
// loyalty card seed_card_number(i), a deterministic customer id, a tier and a balance.
#pragma once

#include <cstdint>
#include <string>

#include "common/identifier.h"
#include "common/program.h"

namespace accrue::agent {

struct SeedOptions {
  std::string database_path;
  std::string store_id;
  int64_t customers = 1000;
  int64_t first = 0;  // index of the first member
};

struct SeedReport {
  int64_t customers = 0;
  double seconds = 0;
};

// The card number of synthetic member i: "6000" followed by i as 12 digits.
std::string seed_card_number(int64_t i);
// The customer id of synthetic member i (a version 4 UUID derived from i).
std::string seed_customer_id(int64_t i);

// Installs `program` and writes the members in large transactions. Members that exist are
// replaced. Not for a replica that a running agent has open.
Result<SeedReport> seed_replica(const SeedOptions& options, const Program& program,
                                const IdentifierHasher& hasher);

}  // namespace accrue::agent
