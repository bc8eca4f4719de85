#include "cloud/http/server.h"

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <random>

#include "common/sys/connection_table.h"
#include "common/sys/log.h"

namespace accrue::cloud::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Server::Shared {
  const ServerOptions& options;
  const Router& router;
  asio::thread_pool& workers;
  const std::atomic<bool>& draining;
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> shed{0};
  ConnectionTable connections_table;  // for making room at the cap and closing idle ones on drain
};

namespace {

std::string make_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  uint64_t v = rng();
  for (auto& c : id) {
    c = kHex[v & 15];
    v >>= 4;
  }
  return id;
}

// A caller's X-Request-Id is kept when it is short and printable (it goes into logs).
bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c <= ' ' || c > '~' || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

// One connection, plain (beast::tcp_stream) or TLS (beast::ssl_stream over it). Everything runs
// on the connection's strand; the handler runs on a worker and posts its response back.
template <class Stream>
class Session : public Evictable, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

 public:
  Session(tcp::socket socket, std::shared_ptr<Server::Shared> shared) requires(!kTls)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    watch_input(lowest().socket().native_handle());
  }
  // The session keeps its TLS context: a reload may replace the server's meanwhile.
  Session(tcp::socket socket, std::shared_ptr<Server::Shared> shared,
          std::shared_ptr<asio::ssl::context> tls) requires(kTls)
      : tls_(std::move(tls)), stream_(std::move(socket), *tls_), shared_(std::move(shared)) {
    watch_input(lowest().socket().native_handle());
  }
  ~Session() override { uncount(); }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (kTls) {
        self->lowest().expires_after(self->shared_->options.read_timeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->lowest().close();
          self->tls_store_id_ = self->peer_common_name();
          self->read();
        });
      } else {
        self->read();
      }
    });
  }

  // Counted out at once (the cap is exact); the socket closes on the connection's strand.
  void evict() override {
    uncount();
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->evicted_ = true;  // a request that began meanwhile is answered, then the close
      if (!self->busy_) self->lowest().close();
    });
  }

  void close_when_idle() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) {
        beast::error_code ec;
        self->lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
        self->lowest().close();
      }
    });
  }

 private:
  void read() {
    const auto& o = shared_->options;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(o.header_limit));
    parser_->body_limit(o.body_limit);
    lowest().expires_after(served_ == 0 ? o.read_timeout : o.idle_timeout);
    busy_ = false;
    waiting_since_.store(now_ticks(), std::memory_order_relaxed);
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    namespace h = beast::http;
    if (ec == h::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == asio::error::bad_descriptor) {
      return close();
    }
    busy_ = true;
    waiting_since_.store(0, std::memory_order_relaxed);
    mark_spoke();  // a complete request: a client
    started_ = Clock::now();
    if (ec) {
      // Broken framing: answer once, then close (the stream position is lost).
      Request dummy;
      dummy.version(11);
      dummy.keep_alive(false);
      RequestContext ctx;
      ctx.request_id = make_request_id();
      bhttp::status st = bhttp::status::bad_request;
      std::string detail = "malformed HTTP request: " + ec.message();
      if (ec == h::error::body_limit) {
        st = bhttp::status::payload_too_large;
        detail =
            "the request body exceeds " + std::to_string(shared_->options.body_limit) + " bytes";
      } else if (ec == h::error::header_limit) {
        st = bhttp::status::request_header_fields_too_large;
        detail = "the request headers exceed " + std::to_string(shared_->options.header_limit) +
                 " bytes";
      }
      Response res = problem(dummy, ctx, st, detail);
      res.keep_alive(false);
      shared_->router.unmatched().record(static_cast<unsigned>(res.result_int()),
                                         std::chrono::microseconds(0));
      return write(std::move(res), "-", ctx.request_id);
    }
    request_ = parser_->release();
    dispatch();
  }

  void dispatch() {
    auto ctx = std::make_shared<RequestContext>();
    auto rid = request_["X-Request-Id"];
    ctx->request_id = acceptable_request_id(rid) ? std::string(rid) : make_request_id();
    auto m = shared_->router.match(request_.method(), request_.target());
    if (!m.route) {
      Response res =
          m.method_not_allowed
              ? problem(request_, *ctx, bhttp::status::method_not_allowed,
                        "this resource does not support " + std::string(request_.method_string()))
              : problem(request_, *ctx, bhttp::status::not_found,
                        "no such resource: " + std::string(path_of(request_.target())));
      shared_->router.unmatched().record(static_cast<unsigned>(res.result_int()), elapsed());
      return write(std::move(res), "-", ctx->request_id);
    }
    ctx->route = m.route->name;
    ctx->tls_store_id = tls_store_id_;
    ctx->params = std::move(m.params);
    if (shared_->in_flight.fetch_add(1) >= shared_->options.max_in_flight) {
      shared_->in_flight.fetch_sub(1);
      shared_->shed.fetch_add(1);
      Response res = problem(request_, *ctx, bhttp::status::service_unavailable,
                             "the server is at capacity; retry shortly");
      m.route->stats->record(503, elapsed());
      return write(std::move(res), m.route->name, ctx->request_id);
    }
    const Route* route = m.route;
    asio::post(shared_->workers, [self = shared_from_this(), route, ctx] {
      Response res;
      try {
        res = route->handler(self->request_, *ctx);
      } catch (const std::exception& e) {
        log(LogLevel::kError, "handler_exception",
            {{"route", route->name}, {"request_id", ctx->request_id}, {"what", e.what()}});
        res = problem(self->request_, *ctx, bhttp::status::internal_server_error,
                      "internal error; the request id is in the server log");
      }
      if (ctx->stream && res.result() == bhttp::status::ok) {
        // Stays in flight until the last chunk is written.
        asio::post(self->stream_.get_executor(),
                   [self, res = std::move(res), route, ctx]() mutable {
                     self->write_streamed(std::move(res), route, ctx);
                   });
        return;
      }
      self->shared_->in_flight.fetch_sub(1);
      route->stats->record(static_cast<unsigned>(res.result_int()), self->elapsed());
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res), name = route->name, rid = ctx->request_id]() mutable {
                   self->write(std::move(res), name, rid);
                 });
    });
  }

  // A chunked response: the header, then each chunk the context's stream gives (pulled on a
  // worker, written here), then the last chunk. Keep-alive holds only if the body ended well.
  void write_streamed(Response res, const Route* route, std::shared_ptr<RequestContext> ctx) {
    stream_head_ = std::make_unique<beast::http::response<beast::http::empty_body>>(res.result(),
                                                                                    res.version());
    for (const auto& f : res) stream_head_->set(f.name_string(), f.value());
    stream_head_->set("X-Request-Id", ctx->request_id);
    stream_head_->chunked(true);
    stream_head_->keep_alive(res.keep_alive() && !shared_->draining.load() && !evicted_);
    stream_serializer_ =
        std::make_unique<beast::http::response_serializer<beast::http::empty_body>>(*stream_head_);
    lowest().expires_after(shared_->options.write_timeout);
    beast::http::async_write_header(
        stream_, *stream_serializer_,
        [self = shared_from_this(), route, ctx](beast::error_code ec, size_t) {
          if (ec) return self->end_stream(route, ctx, false, "writing the header: " + ec.message());
          self->next_chunk(route, ctx);
        });
  }

  void next_chunk(const Route* route, std::shared_ptr<RequestContext> ctx) {
    asio::post(shared_->workers, [self = shared_from_this(), route, ctx] {
      Result<std::optional<std::string>> chunk;
      try {
        chunk = ctx->stream();
      } catch (const std::exception& e) {
        chunk = std::unexpected(Error{ErrorCode::kInternal, e.what()});
      }
      asio::post(
          self->stream_.get_executor(), [self, route, ctx, chunk = std::move(chunk)]() mutable {
            if (!chunk) return self->end_stream(route, ctx, false, chunk.error().message);
            self->lowest().expires_after(self->shared_->options.write_timeout);
            if (!*chunk) {
              asio::async_write(self->stream_, beast::http::make_chunk_last(),
                                [self, route, ctx](beast::error_code ec, size_t) {
                                  self->end_stream(route, ctx, !ec, ec ? ec.message() : "");
                                });
              return;
            }
            self->chunk_ = std::move(**chunk);
            if (self->chunk_.empty())
              return self->next_chunk(route, ctx);  // an empty chunk ends a body
            asio::async_write(self->stream_, beast::http::make_chunk(asio::buffer(self->chunk_)),
                              [self, route, ctx](beast::error_code ec, size_t) {
                                if (ec) return self->end_stream(route, ctx, false, ec.message());
                                self->next_chunk(route, ctx);
                              });
          });
    });
  }

  void end_stream(const Route* route, const std::shared_ptr<RequestContext>& ctx, bool ok,
                  const std::string& error) {
    shared_->in_flight.fetch_sub(1);
    route->stats->record(200, elapsed());
    if (shared_->options.access_log || !ok) {
      log(ok ? LogLevel::kInfo : LogLevel::kWarn, ok ? "request" : "stream_failed",
          {{"method", std::string(request_.method_string())},
           {"route", route->name},
           {"status", "200"},
           {"us", std::to_string(elapsed().count())},
           {"request_id", ctx->request_id},
           {"error", error}});
    }
    const bool keep = ok && stream_head_->keep_alive();
    stream_serializer_.reset();
    stream_head_.reset();
    chunk_.clear();
    chunk_.shrink_to_fit();
    request_ = {};
    ++served_;
    if (!keep) return close();
    read();
  }

  std::chrono::microseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
  }

  void write(Response res, std::string route, std::string request_id) {
    res.set("X-Request-Id", request_id);
    if (shared_->draining.load() || evicted_) res.keep_alive(false);
    if (shared_->options.access_log) {
      log(LogLevel::kInfo, "request",
          {{"method", std::string(request_.method_string())},
           {"route", std::move(route)},
           {"status", std::to_string(res.result_int())},
           {"us", std::to_string(elapsed().count())},
           {"request_id", std::move(request_id)}});
    }
    response_ = std::make_unique<Response>(std::move(res));
    lowest().expires_after(shared_->options.write_timeout);
    beast::http::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    bool keep = !ec && response_->keep_alive();
    response_.reset();
    request_ = {};
    ++served_;
    if (!keep) return close();
    read();
  }

  // Lingering close: stop sending, then read and discard what the client still sends (the rest
  // of an oversized body, say) until it closes too, so the kernel does not answer its data with
  // a reset that could destroy our response before the client has read it. Bounded in bytes
  // and time.
  void close() {
    if constexpr (kTls) {
      // close_notify, bounded in time, then the socket.
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = shared_from_this()](beast::error_code) { self->lowest().close(); });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return stream_.close();
      stream_.expires_after(std::chrono::seconds(2));
      linger(0);
    }
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  void uncount() {
    if (counted_.exchange(false)) shared_->connections.fetch_sub(1);
  }

  // The common name of a verified client certificate ("" without one).
  std::string peer_common_name() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      if (SSL_get_verify_result(ssl) != X509_V_OK) return "";
      X509* peer = SSL_get1_peer_certificate(ssl);
      if (peer == nullptr) return "";
      char cn[256] = {0};
      int n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      X509_free(peer);
      return n > 0 ? std::string(cn, static_cast<size_t>(n)) : "";
    } else {
      return "";
    }
  }

  void linger(size_t discarded) {
    if (discarded > 4 * 1024 * 1024) return stream_.close();
    if (!sink_) sink_ = std::make_unique<std::array<char, 16384>>();
    stream_.async_read_some(asio::buffer(*sink_),
                            [self = shared_from_this(), discarded](beast::error_code ec, size_t n) {
                              if (ec) return self->stream_.close();
                              self->linger(discarded + n);
                            });
  }

  std::shared_ptr<asio::ssl::context> tls_;  // before stream_: it must outlive it
  Stream stream_;
  std::string tls_store_id_;
  std::shared_ptr<Server::Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  Request request_;
  std::unique_ptr<Response> response_;
  std::unique_ptr<beast::http::response<beast::http::empty_body>> stream_head_;
  std::unique_ptr<beast::http::response_serializer<beast::http::empty_body>> stream_serializer_;
  std::string chunk_;
  std::unique_ptr<std::array<char, 16384>> sink_;
  Clock::time_point started_;
  uint64_t served_ = 0;
  bool busy_ = false;
  bool evicted_ = false;
  std::atomic<bool> counted_{true};  // still in shared_->connections
};

