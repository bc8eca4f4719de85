// The head-office customer search, behind one interface with two read models:
//
//   PgCustomerSearch       (default) the system of record itself: customer, balance and
//                          customer_pii, names by trigram (pg_trgm GIN), identifiers by keyed
//                          hash, the filters on indexed columns. Never behind: it reads what
//                          has committed.
//   ElasticCustomerSearch  an Elasticsearch/OpenSearch index (elastic.h) that the projector
//                          (projector.h) keeps from the change feed. Behind by the projection
//                          lag (a metric), and it takes the search load off PostgreSQL.
//
// The hot reads (status, profile, transactions) never use either: they read by primary key.
// Both answer the same question (SearchQuery) with the same page (SearchPage), keyset-paged by
// customer id. Implementations are thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/customer.h"
#include "common/error.h"

namespace accrue::cloud::pg {
class Connection;
class Pool;
}  // namespace accrue::cloud::pg

namespace accrue::cloud::search {

// Customer status as stored (customer.status; common/customer.h).
inline constexpr int kActive = to_int(CustomerStatus::kActive),
                     kBlocked = to_int(CustomerStatus::kBlocked),
                     kErased = to_int(CustomerStatus::kErased),
                     kMerged = to_int(CustomerStatus::kMerged);

// One customer as the search sees it (and as the search index stores it); `deleted` removes it
// from an index (a customer that is no longer in the system of record).
struct CustomerDoc {
  std::string customer_id;
  int64_t version = 0;  // the projection epoch it was read in (projector.h); only grows
  bool deleted = false;
  int status = kActive;
  std::string tier_id, home_store_id, display_name, email, phone;
  int64_t enrolled_at_ms = 0, last_purchase_ms = 0, points = 0;
  std::vector<std::string> identifier_hashes;  // lower-case hex of the keyed hashes
  boost::json::array identifiers;              // [{kind, masked}] for display
};

// The question, backend-neutral. Text conditions (name, e-mail, phone, customer id, identifier
// hashes) are alternatives: a member matches when any of them does; every other field is a
// filter all results pass.
struct SearchQuery {
  std::optional<std::string> name_contains;    // case-insensitive substring of the display name
  std::optional<std::string> email_contains;   // case-insensitive substring of the e-mail
  std::optional<std::string> phone;            // E.164, exact
  std::optional<std::string> customer_id;      // exact
  std::vector<std::string> identifier_hashes;  // lower-case hex, exact
  bool match_nothing = false;  // the text could be none of the above (no condition can hold)
  std::optional<int> status;   // nullopt: active and blocked (erased and merged only if asked)
  std::optional<std::string> tier, home_store;
  // [from, to) in epoch milliseconds.
  std::optional<int64_t> enrolled_from_ms, enrolled_to_ms, purchased_from_ms, purchased_to_ms;
  std::optional<int64_t> points_min, points_max;  // inclusive
  std::string after;                              // the last customer id of the previous page
  int limit = 20;

  bool has_text() const {
    return match_nothing || name_contains || email_contains || phone || customer_id ||
           !identifier_hashes.empty();
  }
};

struct SearchPage {
  std::vector<CustomerDoc> hits;          // at most `limit`, by customer id
  std::optional<std::string> next_after;  // set when there may be more
};

// Extra SQL conditions only PostgreSQL can answer (a saved segment, compiled by the head-office
// API): FROM items after `customer c JOIN balance b` and a condition, with its parameters
// numbered from $1.
struct SqlFilter {
  std::string join, where;
  std::vector<std::string> values;
};

class CustomerSearch {
 public:
  virtual ~CustomerSearch() = default;
  // kUnavailable when the backend cannot answer.
  virtual Result<SearchPage> search(const SearchQuery& q) = 0;
  virtual const char* backend() const = 0;
};

class PgCustomerSearch final : public CustomerSearch {
 public:
  explicit PgCustomerSearch(pg::Pool& pool) : pool_(pool) {}
  Result<SearchPage> search(const SearchQuery& q) override;
  const char* backend() const override { return "postgres"; }
  // On a connection the caller holds, optionally narrowed by `extra` (a segment).
  static Result<SearchPage> search_on(pg::Connection& c, const SearchQuery& q,
                                      const SqlFilter* extra);
  // The documents of `ids` as the system of record has them now (customers not found come back
  // `deleted`), in the order asked; `version` is left 0. Used by the projector.
  static Result<std::vector<CustomerDoc>> load(pg::Connection& c,
                                               const std::vector<std::string>& ids);

 private:
  pg::Pool& pool_;
};

}  // namespace accrue::cloud::search
