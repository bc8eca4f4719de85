#include "cloud/cache/redis.h"

namespace accrue::cloud::cache {
namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000),
          static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

Redis::~Redis() {
  for (auto* c : idle_) redisFree(c);
}

redisContext* Redis::take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto* c = idle_.back();
      idle_.pop_back();
      return c;
    }
  }
  timeval tv = to_timeval(options_.timeout);
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
  if (c == nullptr) return nullptr;
  if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

void Redis::give(redisContext* c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < options_.max_idle) {
    idle_.push_back(c);
  } else {
    redisFree(c);
  }
}

void Redis::trip() {
  errors_.fetch_add(1, std::memory_order_relaxed);
  open_after_.store(steady_ns() + std::chrono::nanoseconds(options_.cooldown).count());
}

Result<Reply> Redis::command(const std::vector<std::string>& argv) {
  if (!configured()) return fail(ErrorCode::kUnavailable, "redis is not configured");
  if (steady_ns() < open_after_.load()) {
    return fail(ErrorCode::kUnavailable, "redis is cooling down after a failure");
  }
  redisContext* c = take();
  if (c == nullptr) {
    trip();
    return fail(ErrorCode::kUnavailable, "redis is unreachable");
  }
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
  if (raw == nullptr || c->err != 0) {
    if (raw) freeReplyObject(raw);
    redisFree(c);  // a timed-out connection may still receive the old answer: never reuse it
    trip();
    return fail(ErrorCode::kUnavailable, "redis did not answer in time");
  }
  give(c);
  Reply reply(raw, &freeReplyObject);
  if (reply->type == REDIS_REPLY_ERROR) {
    return fail(ErrorCode::kUnavailable, "redis: " + std::string(reply->str, reply->len));
  }
  return reply;
}

}  // namespace accrue::cloud::cache
