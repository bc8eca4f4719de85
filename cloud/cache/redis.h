// A small pool of synchronous hiredis connections with short timeouts, and a circuit breaker: the
// cache must never make a read slower than PostgreSQL alone, so after a failure Redis is skipped
// for `cooldown` and requests go straight to the database. Thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace accrue::cloud::cache {

struct RedisOptions {
  std::string host;  // empty: no Redis (every call fails fast with kUnavailable)
  uint16_t port = 6379;
  std::chrono::milliseconds timeout{50};  // connect and each command
  std::chrono::milliseconds cooldown{1000};
  size_t max_idle = 32;
};

// An owned reply.
using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

class Redis {
 public:
  explicit Redis(RedisOptions options) : options_(std::move(options)) {}
  ~Redis();

  // One command. kUnavailable when Redis is not configured, cooling down after a failure,
  // unreachable, slow or answers an error.
  Result<Reply> command(const std::vector<std::string>& argv);
  bool configured() const { return !options_.host.empty(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  redisContext* take();
  void give(redisContext* c);
  void trip();

  RedisOptions options_;
  std::mutex mu_;
  std::vector<redisContext*> idle_;
  std::atomic<int64_t> open_after_{0};  // steady-clock ns before which calls fail fast
  std::atomic<uint64_t> errors_{0};
};

}  // namespace accrue::cloud::cache
