// What the head-office gate costs each request before its handler runs: the per-client rate
// limiter's admit (the question: does limiting tax the hot reads?) beside the token check it
// sits next to (a remembered token: a hash lookup) and a signature check (a token seen first).
// One client for every request (all threads on one window: the worst contention) and 1,000
// clients. With ACCRUE_TEST_REDIS_HOST/PORT set the limiter shares its counts through that
// Redis (at most every 100 ms per client); without, it counts locally.
//   build/release/tests/hq_gate_bench [--benchmark_filter=...]
// Never fails on speed.
#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cloud/auth/jwt.h"
#include "cloud/cache/redis.h"
#include "cloud/hq/guards.h"
#include "common/sys/system.h"

namespace {

using namespace accrue;
using namespace accrue::cloud;

cache::Redis& redis() {
  static cache::Redis r([] {
    cache::RedisOptions o;
    if (const char* h = std::getenv("ACCRUE_TEST_REDIS_HOST")) o.host = h;
    if (const char* p = std::getenv("ACCRUE_TEST_REDIS_PORT")) {
      o.port = static_cast<uint16_t>(std::atoi(p));
    }
    return o;
  }());
  return r;
}

SystemClock& wall() {
  static SystemClock c;
  return c;
}

hq::RateLimiter& limiter() {
  static hq::RateLimiter l(redis(), "gatebench" + std::to_string(::getpid()) + ":", wall());
  return l;
}

void BM_RateLimiterAdmit(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  std::vector<std::string> names;
  for (int i = 0; i < clients; ++i) names.push_back("client-" + std::to_string(i));
  size_t k = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    auto d = limiter().admit(names[k++ % names.size()], "all", 100'000'000);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(std::getenv("ACCRUE_TEST_REDIS_HOST") ? "shared through Redis"
                                                       : "local counts (no Redis)");
}
BENCHMARK(BM_RateLimiterAdmit)->Arg(1)->Arg(1000)->Threads(1)->Threads(2)->UseRealTime();

struct Tokens {
  Tokens() {
    std::filesystem::create_directories(dir);
    auto keys = auth::make_dev_keys("bench");
    std::ofstream(jwks()) << keys->jwks_json;
    verifier.emplace(*auth::JwtVerifier::load(jwks(), "https://bench", "accrue"));
    for (int i = 0; i < 64; ++i) {
      boost::json::object claims{{"iss", "https://bench"},
                                 {"aud", "accrue"},
                                 {"sub", "client-" + std::to_string(i)},
                                 {"exp", wall().now_ms() / 1000 + 3600},
                                 {"roles", boost::json::array{"hq-analyst"}}};
      tokens.push_back(
          *auth::sign_es256(keys->private_pem, "bench", boost::json::serialize(claims)));
    }
  }
  ~Tokens() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string jwks() const { return (dir / "jwks.json").string(); }
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("accrue-gate-bench-" + std::to_string(::getpid()));
  std::optional<auth::JwtVerifier> verifier;
  std::vector<std::string> tokens;
};

Tokens& tokens() {
  static Tokens t;
  return t;
}

void BM_TokenRemembered(benchmark::State& state) {
  auto& t = tokens();
  size_t k = 0;
  for (auto _ : state) {
    auto p = t.verifier->verify(t.tokens[k++ % t.tokens.size()], wall().now_ms());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_TokenRemembered)->Threads(1)->Threads(2)->UseRealTime();

void BM_TokenSignatureCheck(benchmark::State& state) {
  auto& t = tokens();
  size_t k = 0;
  for (auto _ : state) {
    // A verifier that has remembered nothing (loading it is not timed): the signature check.
    state.PauseTiming();
    auto fresh = *auth::JwtVerifier::load(t.jwks(), "https://bench", "accrue");
    state.ResumeTiming();
    auto p = fresh.verify(t.tokens[k++ % t.tokens.size()], wall().now_ms());
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_TokenSignatureCheck)->Iterations(2000);

}  // namespace

BENCHMARK_MAIN();