Server::Server(ServerOptions options, const Router& router)
    : options_(std::move(options)),
      router_(router),
      workers_(options_.workers),
      acceptor_(asio::make_strand(ioc_)) {
  shared_ = std::make_shared<Shared>(options_, router_, workers_, draining_);
}

Server::~Server() { stop(); }

Result<void> Server::start() {
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.address, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "bad listen address: " + options_.address);
  tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(ErrorCode::kUnavailable, "cannot listen on " + options_.address + ":" +
                                             std::to_string(options_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  for (size_t i = 0; i < std::max<size_t>(1, options_.io_threads); ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return {};
}

void Server::accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      // Out of descriptors and the like: keep accepting after the others have had a chance.
      return accept();
    }
    shared_->accepted.fetch_add(1);
    if (draining_.load() || (shared_->connections.load() >= options_.max_connections &&
                             !shared_->connections_table.make_room())) {
      shared_->refused.fetch_add(1);
      beast::error_code ignore;
      s.close(ignore);
      return accept();
    }
    s.set_option(tcp::no_delay(true));
    shared_->connections.fetch_add(1);
    auto keep = [&](auto session) {
      shared_->connections_table.add(session);
      session->start();
    };
    if (auto tls = std::atomic_load(&options_.tls)) {
      keep(std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(s), shared_,
                                                                           std::move(tls)));
    } else {
      keep(std::make_shared<Session<beast::tcp_stream>>(std::move(s), shared_));
    }
    accept();
  });
}

