// The live connections of a server, and who makes room when it is full. The agent's socket API
// and the cloud's HTTP server keep the same rule: at the cap, the connection that has waited
// longest for a request (an idle keep-alive or till, a client that connected and said nothing,
// one trickling its request) is closed to make room, so idle sockets cannot lock out the clients
// that have work. A request being handled is never cut; when every connection has one, the
// newcomer is refused. Connections that never showed they are clients go before those that did,
// each kind longest-waiting first: a flood of silent sockets then evicts itself. A connection
// whose bytes wait unread in its socket has spoken too: a till that connected and sent its sale
// while the server was busy accepting a flood is a client, not a silent socket.
//
// Thread-safe. A connection is held weakly: one that has ended is forgotten as the table goes.
#pragma once

#include <sys/ioctl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

namespace accrue {

// A connection the table can rank and close. The server's session sets `waiting_since_` while it
// waits for (or still receives) a request and 0 while one is being handled, and `spoke_` once
// it has shown it is a client.
class Evictable {
 public:
  virtual ~Evictable() = default;
  // At the cap: closed at once unless its request is being handled by then.
  virtual void evict() = 0;
  // On drain or stop: a connection waiting for its next request is closed now; a busy one after
  // its response.
  virtual void close_when_idle() = 0;
  // Who goes first at the cap (lowest first; 0: not evictable, its request is being handled).
  int64_t eviction_rank() const {
    const int64_t since = waiting_since_.load(std::memory_order_relaxed);
    if (since == 0) return 0;
    return since + (spoke() ? (int64_t{1} << 61) : 0);
  }
  bool spoke() const { return spoke_.load(std::memory_order_relaxed); }
  void mark_spoke() { spoke_.store(true, std::memory_order_relaxed); }
  // Whether unread bytes wait in the connection's socket. Asked from the accepting thread, not
  // the connection's strand: once the connection has closed, its descriptor number may belong to
  // another socket, and the answer only misranks a connection that is going anyway.
  virtual bool input_waiting() const {
    const int fd = fd_.load(std::memory_order_relaxed);
    int unread = 0;
    return fd >= 0 && ::ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
  }

 protected:
  // The session names its socket's descriptor once, when it is created.
  void watch_input(int fd) { fd_.store(fd, std::memory_order_relaxed); }
  static int64_t now_ticks() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
  // Since when the connection has been without a request being handled (steady-clock ticks).
  std::atomic<int64_t> waiting_since_{now_ticks()};
  std::atomic<bool> spoke_{false};

 private:
  std::atomic<int> fd_{-1};
};

class ConnectionTable {
 public:
  // Takes a new connection in, forgetting ended ones on the way (the list stays as long as the
  // open connections).
  void add(std::weak_ptr<Evictable> connection) {
    std::lock_guard lock(mu_);
    std::erase_if(live_, [](const auto& w) { return w.expired(); });
    live_.push_back(std::move(connection));
  }

  // Evicts the connection that has waited longest; false when every one is busy. The evicted
  // one leaves the table at once (not chosen twice while its close is on its way); the caller's
  // count must let it go at once too, so that the cap holds exactly while its socket closes.
  // A silent one found with input waiting is a client after all: it is ranked as one and the
  // choice made again (each connection is found out at most once, so this stays linear).
  bool make_room() {
    std::shared_ptr<Evictable> oldest;
    {
      std::lock_guard lock(mu_);
      for (;;) {
        oldest = lowest_ranked();
        if (!oldest || oldest->spoke() || !oldest->input_waiting()) break;
        oldest->mark_spoke();
      }
      if (oldest) std::erase_if(live_, [&](const auto& w) { return w.lock() == oldest; });
    }
    if (!oldest) return false;
    evicted_.fetch_add(1, std::memory_order_relaxed);
    oldest->evict();
    return true;
  }

  // Asks every live connection to close when idle; with `forget`, the table is emptied too (a
  // server that stops).
  void close_when_idle(bool forget = false) {
    std::vector<std::shared_ptr<Evictable>> alive;
    {
      std::lock_guard lock(mu_);
      for (auto& w : live_) {
        if (auto s = w.lock()) alive.push_back(std::move(s));
      }
      if (forget) live_.clear();
    }
    for (auto& s : alive) s->close_when_idle();
  }

  uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }

 private:
  // The evictable connection ranked first, forgetting ended ones on the way. Holds mu_.
  std::shared_ptr<Evictable> lowest_ranked() {
    std::shared_ptr<Evictable> oldest;
    int64_t oldest_rank = 0;
    for (auto it = live_.begin(); it != live_.end();) {
      auto sp = it->lock();
      if (!sp) {
        it = live_.erase(it);
        continue;
      }
      const int64_t rank = sp->eviction_rank();
      if (rank != 0 && (!oldest || rank < oldest_rank)) {
        oldest = std::move(sp);
        oldest_rank = rank;
      }
      ++it;
    }
    return oldest;
  }

  std::mutex mu_;
  std::list<std::weak_ptr<Evictable>> live_;
  std::atomic<uint64_t> evicted_{0};
};

}  // namespace accrue
