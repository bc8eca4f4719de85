// The agent's listeners (a unix socket and, optionally, 127.0.0.1:PORT) and their connections.
// Each connection is served in order: one request is answered before the next one is read, so
// responses always come back in request order. Limits: frame size, connection count (at the cap
// the longest-idle connection makes room for the new one), idle
// timeout, and a deadline for each frame once its first byte has arrived (a client trickling
// bytes, or one that never finishes a frame, cannot hold a connection slot beyond it). A broken
// stream is answered (when possible) and closed; nothing a client sends can crash the agent or
// leave a partial write.
#pragma once

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/service.h"

namespace accrue::agent {

struct ServerOptions {
  std::string unix_path = "/run/accrue/agent.sock";
  unsigned unix_mode = 0660;
  std::optional<uint16_t> tcp_port;  // 127.0.0.1 only
  size_t max_connections = 256;
  size_t max_frame = 1 << 20;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds frame_timeout{10'000};
};

class Server {
 public:
  // Connections are spread round-robin over `contexts`, each run by one thread, so a
  // connection's work never hops between threads; the listeners run on the first.
  Server(std::vector<boost::asio::io_context*> contexts, AgentService& service,
         ServerOptions options);
  ~Server();

  // Binds and starts accepting. Errors name the address (socket in use, no permission ...).
  Result<void> start();
  // Stops accepting and closes idle connections; connections with a request in flight close
  // after answering it.
  void stop();
  size_t connections() const;
  // Idle connections closed at the cap to make room for new ones (see make_room).
  uint64_t evicted_connections() const;
  // Changes the connection cap and the timeouts under running connections (SIGHUP). A lower cap
  // closes nobody: it refuses new connections until the count falls below it. The timeouts
  // apply from each connection's next read.
  void set_limits(size_t max_connections, std::chrono::milliseconds idle_timeout,
                  std::chrono::milliseconds frame_timeout);
  // The TCP port actually bound (for tcp_port = 0 in tests); 0 when TCP is off.
  uint16_t tcp_port() const { return bound_tcp_port_; }

  struct Shared;

 private:
  boost::asio::io_context& io_;  // the listeners' context
  AgentService& service_;
  ServerOptions options_;
  std::shared_ptr<Shared> shared_;
  uint16_t bound_tcp_port_ = 0;
};

}  // namespace accrue::agent
