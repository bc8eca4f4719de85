// The replica's single writer. Write requests from every till queue here; the writer thread
// runs whatever has queued up in one SQLite transaction (each request inside its own savepoint,
// so one failing request does not undo the others) and one fsync, then tells every request
// whether it is durable. While one group is being fsynced the next one gathers, so throughput
// grows with load instead of being capped at one fsync per accrual.
//
// Thread-safe: submit() from any thread; `done` callbacks run on the writer thread and must not
// block.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "agent/store/replica.h"

namespace accrue::agent {

struct WriteJob {
  // Runs inside the group's transaction. An error rolls back this job's changes only.
  std::function<Result<void>(Replica&)> apply;
  // Called once after the group commits (ok) or with the reason the job's changes are not
  // durable (its own error, or the commit's).
  std::function<void(Result<void>)> done;
};

struct GroupCommitStats {
  uint64_t groups = 0;
  uint64_t jobs = 0;
  uint64_t commit_failures = 0;
};

class GroupCommitWriter {
 public:
  // `on_commit` runs on the writer thread after each group's COMMIT and before any `done`.
  GroupCommitWriter(Replica writer, size_t max_queue, size_t max_group,
                    std::function<void()> on_commit = {});
  ~GroupCommitWriter();  // stop()

  // false when the queue is full (the caller answers "busy, retry").
  bool submit(WriteJob job);
  // Runs everything already queued, then stops the thread and checkpoints the WAL.
  void stop();
  GroupCommitStats stats() const;

 private:
  void run(std::stop_token stop);
  void commit_group(std::vector<WriteJob>& group);

  Replica replica_;
  const size_t max_queue_;
  const size_t max_group_;
  std::function<void()> on_commit_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<WriteJob> queue_;
  GroupCommitStats stats_;
  std::jthread thread_;  // its stop is requested under mu_, so no job is queued after the last
};

}  // namespace accrue::agent
