// Copies the WAL back into the database file in the background (PASSIVE checkpoints on its own
// connection), so the group-commit writer does not stall on checkpoints: measured, the writer's
// own automatic checkpoints were where the accrual p99 came from. The writer keeps a larger
// automatic checkpoint as a safety net that bounds the WAL if this thread ever falls behind.
// Thread-safe: start once, stop once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "agent/store/sqlite.h"

namespace accrue::agent {

class Checkpointer {
 public:
  static Result<std::unique_ptr<Checkpointer>> start(const std::string& path,
                                                     std::chrono::milliseconds interval);
  ~Checkpointer();
  void stop();

 private:
  Checkpointer(sqlite::Db db, std::chrono::milliseconds interval)
      : db_(std::move(db)), interval_(interval) {}
  void run();

  sqlite::Db db_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace accrue::agent
