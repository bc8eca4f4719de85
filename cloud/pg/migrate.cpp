#include "cloud/pg/migrate.h"

#include <openssl/evp.h>

#include <map>

#include "common/hex.h"

namespace accrue::cloud::pg {
namespace {

// "accrue" + "migrate" in ASCII: an arbitrary but fixed key for pg_advisory_xact_lock.
constexpr const char* kLock = "SELECT pg_advisory_xact_lock(7233135437460174)";

constexpr const char* kCreateTable =
    "CREATE TABLE IF NOT EXISTS accrue_schema_migrations ("
    "  version integer PRIMARY KEY,"
    "  name text NOT NULL,"
    "  sha256 text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

std::string sha256_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return to_hex(std::span<const uint8_t>(md, n));
}

}  // namespace

Result<int> schema_version(Connection& c) {
  ACCRUE_ASSIGN_OR_RETURN(auto exists,
                          c.query("SELECT to_regclass('accrue_schema_migrations') IS NOT NULL"));
  if (!exists.boolean(0, 0)) return 0;
  ACCRUE_ASSIGN_OR_RETURN(
      auto v, c.query("SELECT coalesce(max(version), 0) FROM accrue_schema_migrations"));
  return static_cast<int>(v.int64(0, 0));
}

Result<MigrateReport> migrate(Connection& c, std::span<const Migration> migrations) {
  return in_transaction(c, [&]() -> Result<MigrateReport> {
    ACCRUE_TRY(c.exec(kLock));
    ACCRUE_TRY(c.exec(kCreateTable));
    ACCRUE_ASSIGN_OR_RETURN(auto applied,
                            c.query("SELECT version, name, sha256 FROM accrue_schema_migrations"));
    std::map<int, std::pair<std::string, std::string>> have;
    for (int i = 0; i < applied.rows(); ++i) {
      have[static_cast<int>(applied.int64(i, 0))] = {std::string(applied.text(i, 1)),
                                                     std::string(applied.text(i, 2))};
    }
    MigrateReport report;
    report.from_version = have.empty() ? 0 : have.rbegin()->first;
    const int newest_known = migrations.empty() ? 0 : migrations.back().version;
    if (report.from_version > newest_known) {
      return fail(ErrorCode::kFailedPrecondition,
                  "the database schema is version " + std::to_string(report.from_version) +
                      ", newer than this binary knows (" + std::to_string(newest_known) +
                      "): upgrade accrue-cloud before running it against this database");
    }
    for (const Migration& m : migrations) {
      const std::string sum = sha256_hex(m.sql);
      if (auto it = have.find(m.version); it != have.end()) {
        if (it->second.second != sum) {
          return fail(ErrorCode::kDataLoss,
                      "migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                          ") differs from the one applied to this database; applied migrations "
                          "must never change (add a new one instead)");
        }
        continue;
      }
      const std::string sql(m.sql);
      if (auto r = c.exec(sql.c_str()); !r) {
        return fail(r.error().code, "migration " + std::to_string(m.version) + " (" +
                                        std::string(m.name) + ") failed: " + r.error().message);
      }
      const std::string version = std::to_string(m.version);
      ACCRUE_TRY(
          c.query("INSERT INTO accrue_schema_migrations (version, name, sha256) "
                  "VALUES ($1, $2, $3)",
                  {Param::text(version), Param::text(m.name), Param::text(sum)}));
      ++report.applied;
      report.to_version = m.version;
    }
    if (report.applied == 0) report.to_version = report.from_version;
    return report;
  });
}

Result<void> ensure_ledger_partitions(Connection& c) {
  ACCRUE_TRY(
      c.exec("SELECT accrue_ensure_ledger_partition((date_trunc('month', now() AT TIME ZONE 'UTC') "
             "+ make_interval(months => m))::date) FROM generate_series(0, 3) AS m"));
  return {};
}

}  // namespace accrue::cloud::pg
