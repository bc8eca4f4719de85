// A small fault-injecting TCP proxy between an agent and accrue-cloud, on 127.0.0.1 only.
// It passes bytes both ways, and on request:
//   - lose_upload_responses(n): the next n answers to POST /v1/sync/events are swallowed and the
//     connection closed, after the cloud has answered (so it has committed): the agent never
//     learns the outcome and must retry the same batch;
//   - reset_uploads(n): the next n uploads are cut off half-way through the request body and the
//     connection closed (the cloud never sees a whole batch);
//   - delay_upload_responses(n, d): the next n answers to uploads are held for d before they are
//     passed on (longer than the agent's timeout: it gives up on a batch the cloud committed);
//   - trickle(true): every byte both ways goes in 512-byte pieces, 2 ms apart;
//   - lose_redeem_responses(n): the same as lose_upload_responses, for POST /v1/sync/redeem and
//     POST /v1/sync/claim;
//   - delay_online_responses(n, d): answers to POST /v1/sync/redeem and /v1/sync/return held
//     for d, while other requests pass (the store downloads while its till waits; held longer
//     than the agent waits, the till's answer is decided without it);
//   - delay_lookup_responses(n, d): answers to GET /v1/sync/lookup held for d;
//   - requests("GET /v1/sync/lookup"): how many requests started with that line so far;
//   - set_down(true): every connection is cut and new ones are closed at once (a dead link);
//   - set_latency(d): every answer waits d before it is passed on;
//   - set_stalled(true): connections are still accepted, but no byte goes either way until
//     set_stalled(false) (a frozen server: it accepts, then never answers).
// The HTTP-aware faults only apply to an HTTP upstream; the others suit any TCP service (the
// cloud's PostgreSQL, say).
// One thread per direction per connection; every loop ends when the proxy is destroyed.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace accrue::testing {

