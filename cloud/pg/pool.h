// A bounded pool of PostgreSQL connections. The case study's first bottleneck was running out of
// database connections, so the bound is hard: at most `size` connections ever exist, a request
// that finds none free waits up to `acquire_timeout` and then gets kUnavailable (the HTTP layer
// answers 503 with Retry-After) instead of queueing without limit. Connections open lazily, are
// reused across requests (never one connect per request) and are dropped when found broken.
//
// Thread-safe. Leases return their connection when destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "cloud/pg/pg.h"

namespace accrue::cloud::pg {

struct PoolOptions {
  std::string dsn;
  size_t size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  std::chrono::seconds connect_timeout{5};
  bool prepared_statements = true;  // see Connection::use_prepared_statements
};

struct PoolStats {
  size_t size = 0;  // the bound
  size_t open = 0;  // connections that exist
  size_t in_use = 0;
  size_t waiting = 0;     // callers blocked in acquire()
  uint64_t errors = 0;    // failed connects and connections dropped as broken
  uint64_t timeouts = 0;  // acquire() gave up
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
  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

 private:
  void release(std::unique_ptr<Connection> c);

  PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
  size_t in_use_ = 0;
  size_t waiting_ = 0;
  uint64_t errors_ = 0;
  uint64_t timeouts_ = 0;
};

}  // namespace accrue::cloud::pg
