// The run: `threads` io_contexts, each driving its share of the connections as coroutines.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <numeric>
#include <random>
#include <thread>

#include "tests/load/loadgen/loadgen.h"

namespace accrue::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using asio::awaitable;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// What every connection shares.
struct Shared {
  explicit Shared(const Options& options) : o(options) {}
  const Options& o;
  Clock::time_point t0;       // the first connection opens
  Clock::time_point measure;  // ramp-up over: throughput counts from here
  Clock::time_point end;
  std::atomic<int64_t> next_slot{0};  // requests handed out (the open model's schedule)
  std::vector<int> pick;              // endpoint index by weight unit
  // Each endpoint's path split at "{id}" (has_id false: the whole path is in `before`).
  std::vector<std::pair<std::string, std::string>> path_parts;  // before/after "{id}"
  std::vector<bool> has_id;
  asio::ip::tcp::endpoint address;
  double interval_s = 1;
  size_t intervals = 1;
};

// Per thread: results without locks.
struct Local {
  std::vector<EndpointResult> endpoints;
  std::vector<IntervalResult> timeline;
  Clock::time_point last_answer{};
};

// Hands out the next request: its due time (open model) or now (closed loop); nullopt when the
// run is over (time or count).
std::optional<Clock::time_point> next_due(Shared& s) {
  const int64_t slot = s.next_slot.fetch_add(1, std::memory_order_relaxed);
  if (s.o.max_requests > 0 && slot >= s.o.max_requests) return std::nullopt;
  if (s.o.rate > 0) {
    const auto due =
        s.measure + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(slot) / s.o.rate));
    if (due >= s.end) return std::nullopt;
    return due;
  }
  const auto now = Clock::now();
  if (now >= s.end) return std::nullopt;
  return now;
}

bool body_ok(const std::string& body, const std::string& id) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return false;
  if (id.empty()) return true;
  const auto* cid = v.as_object().if_contains("customer_id");
  return cid && cid->is_string() && cid->as_string() == id;
}

awaitable<void> connection(Shared& s, Local& local, int index) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  const auto opens =
      s.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                 s.o.ramp_up_s * index / std::max(1, s.o.connections)));
  timer.expires_at(opens);
  co_await timer.async_wait(kNoThrow);

  std::mt19937_64 rng(s.o.seed * 1'000'003 + static_cast<uint64_t>(index));
  beast::tcp_stream stream(ex);
  beast::flat_buffer buffer;
  bool connected = false;
  std::string request;
  const std::string host_line =
      "Host: " + s.o.target.host + ":" + std::to_string(s.o.target.port) + "\r\n" +
      (s.o.token.empty() ? "" : "Authorization: Bearer " + s.o.token + "\r\n") + "\r\n";
  auto record_error = [&](size_t e, ErrorClass c) {
    ++local.endpoints[e].errors[static_cast<size_t>(c)];
    const auto at = std::chrono::duration<double>(Clock::now() - s.t0).count();
    const auto k = std::min(s.intervals - 1, static_cast<size_t>(at / s.interval_s));
    ++local.timeline[k].errors;
  };

  while (true) {
    auto due = next_due(s);
    if (!due) break;
    if (s.o.rate > 0 && *due > Clock::now()) {
      timer.expires_at(*due);
      co_await timer.async_wait(kNoThrow);
    }
    const size_t e = static_cast<size_t>(s.pick[rng() % s.pick.size()]);
    const auto& [before, after] = s.path_parts[e];
    std::string id;
    request.assign("GET ");
    request += s.o.target.base_path;
    request += before;
    if (s.has_id[e]) {
      id = s.o.customers[rng() % s.o.customers.size()];
      request += id;
      request += after;
    }
    request += " HTTP/1.1\r\n";
    request += host_line;

    // Latency counts from when the request was due (open model) or sent (closed loop).
    const auto started = s.o.rate > 0 ? *due : Clock::now();
    if (!connected) {
      stream.expires_after(s.o.timeout);
      auto [ec] = co_await stream.async_connect(s.address, kNoThrow);
      if (ec) {
        record_error(e, ec == beast::error::timeout ? ErrorClass::kTimeout : ErrorClass::kConnect);
        stream.close();
        timer.expires_after(std::chrono::milliseconds(50));  // no busy loop on a refused port
        co_await timer.async_wait(kNoThrow);
        continue;
      }
      stream.socket().set_option(asio::ip::tcp::no_delay(true));
      connected = true;
      buffer.clear();
    }
    stream.expires_after(s.o.timeout);
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), kNoThrow);
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    boost::system::error_code rec;
    if (!wec) {
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      rec = ec;
    }
    const auto ec = wec ? wec : rec;
    if (ec) {
      record_error(e, ec == beast::error::timeout ? ErrorClass::kTimeout : ErrorClass::kIo);
      stream.close();
      connected = false;
      continue;
    }
    const auto done = Clock::now();
    local.last_answer = std::max(local.last_answer, done);
    auto& res = parser.get();
    const unsigned status = res.result_int();
    if (status >= 500) {
      record_error(e, ErrorClass::kHttp5xx);
    } else if (status >= 400) {
      record_error(e, ErrorClass::kHttp4xx);
    } else if (status < 200 || status >= 300) {
      record_error(e, ErrorClass::kHttpOther);
    } else if (s.o.check_bodies && !body_ok(res.body(), id)) {
      record_error(e, ErrorClass::kBody);
    } else {
      // The timeline shows the ramp-up too; the summary counts from its end.
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(done - started).count();
      if (done >= s.measure) local.endpoints[e].latency_us.record(us);
      const auto at = std::chrono::duration<double>(done - s.t0).count();
      local.timeline[std::min(s.intervals - 1, static_cast<size_t>(at / s.interval_s))]
          .latency_us.record(us);
    }
    if (!res.keep_alive()) {
      stream.close();
      connected = false;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream.close();
}

}  // namespace

