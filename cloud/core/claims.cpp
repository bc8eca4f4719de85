#include "cloud/core/claims.h"

#include <chrono>

#include "cloud/hq/head_office_events.h"
#include "common/ledger.h"
#include "common/sys/system.h"

namespace accrue::cloud {

namespace {

constexpr int kRoundRows = 2000;        // (member, identifier) pairs read per round
constexpr size_t kHashesPerClaim = 16;  // sync.proto's limit
constexpr auto kTimeLimit = std::chrono::minutes(30);

// Owned identifiers with an unclaimed provisional accrual, after the key (customer_id, hash),
// in that order; $3 limits the scope to some members when it is not empty.
const std::string& pending_sql() {
  static const std::string sql =
      "SELECT DISTINCT i.customer_id, i.hash FROM ledger l JOIN identifier i ON i.hash = "
      "l.owner_hash WHERE l.owner_hash IS NOT NULL AND l.customer_id IS NULL AND NOT EXISTS "
      "(SELECT 1 FROM ledger k WHERE k.kind = " +
      std::to_string(to_int(LedgerKind::kClaimed)) +
      " AND k.ref_event_id = l.event_id) AND (i.customer_id, i.hash) > ($1, $2::bytea) AND "
      "(cardinality($3::text[]) = 0 OR i.customer_id = ANY($3::text[])) ORDER BY 1, 2 LIMIT $4";
  return sql;
}

}  // namespace

Result<ClaimReport> claim_unclaimed(pg::Connection& c, Ingest& ingest, const ClaimOptions& o) {
  ClaimReport report;
  const std::string scope = pg::text_array(o.customers);
  std::string after_id;
  std::string after_hash;  // raw bytes
  const auto until = std::chrono::steady_clock::now() + kTimeLimit;
  for (int round = 0; round < 1'000'000; ++round) {
    if (std::chrono::steady_clock::now() >= until) {
      return fail(ErrorCode::kDeadlineExceeded, "claims: stopped at the time limit");
    }
    ACCRUE_ASSIGN_OR_RETURN(
        auto r, c.query(pending_sql(),
                        {pg::Param::text(after_id), pg::Param::bytes(after_hash),
                         pg::Param::text(scope), pg::Param::text(std::to_string(kRoundRows))}));
    if (r.rows() == 0) break;
    hq::HeadOfficeBatch batch(o.program, o.now);
    std::string member;
    std::vector<std::string> hashes;
    auto flush = [&] {
      if (hashes.empty()) return;
      batch.claim(o.next_id(), member, hashes, o.actor);
      hashes.clear();
    };
    for (int i = 0; i < r.rows(); ++i) {
      auto raw = pg::decode_bytea(r.text(i, 1));
      if (!raw) return fail(ErrorCode::kInternal, "claims: an identifier hash did not decode");
      std::string id(r.text(i, 0));
      if (id != member || hashes.size() == kHashesPerClaim) {
        if (id != member) ++report.members;
        flush();
        member = std::move(id);
      }
      hashes.push_back(*raw);
      after_id = member;
      after_hash = *raw;
    }
    flush();
    ACCRUE_ASSIGN_OR_RETURN(auto result, ingest.apply_head_office(batch.batch()));
    for (const auto& e : result.results()) {
      ++(e.status() == sync::v1::EVENT_STATUS_REJECTED ? report.refused : report.claimed);
    }
    if (o.between_rounds) ACCRUE_TRY(o.between_rounds());
    if (r.rows() < kRoundRows) break;
  }
  return report;
}

Result<ClaimReport> claim_after_import(pg::Pool& pool, ProgramCatalog& programs, Ingest& ingest,
                                       const std::vector<std::string>& customers,
                                       const std::string& actor) {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool.acquire());
  SystemClock clock;
  SystemRandom random;
  UuidV7Generator ids(clock, random);
  const TimestampMs now = clock.now_ms();
  ACCRUE_ASSIGN_OR_RETURN(auto program, programs.latest(*lease, now));
  return claim_unclaimed(
      *lease, ingest,
      {*program, now, [&ids] { return ids.next().to_string(); }, actor, customers, {}});
}

}  // namespace accrue::cloud
