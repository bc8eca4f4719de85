#include "cloud/hq/audit_trail.h"

#include <boost/json.hpp>

#include "common/sys/log.h"
#include "common/sys/system.h"

namespace accrue::cloud::hq {

namespace json = boost::json;

namespace {

constexpr size_t kBatch = 1000;
constexpr const char* kInsert =
    "INSERT INTO audit_log (actor, action, subject, request_id, detail) "
    "SELECT x.actor, x.action, x.subject, x.request_id, x.detail FROM "
    "jsonb_to_recordset($1::jsonb) AS x(actor text, action text, subject text, request_id text, "
    "detail jsonb)";

json::object row(const AuditEntry& e) {
  return json::object{{"actor", e.actor},
                      {"action", e.action},
                      {"subject", e.subject},
                      {"request_id", e.request_id},
                      {"detail", e.detail}};
}

}  // namespace

AuditTrail::AuditTrail(pg::Pool& pool, size_t max_queue)
    : pool_(pool), max_queue_(max_queue), thread_([this](std::stop_token stop) { run(stop); }) {}

AuditTrail::~AuditTrail() {
  flush(std::chrono::seconds(5));
  thread_.request_stop();  // wakes the writer's wait
  thread_.join();
  std::lock_guard lock(mu_);
  if (!queue_.empty()) {
    log(LogLevel::kError, "audit_entries_lost", {{"entries", std::to_string(queue_.size())}});
  }
}

Result<void> AuditTrail::write(pg::Connection& c, const AuditEntry& e) {
  json::array a;
  a.push_back(row(e));
  const std::string rows = json::serialize(a);
  ACCRUE_TRY(c.query(kInsert, {pg::Param::text(rows)}));
  return {};
}

bool AuditTrail::enqueue(AuditEntry e) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(e));
    ++enqueued_;
  }
  wake_.notify_one();
  return true;
}

bool AuditTrail::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  wake_.notify_one();
  return drained_.wait_for(lock, timeout, [&] { return written_ >= target; });
}

uint64_t AuditTrail::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

uint64_t AuditTrail::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

void AuditTrail::run(std::stop_token stop) {
  name_this_thread("accrue-audit");
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait_for(lock, stop, std::chrono::milliseconds(200), [&] { return !queue_.empty(); });
    if (queue_.empty()) {
      if (stop.stop_requested()) return;
      continue;
    }
    const size_t n = std::min(kBatch, queue_.size());
    json::array rows;
    for (size_t i = 0; i < n; ++i) rows.push_back(row(queue_[i]));
    lock.unlock();
    Result<void> done;
    if (auto c = pool_.acquire()) {
      auto r = (*c)->query(kInsert, {pg::Param::text(json::serialize(rows))});
      if (!r) done = std::unexpected(r.error());
    } else {
      done = std::unexpected(c.error());
    }
    lock.lock();
    if (done) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      written_ += n;
      drained_.notify_all();
    } else {
      ++failures_;
      log(LogLevel::kWarn, "audit_write_failed",
          {{"entries", std::to_string(n)}, {"error", done.error().message}});
      if (stop.stop_requested()) return;
      // PostgreSQL is down: wait a bit (a stop ends the wait).
      wake_.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
    }
  }
}

}  // namespace accrue::cloud::hq
