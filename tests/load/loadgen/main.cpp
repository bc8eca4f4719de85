// accrue-loadgen: see loadgen.h. Prints the table; --json and --svg write the other views.
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "common/sys/system.h"
#include "tests/load/loadgen/loadgen.h"

int main(int argc, char** argv) {
  using namespace accrue;
  using namespace accrue::loadgen;
  CLI::App app{
      "accrue-loadgen: keep-alive HTTP load against this machine, with latency percentiles per "
      "endpoint and over time"};
  std::string url = "http://127.0.0.1:8080", mix, customers_file, token, token_file, json_path,
              svg_path;
  Options o;
  int64_t timeout_ms = 5000;
  double fail_above_error_rate = -1;
  app.add_option("--url", url, "target: http://127.0.0.1:PORT[/prefix] (this machine only)")
      ->capture_default_str();
  app.add_option("--mix", mix,
                 "NAME=WEIGHT:PATH,... with {id} for a customer id (default: the case study's "
                 "status=40, profile=30, transactions=30)");
  app.add_option("--customers", customers_file, "CSV of customer ids (first column)");
  app.add_option("--token", token, "bearer token");
  app.add_option("--token-file", token_file, "file holding the bearer token");
  app.add_option("-c,--connections", o.connections, "concurrent keep-alive connections")
      ->capture_default_str();
  app.add_option("--ramp-up", o.ramp_up_s, "seconds over which the connections open")
      ->capture_default_str();
  app.add_option("-d,--duration", o.duration_s, "seconds measured after ramp-up")
      ->capture_default_str();
  app.add_option("-n,--requests", o.max_requests, "stop after this many requests (0: no limit)")
      ->capture_default_str();
  app.add_option("--rate", o.rate,
                 "requests/s over all connections (open model; latency counts from when a "
                 "request was due); 0: closed loop")
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "per request (and connect)")->capture_default_str();
  app.add_option("-t,--threads", o.threads, "I/O threads")->capture_default_str();
  app.add_flag("--check-bodies", o.check_bodies,
               "every 2xx body must be a JSON object with the customer_id asked for");
  app.add_option("--interval", o.interval_s, "timeline resolution in seconds (0: automatic)");
  app.add_option("--json", json_path, "write the result as JSON here");
  app.add_option("--svg", svg_path, "write latency and throughput over time as SVG here");
  app.add_option("--max-error-rate", fail_above_error_rate,
                 "exit 1 when errors / requests exceed this (e.g. 0 for none)");
  CLI11_PARSE(app, argc, argv);

  auto die = [](const std::string& m) {
    std::cerr << "accrue-loadgen: " << m << "\n";
    return 2;
  };
  auto target = parse_target(url);
  if (!target) return die(target.error().message);
  o.target = *target;
  if (mix.empty()) {
    o.endpoints = case_study_mix();
  } else {
    auto m = parse_mix(mix);
    if (!m) return die(m.error().message);
    o.endpoints = *m;
  }
  if (!customers_file.empty()) {
    auto c = read_customers(customers_file, 50'000'000);
    if (!c) return die(c.error().message);
    o.customers = std::move(*c);
  }
  if (!token_file.empty()) {
    auto t = read_secret_line(token_file, "--token-file");
    if (!t) return die(t.error().message);
    token = *t;
  }
  if (token.find_first_of("\r\n") != std::string::npos) return die("token: one line");
  o.token = token;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  if (auto v = validate(o); !v) return die(v.error().message);

  // Every connection is a descriptor: raise the soft limit as far as allowed.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 20000);
  setrlimit(RLIMIT_NOFILE, &nofile);
  if (static_cast<rlim_t>(o.connections) + 64 > nofile.rlim_cur) {
    return die("connections: ulimit -n allows " + std::to_string(nofile.rlim_cur) +
               " descriptors; lower --connections");
  }

  auto result = run(o);
  std::cout << report_table(result) << std::flush;
  if (!json_path.empty()) {
    std::ofstream(json_path) << report_json(result);
  }
  if (!svg_path.empty()) {
    std::ofstream(svg_path) << report_svg(result);
  }
  const auto all = result.overall();
  const auto total = all.latency_us.count() + all.total_errors();
  if (total == 0) {
    std::cerr << "accrue-loadgen: no request completed\n";
    return 1;
  }
  if (fail_above_error_rate >= 0 && static_cast<double>(all.total_errors()) >
                                        fail_above_error_rate * static_cast<double>(total)) {
    std::cerr << "accrue-loadgen: error rate above " << fail_above_error_rate << "\n";
    return 1;
  }
  return 0;
}
