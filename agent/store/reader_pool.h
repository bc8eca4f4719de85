// A fixed set of read-only replica connections shared by the I/O threads. acquire() hands one
// out for the duration of a read and waits when all are busy. Thread-safe.
#pragma once

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

   private:
    ReaderPool* pool_;
    std::unique_ptr<Replica> replica_;
  };

  Lease acquire();

 private:
  void release(std::unique_ptr<Replica> r);
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Replica>> free_;
};

}  // namespace accrue::agent
