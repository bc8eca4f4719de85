#include "agent/store/seed.h"

#include <chrono>
#include <cstdio>

#include "agent/store/programs.h"
#include "agent/store/replica.h"
#include "common/synthetic.h"

namespace accrue::agent {

std::string seed_card_number(int64_t i) { return synthetic_card_number(i); }

std::string seed_customer_id(int64_t i) { return synthetic_customer_id(i); }

Result<SeedReport> seed_replica(const SeedOptions& o, const Program& program,
                                const IdentifierHasher& hasher) {
  if (o.customers < 0 || o.customers > 100'000'000) {
    return fail(ErrorCode::kInvalidArgument, "customers: 0 to 100000000");
  }
  auto started = std::chrono::steady_clock::now();
  ACCRUE_ASSIGN_OR_RETURN(auto writer, Replica::open_writer(o.database_path));
  const TimestampMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  // A bulk load: durability per row is not needed, the final checkpoint makes it durable.
  ACCRUE_TRY(writer.db().exec("PRAGMA synchronous=OFF"));
  {
    ACCRUE_ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::begin(writer.db()));
    ACCRUE_TRY(install_program(writer, program, now));
    // A seeded replica stands for a fresh snapshot from the cloud.
    ACCRUE_TRY(writer.set_meta("last_sync_ms", std::to_string(now)));
    ACCRUE_TRY(tx.commit());
  }
  const auto& ladder = program.tiers.ladder;
  constexpr int64_t kBatch = 50'000;
  for (int64_t start = 0; start < o.customers; start += kBatch) {
    ACCRUE_ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::begin(writer.db()));
    for (int64_t k = start; k < std::min(o.customers, start + kBatch); ++k) {
      const int64_t i = o.first + k;
      CustomerRow c;
      c.customer_id = seed_customer_id(i);
      c.status = synthetic_blocked(i) ? kStatusBlocked : kStatusActive;
      c.tier_id = ladder.empty() ? "" : ladder[synthetic_tier_index(i, ladder.size())].tier_id;
      c.display_name = "Member " + std::to_string(i);
      c.home_store_id = o.store_id;
      c.confirmed_available = (i * 37) % 5000;
      c.confirmed_pending = (i * 11) % 300;
      c.confirmed_as_of = now;
      c.qualifying_value = (i * 53) % 6000;
      c.enrolled_at = now - (i % 1000) * 86'400'000;
      ACCRUE_TRY(writer.upsert_customer(c));
      auto hash = hasher.hash({IdentifierKind::kCard, seed_card_number(i)});
      ACCRUE_ASSIGN_OR_RETURN(auto linked, writer.customer_for_hash(hash));
      if (!linked) ACCRUE_TRY(writer.link_identifier(hash, c.customer_id));
    }
    ACCRUE_TRY(tx.commit());
  }
  ACCRUE_TRY(writer.db().exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  SeedReport report;
  report.customers = o.customers;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace accrue::agent
