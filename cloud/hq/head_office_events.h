// Head office changes points as a store of its own (Ingest::kHeadOfficeStore): its adjustments,
// transfers, enrolment bonuses, claims of provisional points and bulk jobs are events that
// ingestion applies like a till's, so that ledger kind, lots, tier qualification and the change
// feed follow the same rules. This is the one place such events are built.
#pragma once

#include <string>
#include <vector>

#include "accrue/sync/v1/sync.pb.h"
#include "cloud/core/programs.h"
#include "common/clock.h"

namespace accrue::cloud::hq {

class HeadOfficeBatch {
 public:
  // Events under `program` (the one in force), occurring `now`.
  HeadOfficeBatch(const PublishedProgram& program, TimestampMs now);

  // `points` (signed) for `customer_id`, by `actor` (a token's subject, or "job:<id>").
  sync::v1::EventEnvelope& adjustment(std::string event_id, const std::string& customer_id,
                                      int64_t points, const std::string& reason,
                                      const std::string& actor);
  // The programme's enrolment bonus for a new member (ingestion reads the amount).
  sync::v1::EventEnvelope& enrolment_bonus(std::string event_id, const std::string& customer_id,
                                           const std::string& actor);

  // The provisional accruals against `hashes` (raw, 32 bytes each; her own identifiers) become
  // the member's.
  sync::v1::EventEnvelope& claim(std::string event_id, const std::string& customer_id,
                                 const std::vector<std::string>& hashes, const std::string& actor);

  const sync::v1::EventBatch& batch() const { return batch_; }
  bool empty() const { return batch_.events_size() == 0; }

 private:
  sync::v1::EventEnvelope& event(std::string event_id);

  const PublishedProgram& program_;
  TimestampMs now_;
  sync::v1::EventBatch batch_;
};

}  // namespace accrue::cloud::hq
