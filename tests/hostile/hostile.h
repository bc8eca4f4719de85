// What the hostile-client suites share: the latency a legitimate client sees while an attack
// runs (a background loop, bounded in count and time), a process's peak resident memory, and
// enough file descriptors for thousands of connections (never above the machine's hard limit
// or 20000).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace accrue::testing {

// Memory ceilings are set for optimised builds; AddressSanitizer's shadow memory and its
// quarantine of freed blocks (256 MiB) multiply a process's footprint, so its builds allow more.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kRssAllowance = 4;
#else
inline constexpr long kRssAllowance = 1;
#endif

// Peak resident set (VmHWM) of `pid` in KiB; 0 when it cannot be read.
inline long peak_rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  }
  return 0;
}

// Raises this process's soft descriptor limit toward `want` (its children inherit it).
// Returns the limit now in force.
inline rlim_t raise_fd_limit(rlim_t want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  want = std::min<rlim_t>(want, 20000);
  if (rl.rlim_max != RLIM_INFINITY) want = std::min(want, rl.rlim_max);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// A legitimate client running `op` in a loop beside an attack: at most `max_ops` calls and
// `within` of time, `pause` between calls. `op` returns false for an error (no answer, or a
// wrong one).
class LegitClient {
 public:
  LegitClient(std::function<bool()> op, int max_ops = 100'000,
              std::chrono::milliseconds within = std::chrono::seconds(60),
              std::chrono::milliseconds pause = std::chrono::milliseconds(2))
      : op_(std::move(op)) {
    thread_ = std::thread([this, max_ops, within, pause] {
      const auto until = std::chrono::steady_clock::now() + within;
      // At least one call, however soon stop() comes: a short attack on a busy machine could
      // otherwise end before the thread ran, and a verdict needs a call to judge.
      for (int i = 0;
           i < max_ops && (i == 0 || (!stop_ && std::chrono::steady_clock::now() < until)); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = op_();
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        {
          std::lock_guard lock(mu_);
          latencies_us_.push_back(us);
          if (!ok) ++errors_;
          if (ok) ++served_;
        }
        std::this_thread::sleep_for(pause);
      }
    });
  }
  ~LegitClient() { stop(); }

  // Waits until the client has been served once (it then holds a connection that has spoken):
  // an attack aimed at clients already connected starts after this. False after `within`.
  bool wait_until_served(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lock(mu_);
        if (served_ > 0) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  struct Summary {
    size_t calls = 0;
    size_t errors = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
  };
  Summary stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    Summary s;
    s.calls = latencies_us_.size();
    s.errors = errors_;
    if (latencies_us_.empty()) return s;
    auto v = latencies_us_;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
      return static_cast<double>(v[std::min(
                 v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]) /
             1000.0;
    };
    s.p50_ms = at(0.50);
    s.p99_ms = at(0.99);
    s.max_ms = static_cast<double>(v.back()) / 1000.0;
    return s;
  }

 private:
  std::function<bool()> op_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<int64_t> latencies_us_;
  size_t errors_ = 0;
  size_t served_ = 0;
  std::thread thread_;
};

// One line per attack, the same shape in both suites, for docs/reliability.md.
inline void report(const char* suite, const std::string& attack, const LegitClient::Summary& s,
                   long rss_kib) {
  std::printf(
      "[hostile] %-6s %-46s legit calls=%zu errors=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms "
      "peak RSS=%.1f MiB\n",
      suite, attack.c_str(), s.calls, s.errors, s.p50_ms, s.p99_ms, s.max_ms,
      static_cast<double>(rss_kib) / 1024.0);
  std::fflush(stdout);
}

}  // namespace accrue::testing
