// A fixed set of read-only replica connections shared by the I/O threads. acquire() hands one
// out for the duration of a read and waits when all are busy. Thread-safe.
//
// Snapshots outlive requests: a reader keeps its read transaction open between requests for as
// long as nothing has been committed (see Replica::read_at), which on the validate path saves the
// per-transaction lock and file-size system calls. The pool counts commits: whoever commits to the
// replica calls note_commit() after the commit and before answering anyone, so a request that
// follows an acknowledged write always reads a snapshot that contains it. An open snapshot of an
// older state pins the WAL (a checkpoint cannot copy past it), so stale snapshots are closed when
// a reader is returned and, for readers left idle, by release_stale() (the checkpointer calls it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/store/replica.h"

namespace accrue::agent {

class ReaderPool {
 public:
  static Result<std::unique_ptr<ReaderPool>> open(const std::string& path, size_t size);

  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Replica> r) : pool_(pool), replica_(std::move(r)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (replica_) pool_->release(std::move(replica_));
    }
    Replica& operator*() { return *replica_; }
    Replica* operator->() { return replica_.get(); }
    // Makes the reader's snapshot current (reusing the open one when nothing was committed).
    Result<void> latest() { return replica_->read_at(pool_->generation()); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Replica> replica_;
  };

  Lease acquire();

  // Counts one commit to the replica; call after it is durable, before acknowledging it.
  void note_commit() { generation_.fetch_add(1, std::memory_order_release); }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Ends the snapshots of idle readers that no longer show the latest commit.
  void release_stale();
  // Ends the open snapshot of every idle reader, current or not: before the final TRUNCATE
  // checkpoint at shutdown, which would otherwise wait out the busy timeout on them.
  void end_all_reads();

 private:
  void release(std::unique_ptr<Replica> r);
  std::atomic<uint64_t> generation_{1};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Replica>> free_;
};

}  // namespace accrue::agent
