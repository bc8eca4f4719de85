// accrue-loadgen: the case study's load test, done honestly. Many keep-alive HTTP/1.1 connections
// on Asio, a weighted mix of endpoints filled with customer ids from a CSV, closed loop or a fixed
// arrival rate (open model: latency is measured from when a request was due, so a slow server
// cannot hide queueing), ramp-up, per-request timeouts, errors by class, and HDR-style
// histograms per endpoint and over time. Bounded in time and count; talks to this machine only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/load/loadgen/histogram.h"

namespace accrue::loadgen {

// One request template: `path` may hold "{id}", replaced by a customer id from the CSV.
struct Endpoint {
  std::string name;
  int weight = 1;
  std::string path;
};

struct Target {
  std::string host;     // as written (for the Host header)
  std::string address;  // numeric loopback address to connect to
  uint16_t port = 80;
  std::string base_path;  // prefix before every endpoint path, without a trailing '/'
};

struct Options {
  Target target;
  std::vector<Endpoint> endpoints;
  std::vector<std::string> customers;  // ids for "{id}"
  std::string token;                   // bearer token, optional
  int connections = 100;
  double ramp_up_s = 0;      // connection k opens at ramp_up * k / connections
  double duration_s = 10;    // after ramp-up ends
  int64_t max_requests = 0;  // 0: no count bound (the duration still holds)
  double rate = 0;           // requests per second over all connections; 0: closed loop
  std::chrono::milliseconds timeout{5000};
  int threads = 2;
  bool check_bodies = false;  // 2xx bodies must be JSON objects whose customer_id is the one asked
  double interval_s = 0;      // timeline resolution; 0: chosen from the duration
  uint64_t seed = 1;
};

// The hard bounds of a run (every loop here is bounded).
inline constexpr double kMaxDurationS = 7200;
inline constexpr int kMaxConnections = 19000;  // under `ulimit -n` 20000

// Error classes, in report order.
// kHttpOther: an answer that is neither 2xx nor an error status (1xx, 3xx).
enum class ErrorClass { kConnect, kTimeout, kIo, kHttp4xx, kHttp5xx, kHttpOther, kBody, kCount };
const char* error_class_name(ErrorClass c);

using Hist = Histogram<7>;
using CoarseHist = Histogram<5>;  // per interval of the timeline

struct EndpointResult {
  Hist latency_us;
  std::array<int64_t, static_cast<size_t>(ErrorClass::kCount)> errors{};
  int64_t total_errors() const;
};

struct IntervalResult {
  CoarseHist latency_us;
  int64_t errors = 0;
};

struct RunResult {
  Options options;
  double elapsed_s = 0;   // from the first connection to the last answer
  double measured_s = 0;  // the window throughput is computed over (after ramp-up)
  double interval_s = 1;
  std::vector<EndpointResult> endpoints;  // as options.endpoints
  std::vector<IntervalResult> timeline;
  EndpointResult overall() const;
};

// "http://127.0.0.1:8080/prefix": only loopback hosts (127.0.0.0/8, ::1, localhost) are taken.
Result<Target> parse_target(const std::string& url);
// "status=40:/v1/customers/{id}/status,profile=30:/v1/customers/{id}".
Result<std::vector<Endpoint>> parse_mix(const std::string& spec);
// The case study's three operations: status 40%, profile 30%, transactions 30%.
std::vector<Endpoint> case_study_mix();
// A CSV whose first column holds customer ids; a header line "customer_id" is skipped.
Result<std::vector<std::string>> read_customers(const std::string& path, size_t max_rows);
Result<void> validate(const Options& o);

RunResult run(const Options& o);

std::string report_table(const RunResult& r);
std::string report_json(const RunResult& r);
std::string report_svg(const RunResult& r);

}  // namespace accrue::loadgen
