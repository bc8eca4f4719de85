// Copies the WAL back into the database file in the background (PASSIVE checkpoints on its own
// connection), so the group-commit writer does not stall on checkpoints: measured, the writer's
// own automatic checkpoints were where the accrual p99 came from. The writer keeps a larger
// automatic checkpoint as a safety net that bounds the WAL if this thread ever falls behind.
// Thread-safe: start once, stop once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "agent/store/sqlite.h"

namespace accrue::agent {

class Checkpointer {
 public:
  // `each_round` (optional) runs on the checkpointer's thread before every checkpoint.
  static Result<std::unique_ptr<Checkpointer>> start(const std::string& path,
                                                     std::chrono::milliseconds interval,
                                                     std::function<void()> each_round = {});
  ~Checkpointer();
  void stop();

 private:
  Checkpointer(sqlite::Db db, std::chrono::milliseconds interval, std::function<void()> each_round)
      : db_(std::move(db)), interval_(interval), each_round_(std::move(each_round)) {}
  void run(std::stop_token stop);

  sqlite::Db db_;
  std::chrono::milliseconds interval_;
  std::function<void()> each_round_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;
};

}  // namespace accrue::agent