void Server::drain(std::chrono::milliseconds grace) {
  if (draining_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  auto deadline = Clock::now() + grace;
  // Idle connections close now; busy ones close after their response.
  for (;;) {
    shared_->connections_table.close_when_idle();
    if (shared_->connections.load() == 0 || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Server::stop() {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  workers_.join();
}

ServerStats Server::stats() const {
  return {shared_->connections.load(), shared_->in_flight.load(),
          shared_->accepted.load(),    shared_->refused.load(),
          shared_->shed.load(),        shared_->connections_table.evicted()};
}

void Server::render_metrics(std::string& out) const {
  metric_header(out, "accrue_http_requests_total", "counter",
                "HTTP requests answered, by route and status class");
  auto cls_label = [](size_t c) { return std::to_string(c) + "xx"; };
  auto each_route = [&](auto&& fn) {
    for (const auto& r : router_.routes()) fn(r->name, *r->stats);
    fn(std::string("unmatched"), router_.unmatched());
  };
  each_route([&](const std::string& name, const RouteStats& s) {
    for (size_t c = 1; c < s.by_class.size(); ++c) {
      auto v = s.by_class[c].load(std::memory_order_relaxed);
      if (v == 0) continue;
      metric_sample(out, "accrue_http_requests_total",
                    "route=\"" + name + "\",code=\"" + cls_label(c) + "\"", static_cast<double>(v));
    }
  });
  metric_header(out, "accrue_http_request_duration_seconds", "histogram",
                "Time from a request's arrival to its response, by route");
  each_route([&](const std::string& name, const RouteStats& s) {
    uint64_t cum = 0;
    for (size_t i = 0; i < s.buckets.size(); ++i) {
      cum += s.buckets[i].load(std::memory_order_relaxed);
      char le[32];
      if (i < kLatencyBuckets.size()) {
        std::snprintf(le, sizeof le, "%g", kLatencyBuckets[i]);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      metric_sample(out, "accrue_http_request_duration_seconds_bucket",
                    "route=\"" + name + "\",le=\"" + le + "\"", static_cast<double>(cum));
    }
    metric_sample(out, "accrue_http_request_duration_seconds_sum", "route=\"" + name + "\"",
                  static_cast<double>(s.sum_us.load()) / 1e6);
    metric_sample(out, "accrue_http_request_duration_seconds_count", "route=\"" + name + "\"",
                  static_cast<double>(s.count.load()));
  });
  auto st = stats();
  metric_one(out, "accrue_http_in_flight_requests", "gauge", "Requests in the workers now",
             static_cast<double>(st.in_flight));
  metric_one(out, "accrue_http_open_connections", "gauge", "Open client connections",
             static_cast<double>(st.connections));
  metric_one(out, "accrue_http_shed_requests_total", "counter",
             "Requests answered 503 because the workers were at capacity",
             static_cast<double>(st.shed));
  metric_one(out, "accrue_http_refused_connections_total", "counter",
             "Connections closed at accept because of the connection cap or a drain",
             static_cast<double>(st.refused_connections));
  metric_one(out, "accrue_http_evicted_connections_total", "counter",
             "Connections waiting for a request, closed at the cap to make room for new ones",
             static_cast<double>(st.evicted_connections));
}

}  // namespace accrue::cloud::http
