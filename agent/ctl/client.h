// A blocking client of the till API for accruectl, tests and benchmarks: one connection, binary
// or JSON-lines framing, a timeout on every call. Not thread-safe (one per thread).
#pragma once

#include <chrono>
#include <string>

#include "accrue/pos/v1/pos.pb.h"
#include "agent/api/framing.h"
#include "common/error.h"

namespace accrue::ctl {

class AgentClient {
 public:
  static Result<AgentClient> connect_unix(const std::string& path,
                                          agent::Framing framing = agent::Framing::kBinary);
  static Result<AgentClient> connect_tcp(uint16_t port,
                                         agent::Framing framing = agent::Framing::kBinary);
  AgentClient(AgentClient&& o) noexcept;
  AgentClient& operator=(AgentClient&&) = delete;
  ~AgentClient();

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // Sends `request` and waits for its response. kUnavailable when the agent is unreachable or
  // closed the connection; kDeadlineExceeded on timeout (the connection is then unusable).
  Result<pos::v1::Response> call(const pos::v1::Request& request);
  // Raw access for tests of broken clients.
  Result<void> send_bytes(std::string_view bytes);
  Result<pos::v1::Response> read_response();
  // The next answer's payload as it came (a JSON line without its newline, or a binary frame's
  // bytes), in framing().
  Result<std::string> read_frame();
  agent::Framing framing() const { return decoder_.framing(); }
  // true when the agent has closed the connection (reads EOF within the timeout).
  bool closed_by_peer();

 private:
  AgentClient(int fd, agent::Framing framing) : fd_(fd), framing_(framing) {}
  Result<void> fill();  // reads more bytes into the decoder

  int fd_ = -1;
  agent::Framing framing_;
  agent::FrameDecoder decoder_{1 << 24};
  std::chrono::milliseconds timeout_{5000};
};

}  // namespace accrue::ctl
