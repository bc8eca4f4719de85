// The three hot head-office reads of the case study, straight from PostgreSQL by primary key
// (never from the search read model):
//   status(id)        status, tier, available/pending points, points to the next tier, points
//                     expiring in the next 30 days;
//   profile(id)       the above plus identifiers (kinds only: the cloud holds hashes), enrolment,
//                     home store, lifetime earned/redeemed/expired, last purchase;
//   transactions(id)  ledger entries newest first with keyset pagination, each sale with the
//                     points it earned and the points its returns reversed.
// Each answer is a JSON document; kNotFound for an unknown customer, kInvalidArgument for a bad
// limit or cursor. Thread-safe (state lives in PostgreSQL and the programme catalogue).
#pragma once

#include <string>

#include "cloud/core/programs.h"
#include "cloud/pg/pool.h"

namespace accrue::cloud::hq {

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

class CustomerReads {
 public:
  CustomerReads(pg::Pool& pool, ProgramCatalog& programs, const Clock& clock)
      : pool_(pool), programs_(programs), clock_(clock) {}

  // The document and the balance version it reflects (cache entries are tagged with it).
  struct Document {
    std::string json;
    int64_t version = 0;
  };
  Result<Document> status(const std::string& customer_id);
  Result<Document> profile(const std::string& customer_id);
  Result<std::string> transactions(const std::string& customer_id, int limit,
                                   const std::string& cursor);

  // Customer ids: 1..64 printable characters without '/', as stores and HQ create them.
  static bool valid_customer_id(std::string_view id);

 private:
  Result<Document> read(const std::string& customer_id, bool profile);

  pg::Pool& pool_;
  ProgramCatalog& programs_;
  const Clock& clock_;
};

}  // namespace accrue::cloud::hq
