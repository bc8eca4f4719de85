// What stands between a head-office client and the handlers, shared by every replica through
// Redis:
//
// RateLimiter: a fixed one-minute window per client (the token's subject) and class (all
// requests, changes). Counting every request in Redis would put a round trip on the hot reads,
// so each replica counts locally and adds its count to the shared one at most every 100 ms per
// client (or after a tenth of the limit): the limit holds across replicas to within what the
// replicas admit in 100 ms. Redis unreachable: the replica limits on its own count alone.
//
// IdempotencyStore: POST with an Idempotency-Key. The first request claims the key (SET NX with
// a short in-progress marker), runs, and stores its response for `ttl`; a repeat with the same
// body gets the stored response (Idempotent-Replayed: true), a repeat with another body 422, a
// repeat while the first still runs 409. Without Redis a request carrying a key is refused (503):
// accepting it would promise what cannot be kept.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cloud/cache/redis.h"
#include "common/clock.h"

namespace accrue::cloud::hq {

class RateLimiter {
 public:
  RateLimiter(cache::Redis& redis, std::string prefix, const Clock& clock)
      : redis_(redis), prefix_(std::move(prefix)), clock_(clock) {}

  struct Decision {
    bool allowed = true;
    int64_t limit = 0;
    int64_t remaining = 0;
    int64_t retry_after_s = 0;  // when refused: until the window ends
  };
  // Counts one request of `client` in class `kind` ("all", "write") against `limit` per minute.
  Decision admit(const std::string& client, std::string_view kind, int64_t limit);
  // Takes back one admitted request (another limit refused it).
  void refund(const std::string& client, std::string_view kind);

 private:
  struct Window {
    int64_t minute = -1;
    int64_t local = 0;   // counted here, not yet added to Redis
    int64_t shared = 0;  // the shared count Redis last answered (includes ours sent)
    int64_t synced_ms = 0;
  };
  cache::Redis& redis_;
  std::string prefix_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;
};

class IdempotencyStore {
 public:
  IdempotencyStore(cache::Redis& redis, std::string prefix, std::chrono::seconds ttl)
      : redis_(redis), prefix_(std::move(prefix)), ttl_(ttl) {}

  struct Stored {
    int status = 0;
    std::string content_type;
    std::string location;
    std::string body;
  };
  enum class Claim { kClaimed, kReplay, kInProgress, kMismatch };
  struct ClaimResult {
    Claim claim = Claim::kClaimed;
    Stored stored;  // for kReplay
  };
  // `fingerprint` identifies the request (method, path and a hash of the body).
  // kUnavailable when Redis cannot be asked.
  Result<ClaimResult> claim(const std::string& client, const std::string& key,
                            const std::string& fingerprint);
  // Stores the response for the key claimed (a failure here only loses the replay).
  void complete(const std::string& client, const std::string& key, const std::string& fingerprint,
                const Stored& response);
  // Gives the key up (the request failed in a way worth retrying: 5xx).
  void release(const std::string& client, const std::string& key);

  // An Idempotency-Key: 1..255 printable ASCII characters.
  static bool valid_key(std::string_view key);

 private:
  std::string redis_key(const std::string& client, const std::string& key) const;
  cache::Redis& redis_;
  std::string prefix_;
  std::chrono::seconds ttl_;
};

}  // namespace accrue::cloud::hq
