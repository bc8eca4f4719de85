// The HTTP/1.1 server: Boost.Beast on Asio with keep-alive. I/O threads own the sockets; handlers
// run on a separate, fixed pool of worker threads because they block on PostgreSQL and Redis, so a
// slow query never stalls the sockets of other requests. Every read and write has a deadline, the
// header and the body have size limits, the number of connections and of requests in the workers
// are capped (beyond them: the longest-waiting idle connection is closed to make room, or the new
// one when every connection has a request in hand / 503 with Retry-After).
//
// Lifecycle: start() binds and runs; drain() stops accepting, lets in-flight requests finish and
// closes idle keep-alive connections; stop() ends everything. Thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cloud/http/router.h"

namespace accrue::cloud::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (tests)
  size_t io_threads = 1;
  size_t workers = 16;
  size_t max_connections = 10000;
  size_t max_in_flight = 4096;  // requests queued for or running in the workers
  size_t header_limit = 16 * 1024;
  size_t body_limit = 8 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30'000};  // for a request once it has begun
  std::chrono::milliseconds idle_timeout{75'000};  // keep-alive: waiting for the next request
  std::chrono::milliseconds write_timeout{30'000};
  bool access_log = true;
  // TLS (and mutual TLS when the context verifies peers); null: plain HTTP.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

struct ServerStats {
  uint64_t connections = 0;  // open now
  uint64_t in_flight = 0;    // requests in the workers now
  uint64_t accepted = 0;
  uint64_t refused_connections = 0;  // beyond max_connections
  uint64_t shed = 0;                 // 503 because max_in_flight was reached
  uint64_t evicted_connections = 0;  // idle ones closed at the cap to make room
};

class Server {
 public:
  Server(ServerOptions options, const Router& router);
  ~Server();

  // Binds and starts the threads. kUnavailable when the address cannot be bound.
  Result<void> start();
  uint16_t port() const { return port_; }
  // Stops accepting; waits up to `grace` for in-flight requests; closes idle connections.
  void drain(std::chrono::milliseconds grace);
  void stop();
  bool draining() const { return draining_.load(); }
  // New connections use `tls` from now on (a reloaded certificate or CRL); open ones keep
  // theirs. Only for a server started with TLS.
  void replace_tls(std::shared_ptr<boost::asio::ssl::context> tls) {
    std::atomic_store(&options_.tls, std::move(tls));
  }
  ServerStats stats() const;
  // Prometheus lines for the routes and the server itself.
  void render_metrics(std::string& out) const;

  struct Shared;  // state the sessions share (defined in server.cpp)

 private:
  void accept();

  ServerOptions options_;
  const Router& router_;
  boost::asio::io_context ioc_;
  // Keeps the I/O threads running while a request is in the workers and nothing else is pending
  // (after drain() closed the acceptor, for one): its response still has to be written.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      ioc_.get_executor()};
  boost::asio::thread_pool workers_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  uint16_t port_ = 0;
};

}  // namespace accrue::cloud::http
