#include "agent/ctl/client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace accrue::ctl {

Result<AgentClient> AgentClient::connect_unix(const std::string& path, agent::Framing framing) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return fail(ErrorCode::kInvalidArgument, "socket path too long: " + path);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorCode::kUnavailable, std::string("socket: ") + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return fail(ErrorCode::kUnavailable,
                "cannot reach the agent at " + path + ": " + std::strerror(e));
  }
  return AgentClient(fd, framing);
}

Result<AgentClient> AgentClient::connect_tcp(uint16_t port, agent::Framing framing) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorCode::kUnavailable, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    return fail(ErrorCode::kUnavailable, "cannot reach the agent at 127.0.0.1:" +
                                             std::to_string(port) + ": " + std::strerror(e));
  }
  return AgentClient(fd, framing);
}

AgentClient::AgentClient(AgentClient&& o) noexcept
    : fd_(o.fd_), framing_(o.framing_), decoder_(std::move(o.decoder_)), timeout_(o.timeout_) {
  o.fd_ = -1;
}

AgentClient::~AgentClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> AgentClient::send_bytes(std::string_view bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kUnavailable, std::string("send: ") + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  return {};
}

Result<void> AgentClient::fill() {
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeout_.count()));
  if (rc == 0) return fail(ErrorCode::kDeadlineExceeded, "the agent did not answer in time");
  if (rc < 0) return fail(ErrorCode::kUnavailable, std::string("poll: ") + std::strerror(errno));
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n == 0) return fail(ErrorCode::kUnavailable, "the agent closed the connection");
  if (n < 0) return fail(ErrorCode::kUnavailable, std::string("recv: ") + std::strerror(errno));
  decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
  return {};
}

Result<std::string> AgentClient::read_frame() {
  for (;;) {
    ACCRUE_ASSIGN_OR_RETURN(auto frame, decoder_.next());
    if (frame) return std::move(*frame);
    ACCRUE_TRY(fill());
  }
}

Result<pos::v1::Response> AgentClient::read_response() {
  ACCRUE_ASSIGN_OR_RETURN(auto frame, read_frame());
  return agent::decode_response(decoder_.framing(), frame);
}

Result<pos::v1::Response> AgentClient::call(const pos::v1::Request& request) {
  ACCRUE_TRY(send_bytes(agent::encode_request(framing_, request)));
  // The agent answers in our framing; prime the decoder with it (JSON starts with '{').
  return read_response();
}

bool AgentClient::closed_by_peer() {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
  char c;
  const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK);
  return n == 0 || (n < 0 && errno == ECONNRESET);  // a reset: closed with our bytes unread
}

}  // namespace accrue::ctl