RunResult run(const Options& o) {
  Shared s(o);
  // One slot per weight unit, after dividing the weights by their greatest common divisor.
  int divisor = 0;
  for (const auto& e : o.endpoints) divisor = std::gcd(divisor, e.weight);
  for (size_t i = 0; i < o.endpoints.size(); ++i) {
    for (int w = 0; w < o.endpoints[i].weight / divisor; ++w) {
      s.pick.push_back(static_cast<int>(i));
    }
    const auto& p = o.endpoints[i].path;
    const auto at = p.find("{id}");
    s.has_id.push_back(at != std::string::npos);
    s.path_parts.emplace_back(at == std::string::npos ? p : p.substr(0, at),
                              at == std::string::npos ? "" : p.substr(at + 4));
  }
  s.address = {asio::ip::make_address(o.target.address), o.target.port};
  const double total_s = o.ramp_up_s + o.duration_s;
  s.interval_s = o.interval_s > 0 ? o.interval_s : std::max(1.0, std::ceil(total_s / 600.0));
  s.intervals = static_cast<size_t>(std::ceil(total_s / s.interval_s)) + 1;
  s.t0 = Clock::now() + std::chrono::milliseconds(20);
  s.measure = s.t0 + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(o.ramp_up_s));
  s.end = s.measure +
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));

  std::vector<Local> locals(static_cast<size_t>(o.threads));
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int t = 0; t < o.threads; ++t) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    locals[static_cast<size_t>(t)].endpoints.resize(o.endpoints.size());
    locals[static_cast<size_t>(t)].timeline.resize(s.intervals);
  }
  for (int c = 0; c < o.connections; ++c) {
    const auto t = static_cast<size_t>(c % o.threads);
    asio::co_spawn(*contexts[t], connection(s, locals[t], c), asio::detached);
  }
  {
    std::vector<std::jthread> threads;
    for (auto& ctx : contexts) threads.emplace_back([&ctx] { ctx->run(); });
  }
  RunResult r;
  r.options = o;
  r.interval_s = s.interval_s;
  r.endpoints.resize(o.endpoints.size());
  r.timeline.resize(s.intervals);
  Clock::time_point last = s.t0;
  for (auto& l : locals) {
    for (size_t i = 0; i < l.endpoints.size(); ++i) {
      r.endpoints[i].latency_us.merge(l.endpoints[i].latency_us);
      for (size_t k = 0; k < r.endpoints[i].errors.size(); ++k)
        r.endpoints[i].errors[k] += l.endpoints[i].errors[k];
    }
    for (size_t k = 0; k < l.timeline.size(); ++k) {
      r.timeline[k].latency_us.merge(l.timeline[k].latency_us);
      r.timeline[k].errors += l.timeline[k].errors;
    }
    last = std::max(last, l.last_answer);
  }
  r.elapsed_s = std::chrono::duration<double>(last - s.t0).count();
  // Throughput over the measured window: from the end of ramp-up to the last answer (a
  // count-bounded run can end early).
  r.measured_s = std::max(
      1e-3, std::chrono::duration<double>(std::min(last, s.end + o.timeout) - s.measure).count());
  // Trim the timeline after the last answer.
  const auto used = static_cast<size_t>(r.elapsed_s / s.interval_s) + 1;
  if (used < r.timeline.size()) r.timeline.resize(used);
  return r;
}

}  // namespace accrue::loadgen
