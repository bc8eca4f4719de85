#include "agent/store/group_commit.h"
#include "common/sys/system.h"

namespace accrue::agent {

GroupCommitWriter::GroupCommitWriter(Replica writer, size_t max_queue, size_t max_group,
                                     std::function<void()> on_commit)
    : replica_(std::move(writer)),
      max_queue_(max_queue),
      max_group_(max_group),
      on_commit_(std::move(on_commit)) {
  thread_ = std::jthread([this](std::stop_token stop) {
    name_this_thread("accrue-writer");
    run(stop);
  });
}

GroupCommitWriter::~GroupCommitWriter() { stop(); }

bool GroupCommitWriter::submit(WriteJob job) {
  {
    std::lock_guard lock(mu_);
    if (thread_.get_stop_token().stop_requested() || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void GroupCommitWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    thread_.request_stop();  // wakes the wait in run(), which drains the queue first
  }
  thread_.join();
}

GroupCommitStats GroupCommitWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void GroupCommitWriter::run(std::stop_token stop) {
  std::vector<WriteJob> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, stop, [&] { return !queue_.empty(); });
      if (queue_.empty()) break;  // stopped, and everything queued is committed
      while (!queue_.empty() && group.size() < max_group_) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    commit_group(group);
    group.clear();
  }
  (void)replica_.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

void GroupCommitWriter::commit_group(std::vector<WriteJob>& group) {
  std::vector<Result<void>> results(group.size());
  auto begin = replica_.control("BEGIN IMMEDIATE");
  if (!begin) {
    for (auto& job : group) job.done(std::unexpected(begin.error()));
    std::lock_guard lock(mu_);
    ++stats_.commit_failures;
    return;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    auto sp = replica_.control("SAVEPOINT job");
    if (!sp) {
      results[i] = std::unexpected(sp.error());
      continue;
    }
    results[i] = group[i].apply(replica_);
    if (!results[i]) (void)replica_.control("ROLLBACK TO job");
    (void)replica_.control("RELEASE job");
  }
  auto commit = replica_.control("COMMIT");
  if (!commit) {
    (void)replica_.control("ROLLBACK");
    Error e{commit.error().code, "the replica could not save this: " + commit.error().message};
    for (auto& r : results) {
      if (r) r = std::unexpected(e);
    }
  }
  if (commit && on_commit_) on_commit_();
  {
    std::lock_guard lock(mu_);
    ++stats_.groups;
    stats_.jobs += group.size();
    if (!commit) ++stats_.commit_failures;
  }
  for (size_t i = 0; i < group.size(); ++i) group[i].done(std::move(results[i]));
}

}  // namespace accrue::agent
