#include "cloud/pg/pool.h"

#include "common/sys/log.h"

namespace accrue::cloud::pg {

using Clock = std::chrono::steady_clock;

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

Pool::Lease Pool::lease(std::unique_ptr<Connection> c) {
  c->set_answer_timeout(options_.answer_timeout);
  return Lease(this, std::move(c));
}

void Pool::trip(std::string why) {
  if (!down_) {
    log(LogLevel::kWarn, "postgres_down",
        {{"error", why}, {"retry_ms", std::to_string(options_.cooldown.count())}});
  }
  down_ = true;
  retry_at_ = Clock::now() + options_.cooldown;
  last_error_ = std::move(why);
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mu_);
  auto deadline = Clock::now() + options_.acquire_timeout;
  bool probing = false;
  if (down_) {
    if (probe_in_flight_ || Clock::now() < retry_at_) {
      ++fast_failures_;
      return fail(ErrorCode::kUnavailable,
                  "PostgreSQL is unreachable (" + last_error_ + "); the service retries by itself");
    }
    // This caller probes; the others keep failing fast until it is done.
    probe_in_flight_ = true;
    probing = true;
    // Connections kept from before the outage are suspect: the probe makes a new one.
    open_ -= idle_.size();
    idle_.clear();
  }
  // However this call ends, a probe it was is over (mu_ is held at every return below).
  struct ProbeDone {
    bool& flag;
    bool active;
    ~ProbeDone() {
      if (active) flag = false;
    }
  } probe_done{probe_in_flight_, probing};
  for (;;) {
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      return lease(std::move(c));
    }
    if (open_ < options_.size) {
      ++open_;  // reserve the slot, connect without holding the lock
      ++in_use_;
      lock.unlock();
      auto c = Connection::connect(options_.dsn, options_.connect_timeout);
      lock.lock();
      if (!c) {
        --open_;
        --in_use_;
        ++errors_;
        trip(c.error().message);
        cv_.notify_all();
        return std::unexpected(c.error());
      }
      if (down_ && probing) {
        down_ = false;
        log(LogLevel::kInfo, "postgres_up", {});
      }
      c->use_prepared_statements(options_.prepared_statements);
      return lease(std::make_unique<Connection>(std::move(*c)));
    }
    ++waiting_;
    bool woke = cv_.wait_until(lock, deadline, [&] {
      return (down_ && !probing) || !idle_.empty() || open_ < options_.size;
    });
    --waiting_;
    if (down_ && !probing) {
      ++fast_failures_;
      return fail(ErrorCode::kUnavailable,
                  "PostgreSQL is unreachable (" + last_error_ + "); the service retries by itself");
    }
    if (!woke) {
      ++timeouts_;
      return fail(ErrorCode::kUnavailable, "all " + std::to_string(options_.size) +
                                               " database connections are busy; try again shortly");
    }
  }
}

std::optional<Pool::Lease> Pool::try_acquire() {
  std::lock_guard lock(mu_);
  if (down_ || idle_.empty()) return std::nullopt;
  auto c = std::move(idle_.back());
  idle_.pop_back();
  ++in_use_;
  return lease(std::move(c));
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
    if (usable && !down_) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
      if (!usable) ++errors_;
      // A statement that got no answer in time means the server is frozen or cut off: stop
      // sending it work. A connection that merely broke is replaced by the next acquire().
      if (c->timed_out()) {
        trip("no answer within " + std::to_string(options_.answer_timeout.count()) + " ms");
      }
    }
  }
  cv_.notify_all();
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mu_);
  return {options_.size, open_,  in_use_,     waiting_,      errors_,
          timeouts_,     !down_, last_error_, fast_failures_};
}

}  // namespace accrue::cloud::pg
