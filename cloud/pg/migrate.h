// Versioned schema migrations, compiled into the binary from cloud/migrations/NNNN_name.sql.
//
// migrate() applies every pending migration in one transaction under a transaction-level advisory
// lock, so replicas that start at once apply each migration exactly once and the others wait, then
// find nothing to do. It refuses, changing nothing, when the database holds a migration this binary
// does not know (a newer schema: kFailedPrecondition) or when an applied migration's text has
// changed since (kDataLoss: someone edited history).
#pragma once

#include <span>
#include <string_view>

#include "cloud/pg/pg.h"

namespace accrue::cloud::pg {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// The migrations shipped in this binary, ascending.
std::span<const Migration> shipped_migrations();

struct MigrateReport {
  int from_version = 0;
  int to_version = 0;
  int applied = 0;
};

Result<MigrateReport> migrate(Connection& c, std::span<const Migration> migrations);
// The newest applied version (0 for an empty database); no lock taken.
Result<int> schema_version(Connection& c);

// Keeps the ledger's monthly partitions in place for the current month and the next three.
Result<void> ensure_ledger_partitions(Connection& c);

}  // namespace accrue::cloud::pg
