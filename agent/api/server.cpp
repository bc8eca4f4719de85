#include "agent/api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "agent/api/framing.h"
#include "common/sys/connection_table.h"

namespace accrue::agent {

namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
using tcp_proto = asio::ip::tcp;

struct Server::Shared {
  std::vector<asio::io_context*> contexts;  // where new connections go, round-robin
  std::atomic<size_t> next_context{0};
  std::atomic<size_t> connections{0};
  std::atomic<size_t> max_connections{0};
  std::atomic<int64_t> idle_timeout_ms{0};
  std::atomic<int64_t> frame_timeout_ms{0};
  std::mutex mu;  // accepting against stopping
  bool stopping = false;
  ConnectionTable table;  // live connections: making room at the cap, closing on stop()
  std::shared_ptr<local_stream::acceptor> local;
  std::shared_ptr<tcp_proto::acceptor> tcp;
};

namespace {

template <typename Socket>
class Session final : public Evictable, public std::enable_shared_from_this<Session<Socket>> {
 public:
  Session(Socket socket, AgentService& service, const ServerOptions& options,
          std::shared_ptr<Server::Shared> shared)
      : socket_(std::move(socket)),
        strand_(asio::make_strand(socket_.get_executor())),
        timer_(strand_),
        service_(service),
        decoder_(options.max_frame),
        shared_(std::move(shared)) {
    watch_input(socket_.native_handle());
    if constexpr (std::is_same_v<Socket, local_stream::socket>) {
      // The operator operations: the peer runs as the agent's own user, or as root.
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        caller_.operator_rights = cred.uid == 0 || cred.uid == ::geteuid();
      }
    }
  }

  ~Session() override { uncount(); }

  void start() {
    asio::dispatch(strand_, [self = this->shared_from_this()] {
      self->arm_idle_timer();
      self->read();
    });
  }

  // Counted out at once (the cap is exact); the close follows on the connection's strand. One
  // whose request reached the service meanwhile is answered first, then closed.
  void evict() override {
    uncount();
    asio::dispatch(strand_, [self = this->shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

  // Closes the connection once the request in flight (if any) is answered.
  void close_when_idle() override {
    asio::dispatch(strand_, [self = this->shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->close();
    });
  }

 private:
  // Between frames the idle timeout runs; once a frame has begun, the frame deadline (it is not
  // pushed back by each byte, so trickling cannot keep a connection forever).
  void uncount() {
    if (counted_.exchange(false)) --shared_->connections;
  }

  void arm_idle_timer() {
    const bool in_frame = decoder_.buffered() > 0;
    if (in_frame && frame_started_) return;  // the frame's deadline is already running
    frame_started_ = in_frame;
    timer_.expires_after(std::chrono::milliseconds(in_frame ? shared_->frame_timeout_ms.load()
                                                            : shared_->idle_timeout_ms.load()));
    timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (ec || self->busy_ || self->closed_) return;
      if (self->frame_started_) {
        // Say why before closing, in the framing the client chose.
        self->framing_error_ = true;
        return self->send(AgentService::error_response(
            "", {ErrorCode::kDeadlineExceeded,
                 "the request did not arrive whole within " +
                     std::to_string(self->shared_->frame_timeout_ms.load()) + " ms"}));
      }
      self->close();
    });
  }

  void read() {
    if (closing_) return close();
    socket_.async_read_some(
        asio::buffer(chunk_),
        asio::bind_executor(
            strand_, [self = this->shared_from_this()](boost::system::error_code ec, size_t n) {
              if (ec) return self->close();
              self->mark_spoke();
              self->decoder_.feed(std::string_view(self->chunk_.data(), n));
              self->process();
              if (!self->busy_ && !self->closed_) self->arm_idle_timer();
            }));
  }

  // Takes the next complete frame, if any, and answers it; reads more otherwise.
  void process() {
    if (busy_ || closed_) return;
    auto frame = decoder_.next();
    if (!frame) {
      // The stream is broken (oversized frame): answer once, then close.
      framing_error_ = true;
      return send(AgentService::error_response("", frame.error()));
    }
    if (!*frame) return read();
    frame_started_ = false;  // whole: the next frame's deadline starts with its first byte
    auto request = decode_request(decoder_.framing(), **frame);
    if (!request) {
      return send(AgentService::error_response(salvage_request_id(decoder_.framing(), **frame),
                                               request.error()));
    }
    busy_ = true;
    waiting_since_.store(0, std::memory_order_relaxed);
    service_.handle(
        *request,
        [self = this->shared_from_this()](pos::v1::Response response) {
          // Reads answer right here, on the connection's strand: dispatch sends at once. Writes
          // answer on the writer thread: dispatch then queues the send onto the strand.
          asio::dispatch(self->strand_, [self, response = std::move(response)]() mutable {
            self->send(std::move(response));
          });
        },
        caller_);
  }

  void send(pos::v1::Response response) {
    busy_ = true;
    out_ = encode_response(
        decoder_.framing() == Framing::kUndecided ? Framing::kBinary : decoder_.framing(),
        response);
    asio::async_write(socket_, asio::buffer(out_),
                      asio::bind_executor(strand_, [self = this->shared_from_this()](
                                                       boost::system::error_code ec, size_t) {
                        self->busy_ = false;
                        self->waiting_since_.store(now_ticks(), std::memory_order_relaxed);
                        if (ec || self->framing_error_ || self->closing_) return self->close();
                        // A timer that fired while the request was in flight was ignored: the
                        // idle time starts again now.
                        self->arm_idle_timer();
                        self->process();
                      }));
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
  }

  Socket socket_;
  asio::strand<typename Socket::executor_type> strand_;
  asio::steady_timer timer_;
  AgentService& service_;
  FrameDecoder decoder_;
  std::shared_ptr<Server::Shared> shared_;
  Caller caller_;
  std::array<char, 16384> chunk_{};
  std::string out_;
  bool busy_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool framing_error_ = false;
  bool frame_started_ = false;       // the timer is the deadline of a frame that has begun
  std::atomic<bool> counted_{true};  // still in shared_->connections
};

template <typename Acceptor, typename Socket>
void accept_loop(std::shared_ptr<Acceptor> acceptor, AgentService& service,
                 const ServerOptions& options, std::shared_ptr<Server::Shared> shared) {
  auto& context = *shared->contexts[shared->next_context++ % shared->contexts.size()];
  acceptor->async_accept(
      context, [=, &service, &options](boost::system::error_code ec, Socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
          std::lock_guard lock(shared->mu);
          if (shared->stopping) return;
          if (shared->connections.load() >= shared->max_connections.load() &&
              !shared->table.make_room()) {
            // Over the limit: refuse politely in the binary framing, then close.
            auto busy = AgentService::error_response(
                "", {ErrorCode::kResourceExhausted, "too many connections to the agent; retry"});
            auto bytes = std::make_shared<std::string>(encode_response(Framing::kBinary, busy));
            auto sock = std::make_shared<Socket>(std::move(socket));
            asio::async_write(*sock, asio::buffer(*bytes),
                              [sock, bytes](boost::system::error_code, size_t) {
                                boost::system::error_code ignored;
                                sock->close(ignored);
                              });
          } else {
            ++shared->connections;
            auto session =
                std::make_shared<Session<Socket>>(std::move(socket), service, options, shared);
            shared->table.add(session);
            session->start();
          }
        }
        accept_loop<Acceptor, Socket>(acceptor, service, options, shared);
      });
}

}  // namespace

