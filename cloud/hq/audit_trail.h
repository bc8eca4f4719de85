// The head-office audit trail (table audit_log): who did what to which subject, when, under
// which request id.
//  - A change is recorded in the transaction that makes it (write()): there is no change without
//    its audit row and no audit row for a change that rolled back.
//  - A read of personal data is queued (enqueue()) and written in batches by a background thread,
//    one INSERT per batch: the hot reads never wait for an audit write (the reference system
//    wrote an audit row inside every profile read and doubled its cost). The queue is bounded;
//    when it is full (PostgreSQL unreachable for long) the read is refused rather than left
//    unrecorded.
// Thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "cloud/pg/pool.h"

namespace accrue::cloud::hq {

struct AuditEntry {
  std::string actor;    // the token's subject
  std::string action;   // "customer.create", "customer.read_personal", ...
  std::string subject;  // what it was done to: "customer:<id>", "store:<id>", ...
  std::string request_id;
  boost::json::object detail;
};

class AuditTrail {
 public:
  explicit AuditTrail(pg::Pool& pool, size_t max_queue = 100'000);
  ~AuditTrail();
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  static Result<void> write(pg::Connection& c, const AuditEntry& e);
  // False when the queue is full.
  bool enqueue(AuditEntry e);
  // Waits (up to `timeout`) until everything queued before the call is written. For tests and
  // for shutdown.
  bool flush(std::chrono::milliseconds timeout);
  uint64_t written() const;
  uint64_t failures() const;

 private:
  void run(std::stop_token stop);
  pg::Pool& pool_;
  size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable_any wake_;  // the writer: entries queued, or stop
  std::condition_variable drained_;
  std::deque<AuditEntry> queue_;
  uint64_t enqueued_ = 0, written_ = 0, failures_ = 0;
  std::jthread thread_;  // last: it starts once the rest is built
};

}  // namespace accrue::cloud::hq
