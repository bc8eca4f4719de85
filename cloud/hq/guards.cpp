#include "cloud/hq/guards.h"

#include <algorithm>
#include <charconv>

namespace accrue::cloud::hq {

namespace {

// Adds the replica's count and sets the window's expiry on its first count; answers the total.
constexpr const char* kAddScript =
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "if v == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return v";

constexpr int64_t kSyncEveryMs = 100;
constexpr int64_t kInProgressMs = 60'000;  // a claim whose request died frees itself after this

}  // namespace

RateLimiter::Decision RateLimiter::admit(const std::string& client, std::string_view kind,
                                         int64_t limit) {
  const int64_t now = clock_.now_ms();
  const int64_t minute = now / 60'000;
  const std::string id = std::string(kind) + ":" + client;
  int64_t to_send = 0;
  Decision d;
  d.limit = limit;
  {
    std::lock_guard lock(mu_);
    if (windows_.size() > 100'000) windows_.clear();  // bounded: a flood of subjects
    Window& w = windows_[id];
    if (w.minute != minute) w = Window{minute, 0, 0, 0};
    ++w.local;
    const int64_t used = w.shared + w.local;
    if (used > limit) {
      --w.local;  // a refused request does not count
      d.allowed = false;
      d.retry_after_s = std::max<int64_t>(1, (minute + 1) * 60 - now / 1000);
      return d;
    }
    d.remaining = limit - used;
    if (now - w.synced_ms >= kSyncEveryMs || w.local >= std::max<int64_t>(1, limit / 10)) {
      to_send = w.local;
      w.local = 0;
      w.synced_ms = now;
      w.shared += to_send;  // ours, at least, until Redis tells the total
    }
  }
  if (to_send == 0 || !redis_.configured()) return d;
  const std::string key = prefix_ + "rl:" + id + ":" + std::to_string(minute);
  auto r = redis_.command({"EVAL", kAddScript, "1", key, std::to_string(to_send), "61000"});
  if (r && (*r)->type == REDIS_REPLY_INTEGER) {
    std::lock_guard lock(mu_);
    Window& w = windows_[id];
    if (w.minute == minute) w.shared = std::max(w.shared, static_cast<int64_t>((*r)->integer));
    d.remaining = std::max<int64_t>(0, limit - w.shared - w.local);
  }
  return d;
}

void RateLimiter::refund(const std::string& client, std::string_view kind) {
  const std::string id = std::string(kind) + ":" + client;
  int64_t minute = -1;
  {
    std::lock_guard lock(mu_);
    auto it = windows_.find(id);
    if (it == windows_.end()) return;
    if (it->second.local > 0) {
      --it->second.local;
      return;
    }
    if (it->second.shared <= 0) return;
    --it->second.shared;  // already added to the shared count: take it back there too
    minute = it->second.minute;
  }
  if (redis_.configured()) {
    (void)redis_.command({"DECR", prefix_ + "rl:" + id + ":" + std::to_string(minute)});
  }
}

bool IdempotencyStore::valid_key(std::string_view key) {
  return !key.empty() && key.size() <= 255 &&
         std::ranges::all_of(key, [](char c) { return c > ' ' && c <= '~'; });
}

std::string IdempotencyStore::redis_key(const std::string& client, const std::string& key) const {
  return prefix_ + "idem:" + client + ":" + key;
}

namespace {

// fingerprint \n status \n content type \n location \n body
std::string encode(const std::string& fingerprint, const IdempotencyStore::Stored& s) {
  return fingerprint + "\n" + std::to_string(s.status) + "\n" + s.content_type + "\n" + s.location +
         "\n" + s.body;
}

std::optional<std::pair<std::string, IdempotencyStore::Stored>> decode(std::string_view v) {
  std::string_view parts[4];
  for (auto& p : parts) {
    auto nl = v.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    p = v.substr(0, nl);
    v.remove_prefix(nl + 1);
  }
  IdempotencyStore::Stored s;
  auto [ptr, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), s.status);
  if (ec != std::errc()) return std::nullopt;
  s.content_type = parts[2];
  s.location = parts[3];
  s.body = v;
  return std::make_pair(std::string(parts[0]), std::move(s));
}

}  // namespace

Result<IdempotencyStore::ClaimResult> IdempotencyStore::claim(const std::string& client,
                                                              const std::string& key,
                                                              const std::string& fingerprint) {
  if (!redis_.configured()) {
    return fail(ErrorCode::kUnavailable,
                "Idempotency-Key needs Redis, which this server is not configured with");
  }
  const std::string k = redis_key(client, key);
  for (int attempt = 0; attempt < 2; ++attempt) {
    ACCRUE_ASSIGN_OR_RETURN(auto set, redis_.command({"SET", k, "~" + fingerprint, "NX", "PX",
                                                      std::to_string(kInProgressMs)}));
    if (set->type == REDIS_REPLY_STATUS) return ClaimResult{Claim::kClaimed, {}};
    ACCRUE_ASSIGN_OR_RETURN(auto got, redis_.command({"GET", k}));
    if (got->type != REDIS_REPLY_STRING) continue;  // expired in between: claim again
    std::string_view v(got->str, got->len);
    if (v.starts_with("~")) {
      return ClaimResult{v.substr(1) == fingerprint ? Claim::kInProgress : Claim::kMismatch, {}};
    }
    auto d = decode(v);
    if (!d) return fail(ErrorCode::kUnavailable, "Idempotency-Key: the stored response is damaged");
    if (d->first != fingerprint) return ClaimResult{Claim::kMismatch, {}};
    return ClaimResult{Claim::kReplay, std::move(d->second)};
  }
  return fail(ErrorCode::kUnavailable, "Idempotency-Key: could not claim the key; retry");
}

void IdempotencyStore::complete(const std::string& client, const std::string& key,
                                const std::string& fingerprint, const Stored& response) {
  (void)redis_.command({"SET", redis_key(client, key), encode(fingerprint, response), "EX",
                        std::to_string(ttl_.count())});
}

void IdempotencyStore::release(const std::string& client, const std::string& key) {
  (void)redis_.command({"DEL", redis_key(client, key)});
}

}  // namespace accrue::cloud::hq
