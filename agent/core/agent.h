// One running agent: the replica, the reader pool, the group-commit writer, the service and the
// listeners, wired together. main() and the in-process tests and benchmarks build it the same
// way, so what is tested is what ships.
#pragma once

#include <boost/asio.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "agent/api/server.h"
#include "agent/config/config.h"
#include "agent/core/service.h"
#include "agent/store/checkpointer.h"
#include "agent/sync/online_client.h"
#include "agent/sync/uploader.h"
#include "common/sys/system.h"

namespace accrue::agent {

// Reads the newest program in the replica, in the store's time zone and with its country: the
// store registry's (meta store_time_zone and store_country, from the change feed; an empty zone
// is the programme's), else, before the first sync, `fallback_zone` and `fallback_country` from
// the configuration. A registry zone this machine does not know falls back to the programme's,
// as the cloud does. kFailedPrecondition when the replica has no programme.
Result<std::shared_ptr<const ActiveProgram>> load_active_program(
    Replica& replica, TimeZoneSource& zones, const std::string& fallback_zone,
    const std::string& fallback_country);

// What a reload did: the keys now in force, and the changed keys that wait for a restart.
struct ReloadOutcome {
  std::vector<std::string> applied;
  std::vector<std::string> need_restart;
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> start(const AgentConfig& config);
  ~Agent();

  // Applies what can change under running connections (SIGHUP): log_level, the connection cap,
  // the idle timeout, the deadline cap, and the cloud credentials (the token file is read
  // again; the next request opens a fresh connection, so rotated certificate and key files are
  // read too). A config that does not validate, or a token file that cannot be read, changes
  // nothing. Other changed keys are reported in need_restart and left as they run. One caller
  // at a time (main's signal loop).
  Result<ReloadOutcome> reload(const AgentConfig& next);

  // Graceful stop: no new connections, in-flight requests answered, writer drained, WAL
  // checkpointed. Idempotent.
  void stop();

  AgentService& service() { return *service_; }
  Server& server() { return *server_; }
  GroupCommitWriter& writer() { return *writer_; }
  // Null when no cloud url is configured.
  Uploader* uploader() { return uploader_.get(); }
  // Requests started from now on run under the newest programme in the replica, in the store's
  // zone and country (the downloader calls it when the feed changed any of them).
  void activate_newest_program();

 private:
  // The data directory's lock (data_dir/agent.lock, flock): one agent per replica. Declared
  // first, so it is released last, after everything that used the replica has stopped.
  class DataDirLock {
   public:
    DataDirLock() = default;
    DataDirLock(const DataDirLock&) = delete;
    DataDirLock& operator=(const DataDirLock&) = delete;
    ~DataDirLock();
    // kAlreadyExists while another agent holds it.
    Result<void> take(const std::string& data_dir);

   private:
    int fd_ = -1;
  };
  DataDirLock data_lock_;

  Agent() = default;
  // The steps of start(), in order.
  Result<void> open_store(IdentifierHasher hasher);
  Result<void> start_sync();
  Result<void> start_server();
  AgentConfig config_;
  SystemClock clock_;
  SystemRandom random_;
  ZoneinfoSource zones_;
  std::unique_ptr<ReaderPool> readers_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<AgentService> service_;
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<OnlineClient> online_;
  // The two cloud clients (owned by uploader_ and online_), for reload's credential refresh.
  std::vector<CloudClient*> cloud_clients_;
  std::atomic<Uploader*> uploader_ptr_{nullptr};  // for the writer's commit hook
  // One io_context per I/O thread: a connection lives on one thread for its whole life.
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace accrue::agent
