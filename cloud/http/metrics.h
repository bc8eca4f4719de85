// Prometheus text-format metrics without locks on the request path: each route owns a RouteStats
// of atomics (counts by status class, a latency histogram); everything else (pool, cache, ingest)
// registers a writer that appends its own lines when /metrics is scraped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace accrue::cloud::http {

inline constexpr std::array<double, 12> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

struct RouteStats {
  std::array<std::atomic<uint64_t>, 6> by_class{};  // index status / 100 (1xx..5xx)
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets{};  // last: +Inf
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_us{0};

  void record(unsigned status, std::chrono::microseconds latency);
};

// Appends Prometheus text lines to the string.
using MetricsWriter = std::function<void(std::string&)>;

class MetricsRegistry {
 public:
  void add(MetricsWriter w) {
    std::lock_guard lock(mu_);
    writers_.push_back(std::move(w));
  }
  void render(std::string& out) const {
    std::lock_guard lock(mu_);
    for (const auto& w : writers_) w(out);
  }

 private:
  mutable std::mutex mu_;
  std::vector<MetricsWriter> writers_;
};

// Helpers for writers: one HELP/TYPE header, and one sample line.
void metric_header(std::string& out, const char* name, const char* type, const char* help);
void metric_sample(std::string& out, const char* name, const std::string& labels, double value);
// A metric with one unlabelled sample: its header, then the sample.
void metric_one(std::string& out, const char* name, const char* type, const char* help,
                double value);

}  // namespace accrue::cloud::http