Server::Server(std::vector<asio::io_context*> contexts, AgentService& service,
               ServerOptions options)
    : io_(*contexts.front()),
      service_(service),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()) {
  shared_->contexts = std::move(contexts);
  set_limits(options_.max_connections, options_.idle_timeout, options_.frame_timeout);
}

void Server::set_limits(size_t max_connections, std::chrono::milliseconds idle_timeout,
                        std::chrono::milliseconds frame_timeout) {
  shared_->max_connections.store(max_connections);
  shared_->idle_timeout_ms.store(idle_timeout.count());
  shared_->frame_timeout_ms.store(frame_timeout.count());
}

Server::~Server() { stop(); }

Result<void> Server::start() {
  boost::system::error_code ec;
  if (!options_.unix_path.empty()) {
    // A socket file left by an agent that is gone is replaced; one a live agent answers on is
    // never taken over (it may be another replica's agent given the same path).
    if (std::filesystem::exists(options_.unix_path)) {
      local_stream::socket probe(io_);
      probe.connect(local_stream::endpoint(options_.unix_path), ec);
      if (!ec) {
        return fail(ErrorCode::kAlreadyExists,
                    "socket " + options_.unix_path +
                        " is in use by a running accrue-agent: stop it, or give this agent "
                        "another socket");
      }
      ec.clear();
      ::unlink(options_.unix_path.c_str());
    }
    auto acceptor = std::make_shared<local_stream::acceptor>(io_);
    acceptor->open(local_stream(), ec);
    if (!ec) acceptor->bind(local_stream::endpoint(options_.unix_path), ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(ErrorCode::kUnavailable,
                  "cannot listen on " + options_.unix_path + ": " + ec.message());
    }
    if (::chmod(options_.unix_path.c_str(), static_cast<mode_t>(options_.unix_mode)) != 0) {
      return fail(ErrorCode::kUnavailable, "cannot set the mode of " + options_.unix_path);
    }
    shared_->local = acceptor;
    accept_loop<local_stream::acceptor, local_stream::socket>(acceptor, service_, options_,
                                                              shared_);
  }
  if (options_.tcp_port) {
    auto acceptor = std::make_shared<tcp_proto::acceptor>(io_);
    tcp_proto::endpoint ep(asio::ip::address_v4::loopback(), *options_.tcp_port);
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(
          ErrorCode::kUnavailable,
          "cannot listen on 127.0.0.1:" + std::to_string(*options_.tcp_port) + ": " + ec.message());
    }
    bound_tcp_port_ = acceptor->local_endpoint().port();
    shared_->tcp = acceptor;
    accept_loop<tcp_proto::acceptor, tcp_proto::socket>(acceptor, service_, options_, shared_);
  }
  return {};
}

size_t Server::connections() const { return shared_->connections.load(); }
uint64_t Server::evicted_connections() const { return shared_->table.evicted(); }

void Server::stop() {
  std::shared_ptr<local_stream::acceptor> local;
  std::shared_ptr<tcp_proto::acceptor> tcp_acceptor;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopping) return;
    shared_->stopping = true;
    local = std::move(shared_->local);
    tcp_acceptor = std::move(shared_->tcp);
  }
  asio::post(io_, [local, tcp_acceptor] {
    boost::system::error_code ignored;
    if (local) local->close(ignored);
    if (tcp_acceptor) tcp_acceptor->close(ignored);
  });
  // No connection is added once stopping is set: the table is complete.
  shared_->table.close_when_idle(/*forget=*/true);
  if (local && !options_.unix_path.empty()) ::unlink(options_.unix_path.c_str());
}

}  // namespace accrue::agent
