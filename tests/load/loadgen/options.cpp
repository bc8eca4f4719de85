#include <arpa/inet.h>

#include <charconv>
#include <fstream>

#include "tests/load/loadgen/loadgen.h"

namespace accrue::loadgen {

const char* error_class_name(ErrorClass c) {
  switch (c) {
    case ErrorClass::kConnect:
      return "connect";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kIo:
      return "io";
    case ErrorClass::kHttp4xx:
      return "http_4xx";
    case ErrorClass::kHttp5xx:
      return "http_5xx";
    case ErrorClass::kHttpOther:
      return "http_other";
    case ErrorClass::kBody:
      return "body";
    case ErrorClass::kCount:
      break;
  }
  return "?";
}

int64_t EndpointResult::total_errors() const {
  int64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

EndpointResult RunResult::overall() const {
  EndpointResult all;
  for (const auto& e : endpoints) {
    all.latency_us.merge(e.latency_us);
    for (size_t i = 0; i < all.errors.size(); ++i) all.errors[i] += e.errors[i];
  }
  return all;
}

Result<Target> parse_target(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return fail(ErrorCode::kInvalidArgument, "url: must start with http:// (got \"" + url + "\")");
  }
  std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  Target t;
  if (slash != std::string::npos) {
    t.base_path = rest.substr(slash);
    rest.resize(slash);
    while (t.base_path.ends_with('/')) t.base_path.pop_back();
  }
  std::string host = rest, port;
  if (rest.starts_with('[')) {  // [::1]:8080
    const auto close = rest.find(']');
    if (close == std::string::npos) return fail(ErrorCode::kInvalidArgument, "url: bad [host]");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  t.port = 80;
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      return fail(ErrorCode::kInvalidArgument, "url: port must be 1..65535 (got \"" + port + "\")");
    }
    t.port = static_cast<uint16_t>(p);
  }
  t.host = rest.starts_with('[') ? "[" + host + "]" : host;
  if (host == "localhost") {
    t.address = "127.0.0.1";
  } else {
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) {
      t.address = host;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6)) {
      t.address = host;
    } else {
      return fail(ErrorCode::kInvalidArgument,
                  "url: only this machine is a target (127.0.0.0/8, ::1 or localhost); got \"" +
                      host + "\"");
    }
  }
  return t;
}

std::vector<Endpoint> case_study_mix() {
  return {{"status", 40, "/v1/customers/{id}/status"},
          {"profile", 30, "/v1/customers/{id}"},
          {"transactions", 30, "/v1/customers/{id}/transactions?limit=10"}};
}

Result<std::vector<Endpoint>> parse_mix(const std::string& spec) {
  std::vector<Endpoint> out;
  size_t at = 0;
  while (at <= spec.size()) {
    const auto comma = spec.find(',', at);
    const std::string item =
        spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    const auto eq = item.find('='), colon = item.find(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq || eq == 0) {
      return fail(ErrorCode::kInvalidArgument,
                  "mix: each item is NAME=WEIGHT:PATH, e.g. status=40:/v1/customers/{id}/status "
                  "(got \"" +
                      item + "\")");
    }
    Endpoint e;
    e.name = item.substr(0, eq);
    const std::string w = item.substr(eq + 1, colon - eq - 1);
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), e.weight);
    if (ec != std::errc() || end != w.data() + w.size() || e.weight < 1 || e.weight > 1000000) {
      return fail(ErrorCode::kInvalidArgument,
                  "mix: " + e.name + ": weight must be 1..1000000 (got \"" + w + "\")");
    }
    e.path = item.substr(colon + 1);
    if (!e.path.starts_with('/') || e.path.find_first_of(" \r\n\t") != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  "mix: " + e.name + ": path must start with '/' and hold no spaces");
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) return fail(ErrorCode::kInvalidArgument, "mix: no endpoints");
  return out;
}

Result<std::vector<std::string>> read_customers(const std::string& path, size_t max_rows) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kNotFound, "customers: cannot open " + path);
  std::vector<std::string> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string id = line.substr(0, line.find(','));
    if (line_no == 1 && id == "customer_id") continue;
    if (id.empty()) continue;
    if (id.size() > 64 || id.find_first_of("/?#% \t\"") != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  "customers: " + path + ":" + std::to_string(line_no) +
                      ": not a customer id (1-64 characters, none of / ? # % space or quote)");
    }
    if (out.size() >= max_rows) {
      return fail(ErrorCode::kInvalidArgument,
                  "customers: " + path + " has more than " + std::to_string(max_rows) + " rows");
    }
    out.push_back(std::move(id));
  }
  return out;
}

Result<void> validate(const Options& o) {
  if (o.endpoints.empty()) return fail(ErrorCode::kInvalidArgument, "no endpoints");
  int64_t weights = 0;
  for (const auto& e : o.endpoints) weights += e.weight;
  if (weights > 1'000'000) {
    return fail(ErrorCode::kInvalidArgument, "mix: the weights add up to more than 1000000");
  }
  bool needs_ids = false;
  for (const auto& e : o.endpoints) needs_ids |= e.path.find("{id}") != std::string::npos;
  if (needs_ids && o.customers.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "the mix uses {id}: give --customers FILE with at least one id");
  }
  if (o.connections < 1 || o.connections > kMaxConnections) {
    return fail(ErrorCode::kInvalidArgument, "connections: 1.." + std::to_string(kMaxConnections));
  }
  if (!(o.duration_s > 0) || o.duration_s + o.ramp_up_s > kMaxDurationS || o.ramp_up_s < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "duration must be > 0 and ramp-up + duration at most " +
                    std::to_string(static_cast<int>(kMaxDurationS)) + " s");
  }
  if (o.max_requests < 0) return fail(ErrorCode::kInvalidArgument, "requests: >= 0");
  if (o.rate < 0 || o.rate > 10'000'000) return fail(ErrorCode::kInvalidArgument, "rate: 0..1e7");
  if (o.threads < 1 || o.threads > 64) return fail(ErrorCode::kInvalidArgument, "threads: 1..64");
  if (o.timeout.count() < 1 || o.timeout.count() > 600'000) {
    return fail(ErrorCode::kInvalidArgument, "timeout: 1..600000 ms");
  }
  return {};
}

}  // namespace accrue::loadgen
