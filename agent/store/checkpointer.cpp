#include "agent/store/checkpointer.h"
#include "common/sys/system.h"

namespace accrue::agent {

Result<std::unique_ptr<Checkpointer>> Checkpointer::start(const std::string& path,
                                                          std::chrono::milliseconds interval,
                                                          std::function<void()> each_round) {
  ACCRUE_ASSIGN_OR_RETURN(auto db, sqlite::Db::open(path, sqlite::Db::Mode::kReadWrite));
  ACCRUE_TRY(db.exec("PRAGMA synchronous=FULL"));
  std::unique_ptr<Checkpointer> c(new Checkpointer(std::move(db), interval, std::move(each_round)));
  c->thread_ = std::jthread([p = c.get()](std::stop_token stop) {
    name_this_thread("accrue-ckpt");
    p->run(stop);
  });
  return c;
}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::stop() {
  thread_.request_stop();  // wakes the wait in run()
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::run(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait_for(lock, stop, interval_, [] { return false; });
    if (stop.stop_requested()) return;
    lock.unlock();
    if (each_round_) each_round_();
    // PASSIVE never waits for the writer or readers; what it cannot copy now it copies next time.
    (void)db_.exec("PRAGMA wal_checkpoint(PASSIVE)");
    lock.lock();
  }
}

}  // namespace accrue::agent
