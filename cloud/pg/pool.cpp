#include "cloud/pg/pool.h"

namespace accrue::cloud::pg {

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  for (;;) {
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      return Lease(this, std::move(c));
    }
    if (open_ < options_.size) {
      ++open_;  // reserve the slot, connect without holding the lock
      ++in_use_;
      lock.unlock();
      auto c = Connection::connect(options_.dsn, options_.connect_timeout);
      if (!c) {
        lock.lock();
        --open_;
        --in_use_;
        ++errors_;
        cv_.notify_one();
        return std::unexpected(c.error());
      }
      c->use_prepared_statements(options_.prepared_statements);
      return Lease(this, std::make_unique<Connection>(std::move(*c)));
    }
    ++waiting_;
    bool woke =
        cv_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < options_.size; });
    --waiting_;
    if (!woke) {
      ++timeouts_;
      return fail(ErrorCode::kUnavailable, "all " + std::to_string(options_.size) +
                                               " database connections are busy; try again shortly");
    }
  }
}

void Pool::release(std::unique_ptr<Connection> c) {
  // A connection left inside a transaction (a bug or an interrupted call) must not leak its
  // state into the next request: roll it back, and drop it if that does not work.
  bool usable = c->healthy();
  if (usable && PQtransactionStatus(c->raw()) != PQTRANS_IDLE) {
    usable = c->exec("ROLLBACK").has_value() && PQtransactionStatus(c->raw()) == PQTRANS_IDLE;
  }
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (usable) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
      ++errors_;
    }
  }
  cv_.notify_one();
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mu_);
  return {options_.size, open_, in_use_, waiting_, errors_, timeouts_};
}

}  // namespace accrue::cloud::pg
