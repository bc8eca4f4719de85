// Cache-aside for the hot customer reads, in Redis, correct under concurrency:
//  - every customer has a generation counter (accrue:gen:<id>); ingestion bumps it after its
//    commit and before it answers, so no read after an ingest call returns sees the old entry;
//  - entries (accrue:<kind>:<id>) carry the generation they were read under, and a miss fills
//    only if the generation is still the one seen before PostgreSQL was asked (one Lua script),
//    so a slow reader can never put back a value older than an invalidation;
//  - entries expire after `ttl` (the backstop if an invalidation could not reach Redis), and
//    generation counters after a day; deploy Redis with `maxmemory-policy volatile-ttl` so
//    entries go before counters.
// Redis being down or slow only costs hit rate: every method degrades to "miss" / "not filled".
// Thread-safe.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "cloud/cache/redis.h"

namespace accrue::cloud::cache {

struct CacheCounters {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> fills{0};
  std::atomic<uint64_t> refused_fills{0};  // an invalidation came between read and fill
  std::atomic<uint64_t> invalidations{0};
  std::atomic<uint64_t> invalidation_failures{0};
};

class CustomerCache {
 public:
  // Keys are `<prefix>gen:<id>` and `<prefix><kind>:<id>`; environments (or tests) sharing one
  // Redis keep apart by prefix.
  CustomerCache(Redis& redis, std::chrono::seconds ttl, std::string prefix = "accrue:")
      : redis_(redis), ttl_(ttl), prefix_(std::move(prefix)) {}

  struct Lookup {
    std::optional<std::string> hit;
    std::string generation;  // to pass to fill(); meaningless when Redis was not reachable
    bool reachable = false;
  };
  Lookup get(std::string_view kind, const std::string& customer_id);
  void fill(std::string_view kind, const std::string& customer_id, const Lookup& seen,
            const std::string& document);
  // Bumps the customers' generations. False when Redis could not be told: entries then live
  // until their TTL, so this replica stops reading the cache for one TTL (it answers from
  // PostgreSQL) and cannot serve what it failed to invalidate.
  bool invalidate(const std::vector<std::string>& customer_ids);

  const CacheCounters& counters() const { return counters_; }
  bool enabled() const { return redis_.configured(); }

 private:
  Redis& redis_;
  std::chrono::seconds ttl_;
  std::string prefix_;
  std::atomic<int64_t> bypass_until_ns_{0};
  CacheCounters counters_;
};

}  // namespace accrue::cloud::cache
