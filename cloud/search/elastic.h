// The search read model in Elasticsearch or OpenSearch (the HQ customer search's other backend;
// PostgreSQL with pg_trgm is the default). Speaks the REST API both share, over libcurl:
//
//  - index template `accrue-customers` (keyword ids and filters, dates, a lower-cased name and
//    e-mail for substring search, identifier hashes as keywords);
//  - `_bulk` projection with external versioning: each document carries the projection epoch
//    it was read under (projector.h; it only grows), so a replayed or late batch can never
//    overwrite a newer document (Elasticsearch answers 409 version conflict, counted
//    as stale, not as a failure). Items rejected with 429 (the cluster's write queue is full)
//    are sent again, alone, with exponential backoff; a 429/502/503/504 for the whole request
//    is retried the same way; any other item error is a failure reported with its reason.
//  - `_search` translation of the HQ search's filters, sorted by customer id and paged with
//    `search_after`, so pages are keyset pages exactly as with PostgreSQL;
//  - rebuild: a fresh index `accrue-customers-<suffix>`, filled, then the alias
//    `accrue-customers` moved to it in one `_aliases` call (readers never see a half index).
//
// No Elasticsearch server can run where this is developed and tested: the tests replay
// real-format recorded responses (tests/cloud/search/recorded/) through a local HTTP server.
// Thread-safe (one curl handle per call).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cloud/search/search.h"
#include "common/error.h"

namespace accrue::cloud::search {

struct ElasticOptions {
  std::string url;  // "https://search.example:9200" (no trailing slash)
  std::string alias = "accrue-customers";
  std::string api_key;  // Authorization: ApiKey <key>; empty: none
  std::string ca_file;
  std::chrono::milliseconds timeout{5000};
  int max_retries = 5;  // for writes (bulk, index and alias calls)
  // A search has a person waiting: one quick retry, then the 503 goes to the caller.
  int search_retries = 1;
  std::chrono::milliseconds backoff_base{200};
};

struct BulkOutcome {
  int indexed = 0;  // created, updated or deleted
  int stale = 0;    // a newer version was there already (409): harmless
  int retried = 0;  // items sent again after a 429
  std::vector<std::pair<std::string, std::string>> failed;  // id, reason
};

class ElasticClient {
 public:
  explicit ElasticClient(ElasticOptions options) : o_(std::move(options)) {}

  Result<void> put_index_template();
  Result<BulkOutcome> bulk(const std::vector<CustomerDoc>& docs, const std::string& index = "");
  Result<SearchPage> search(const SearchQuery& q);
  // A new concrete index for a rebuild, and the alias moved onto it when it is full.
  Result<std::string> create_index(const std::string& suffix);
  Result<void> swap_alias(const std::string& new_index);
  // Drops an index the alias no longer points at (a missing one is no error).
  Result<void> delete_index(const std::string& index);

  // The request bodies, for tests and for logging.
  static boost::json::object template_body(const std::string& alias);
  static std::string bulk_body(const std::vector<const CustomerDoc*>& docs,
                               const std::string& index);
  static boost::json::object search_body(const SearchQuery& q);

  struct Reply {
    long status = 0;
    std::string body;
  };

 private:
  Result<Reply> send(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type = "application/json");
  // `send`, retried with backoff while the answer is 429/502/503/504 or there is none
  // (`retries` times; -1: max_retries).
  Result<Reply> send_retrying(const std::string& method, const std::string& path,
                              const std::string& body,
                              const std::string& content_type = "application/json",
                              int retries = -1);
  ElasticOptions o_;
};

// The HQ search answered from the index (search.h). Fails with kUnavailable while the cluster
// does not answer; it never falls back to PostgreSQL on its own, so a search outage cannot move
// its load onto the system of record.
class ElasticCustomerSearch final : public CustomerSearch {
 public:
  explicit ElasticCustomerSearch(ElasticClient& client) : client_(client) {}
  Result<SearchPage> search(const SearchQuery& q) override { return client_.search(q); }
  const char* backend() const override { return "elasticsearch"; }

 private:
  ElasticClient& client_;
};

}  // namespace accrue::cloud::search
