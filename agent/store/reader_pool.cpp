#include "agent/store/reader_pool.h"

namespace accrue::agent {

Result<std::unique_ptr<ReaderPool>> ReaderPool::open(const std::string& path, size_t size) {
  auto pool = std::make_unique<ReaderPool>();
  for (size_t i = 0; i < size; ++i) {
    ACCRUE_ASSIGN_OR_RETURN(auto r, Replica::open_reader(path));
    pool->free_.push_back(std::make_unique<Replica>(std::move(r)));
  }
  return pool;
}

ReaderPool::Lease ReaderPool::acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !free_.empty(); });
  auto r = std::move(free_.back());  // the most recently used: its snapshot is likely current
  free_.pop_back();
  return Lease(this, std::move(r));
}

void ReaderPool::release(std::unique_ptr<Replica> r) {
  if (r->in_read() && r->snapshot_generation() != generation()) r->end_read();
  {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(r));
  }
  cv_.notify_one();
}

void ReaderPool::release_stale() {
  const uint64_t now = generation();
  std::lock_guard lock(mu_);  // readers in the free list belong to nobody else while it is held
  for (auto& r : free_) {
    if (r->in_read() && r->snapshot_generation() != now) r->end_read();
  }
}

void ReaderPool::end_all_reads() {
  std::lock_guard lock(mu_);
  for (auto& r : free_) {
    if (r->in_read()) r->end_read();
  }
}

}  // namespace accrue::agent