class FaultProxy {
 public:
  explicit FaultProxy(uint16_t upstream_port) : upstream_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listen_fd_, 64);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    std::vector<std::thread> pumps;
    {
      std::lock_guard lock(mu_);  // not held while joining: a pump may be waiting for it
      pumps.swap(pumps_);
    }
    for (auto& t : pumps) t.join();
  }
  uint16_t port() const { return port_; }
  void lose_upload_responses(int n) { lose_ += n; }
  void reset_uploads(int n) { reset_ += n; }
  void delay_upload_responses(int n, std::chrono::milliseconds d) {
    delay_ms_ = static_cast<int>(d.count());
    delay_ += n;
  }
  void trickle(bool on) { trickle_ = on; }
  void lose_redeem_responses(int n) { lose_redeem_ += n; }
  void stop_losing() {
    lose_ = 0;
    lose_redeem_ = 0;
  }
  void delay_online_responses(int n, std::chrono::milliseconds d) {
    online_delay_ms_ = static_cast<int>(d.count());
    online_delay_ += n;
  }
  void delay_lookup_responses(int n, std::chrono::milliseconds d) {
    lookup_delay_ms_ = static_cast<int>(d.count());
    lookup_delay_ += n;
  }
  void set_down(bool down) {
    down_ = down;
    if (!down) return;
    std::lock_guard lock(mu_);
    for (auto& weak : links_) {
      if (auto l = weak.lock()) l->close_both();
    }
  }
  void set_latency(std::chrono::milliseconds d) { latency_ms_ = static_cast<int>(d.count()); }
  void set_stalled(bool stalled) { stalled_ = stalled; }
  int requests(const std::string& prefix) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& line : request_lines_) n += line.starts_with(prefix) ? 1 : 0;
    return n;
  }
  int lost() const { return lost_count_; }
  int resets() const { return reset_count_; }

 private:
  struct Link {
    int client = -1, upstream = -1;
    std::atomic<bool> upload_in_flight{false};
    std::atomic<bool> redeem_in_flight{false};
    std::atomic<bool> lookup_in_flight{false};
    std::atomic<bool> online_in_flight{false};  // a redemption or a return
    std::atomic<bool> closed{false};
    void close_both() {
      if (closed.exchange(true)) return;
      ::shutdown(client, SHUT_RDWR);
      ::shutdown(upstream, SHUT_RDWR);
    }
    ~Link() {
      ::close(client);
      ::close(upstream);
    }
  };

  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }

  // Reads with a 100 ms poll so every pump notices stop_.
  ssize_t read_some(int fd, char* buf, size_t n) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r < 0) return -1;
      if (r == 0) continue;
      return ::recv(fd, buf, n, 0);
    }
    return -1;
  }

  bool forward(int fd, const char* buf, size_t n) {
    while (stalled_ && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!trickle_) return ::send(fd, buf, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
    for (size_t off = 0; off < n; off += 512) {
      const size_t len = std::min<size_t>(512, n - off);
      if (::send(fd, buf + off, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  void accept_loop() {
    while (!stop_) {
      int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c < 0) return;
      if (down_) {
        ::close(c);
        continue;
      }
      int u = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = loopback(upstream_);
      if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(u);
        ::close(c);
        continue;
      }
      auto link = std::make_shared<Link>();
      link->client = c;
      link->upstream = u;
      std::lock_guard lock(mu_);
      links_.push_back(link);
      pumps_.emplace_back([this, link] { to_upstream(*link); });
      pumps_.emplace_back([this, link] { to_client(*link); });
    }
  }

  void to_upstream(Link& l) {
    char buf[65536];
    for (;;) {
      ssize_t n = read_some(l.client, buf, sizeof buf);
      if (n <= 0) break;
      std::string_view chunk(buf, static_cast<size_t>(n));
      if (chunk.starts_with("GET ") || chunk.starts_with("POST ")) {
        std::lock_guard lock(mu_);
        request_lines_.emplace_back(chunk.substr(0, chunk.find('\r')));
        l.redeem_in_flight =
            chunk.starts_with("POST /v1/sync/redeem") || chunk.starts_with("POST /v1/sync/claim");
        l.lookup_in_flight = chunk.starts_with("GET /v1/sync/lookup");
        l.online_in_flight =
            chunk.starts_with("POST /v1/sync/redeem") || chunk.starts_with("POST /v1/sync/return");
      }
      if (chunk.starts_with("POST /v1/sync/events")) {
        l.upload_in_flight = true;
        if (reset_ > 0) {
          --reset_;
          ++reset_count_;
          // Half of what arrived, then the line goes dead.
          (void)::send(l.upstream, buf, static_cast<size_t>(n) / 2, MSG_NOSIGNAL);
          break;
        }
      } else if (chunk.starts_with("GET ") || chunk.starts_with("POST ")) {
        l.upload_in_flight = false;
      }
      if (!forward(l.upstream, buf, static_cast<size_t>(n))) break;
    }
    l.close_both();
  }

  void to_client(Link& l) {
    char buf[65536];
    for (;;) {
      ssize_t n = read_some(l.upstream, buf, sizeof buf);
      if (n <= 0) break;
      if (l.upload_in_flight && lose_ > 0) {
        --lose_;
        ++lost_count_;
        break;  // the cloud answered (and committed); the agent never hears it
      }
      if (l.redeem_in_flight && lose_redeem_ > 0) {
        --lose_redeem_;
        ++lost_count_;
        break;
      }
      if (l.online_in_flight && online_delay_ > 0) {
        --online_delay_;
        std::this_thread::sleep_for(std::chrono::milliseconds(online_delay_ms_.load()));
      }
      if (l.lookup_in_flight && lookup_delay_ > 0) {
        --lookup_delay_;
        std::this_thread::sleep_for(std::chrono::milliseconds(lookup_delay_ms_.load()));
      }
      if (latency_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency_ms_));
      if (l.upload_in_flight && delay_ > 0) {
        --delay_;
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
      }
      if (!forward(l.client, buf, static_cast<size_t>(n))) break;
    }
    l.close_both();
  }

  uint16_t upstream_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> lose_{0}, reset_{0}, lost_count_{0}, reset_count_{0}, delay_{0}, delay_ms_{0};
  std::atomic<int> lose_redeem_{0}, lookup_delay_{0}, lookup_delay_ms_{0};
  std::atomic<int> online_delay_{0}, online_delay_ms_{0};
  std::atomic<bool> trickle_{false};
  std::atomic<bool> down_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<int> latency_ms_{0};
  std::vector<std::weak_ptr<Link>> links_;
  std::vector<std::string> request_lines_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace accrue::testing
