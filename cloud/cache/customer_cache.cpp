#include "cloud/cache/customer_cache.h"

namespace accrue::cloud::cache {
namespace {

constexpr const char* kGetScript =
    "local g = redis.call('GET', KEYS[1]) local e = redis.call('GET', KEYS[2]) "
    "return {g or '', e or ''}";
// A fill also renews the generation's lifetime, so a generation always outlives the entries
// stamped with it: were it to expire first, the next bump would restart the count at 1 and an
// old entry stamped "1" would look current.
constexpr const char* kFillScript =
    "if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then "
    "redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) "
    "if ARGV[1] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[4]) end return 1 end return 0";
constexpr const char* kBumpScript =
    "for _, k in ipairs(KEYS) do redis.call('INCR', k) redis.call('EXPIRE', k, ARGV[1]) end "
    "return #KEYS";
constexpr int kGenerationTtlS = 2 * 86400;  // longer than the longest entry ttl

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string gen_key(const std::string& prefix, const std::string& id) {
  return prefix + "gen:" + id;
}
std::string entry_key(const std::string& prefix, std::string_view kind, const std::string& id) {
  return prefix + std::string(kind) + ":" + id;
}

}  // namespace

CustomerCache::Lookup CustomerCache::get(std::string_view kind, const std::string& id) {
  Lookup out;
  if (!enabled()) return out;
  if (steady_ns() < bypass_until_ns_.load(std::memory_order_relaxed)) {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  auto r =
      redis_.command({"EVAL", kGetScript, "2", gen_key(prefix_, id), entry_key(prefix_, kind, id)});
  if (!r || (*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2) {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  out.reachable = true;
  out.generation.assign((*r)->element[0]->str, (*r)->element[0]->len);
  std::string_view entry((*r)->element[1]->str, (*r)->element[1]->len);
  // "<generation>\n<document>"
  auto nl = entry.find('\n');
  if (nl != std::string_view::npos && entry.substr(0, nl) == out.generation) {
    out.hit = std::string(entry.substr(nl + 1));
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
  }
  return out;
}

void CustomerCache::fill(std::string_view kind, const std::string& id, const Lookup& seen,
                         const std::string& document) {
  if (!enabled() || !seen.reachable) return;
  auto r =
      redis_.command({"EVAL", kFillScript, "2", gen_key(prefix_, id), entry_key(prefix_, kind, id),
                      seen.generation, seen.generation + "\n" + document,
                      std::to_string(ttl_.count()), std::to_string(kGenerationTtlS)});
  if (!r || (*r)->type != REDIS_REPLY_INTEGER) return;
  ((*r)->integer == 1 ? counters_.fills : counters_.refused_fills)
      .fetch_add(1, std::memory_order_relaxed);
}

bool CustomerCache::invalidate(const std::vector<std::string>& ids) {
  if (!enabled() || ids.empty()) return true;
  std::vector<std::string> argv = {"EVAL", kBumpScript, std::to_string(ids.size())};
  for (const auto& id : ids) argv.push_back(gen_key(prefix_, id));
  argv.push_back(std::to_string(kGenerationTtlS));
  auto r = redis_.command(argv);
  if (!r) {
    counters_.invalidation_failures.fetch_add(1, std::memory_order_relaxed);
    bypass_until_ns_.store(steady_ns() + std::chrono::nanoseconds(ttl_).count());
    return false;
  }
  counters_.invalidations.fetch_add(ids.size(), std::memory_order_relaxed);
  return true;
}

}  // namespace accrue::cloud::cache
