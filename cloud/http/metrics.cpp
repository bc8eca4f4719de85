#include "cloud/http/metrics.h"

#include <cstdio>

namespace accrue::cloud::http {

void RouteStats::record(unsigned status, std::chrono::microseconds latency) {
  size_t cls = std::min<size_t>(status / 100, 5);
  by_class[cls].fetch_add(1, std::memory_order_relaxed);
  const double s = static_cast<double>(latency.count()) / 1e6;
  size_t i = 0;
  while (i < kLatencyBuckets.size() && s > kLatencyBuckets[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(static_cast<uint64_t>(latency.count()), std::memory_order_relaxed);
}

void metric_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void metric_sample(std::string& out, const char* name, const std::string& labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += buf;
  out += '\n';
}

void metric_one(std::string& out, const char* name, const char* type, const char* help,
                double value) {
  metric_header(out, name, type, help);
  metric_sample(out, name, "", value);
}

}  // namespace accrue::cloud::http
