// A bounded pool of PostgreSQL connections. The case study's first bottleneck was running out of
// database connections, so the bound is hard: at most `size` connections ever exist, a request
// that finds none free waits up to `acquire_timeout` and then gets kUnavailable (the HTTP layer
// answers 503 with Retry-After) instead of queueing without limit. Connections open lazily, are
// reused across requests (never one connect per request) and are dropped when found broken.
//
// When the database is down or frozen the pool fails fast instead of letting requests pile up
// behind it: every statement has an answer deadline (`answer_timeout`), and a failed connect or a
// statement that ran out of its deadline opens a circuit breaker. While it is open, acquire()
// answers kUnavailable at once; `cooldown` after the last failure one caller at a time is let
// through to probe with a new connection, and its success closes the breaker again (recovery
// needs no restart).
//
// Thread-safe. Leases return their connection when destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cloud/pg/pg.h"

namespace accrue::cloud::pg {

struct PoolOptions {
  std::string dsn;
  size_t size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds answer_timeout{0};  // per statement; 0: none (batch tools)
  std::chrono::milliseconds cooldown{1000};     // breaker: fail fast this long after an outage
  bool prepared_statements = true;              // see Connection::use_prepared_statements
};

struct PoolStats {
  size_t size = 0;  // the bound
  size_t open = 0;  // connections that exist
  size_t in_use = 0;
  size_t waiting = 0;          // callers blocked in acquire()
  uint64_t errors = 0;         // failed connects and connections dropped as broken
  uint64_t timeouts = 0;       // acquire() gave up
  bool up = true;              // false while the breaker is open
  std::string last_error;      // why it opened (for readiness and logs)
  uint64_t fast_failures = 0;  // acquire() refused at once because the breaker was open
};

class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // A connection, opened now if none is idle and the bound allows. kUnavailable when the database
  // cannot be reached or no connection freed up within the acquire timeout.
  Result<Lease> acquire();
  // An idle connection without waiting or connecting, when there is one (readiness probes: a
  // busy pool is not a down database).
  std::optional<Lease> try_acquire();
  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  void release(std::unique_ptr<Connection> c);
  // Opens the breaker (mu_ held).
  void trip(std::string why);
  Lease lease(std::unique_ptr<Connection> c);

  PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
  size_t in_use_ = 0;
  size_t waiting_ = 0;
  uint64_t errors_ = 0;
  uint64_t timeouts_ = 0;
  uint64_t fast_failures_ = 0;
  // Breaker: open while down_ is set; calls before retry_at_ fail at once, the first one after
  // it probes (and moves retry_at_ on, so only one probes at a time).
  bool down_ = false;
  bool probe_in_flight_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::string last_error_;
};

}  // namespace accrue::cloud::pg
