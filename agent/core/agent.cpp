#include "agent/core/agent.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/store/programs.h"
#include "common/sys/log.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::agent {

Result<std::shared_ptr<const ActiveProgram>> load_active_program(
    Replica& replica, TimeZoneSource& zones, const std::string& fallback_zone,
    const std::string& fallback_country) {
  ACCRUE_ASSIGN_OR_RETURN(auto body, replica.latest_program_body());
  if (!body) {
    return fail(ErrorCode::kFailedPrecondition,
                "no loyalty program in the replica yet (sync, or set program_file)");
  }
  loyalty::v1::Program pb;
  if (!pb.ParseFromString(*body))
    return fail(ErrorCode::kDataLoss, "stored program does not parse");
  ACCRUE_ASSIGN_OR_RETURN(auto program, wire::program_from_proto(pb));
  ACCRUE_ASSIGN_OR_RETURN(auto registry_zone, replica.meta("store_time_zone"));
  ACCRUE_ASSIGN_OR_RETURN(auto registry_country, replica.meta("store_country"));
  const std::string wanted = registry_zone.value_or(fallback_zone);
  auto zone = zones.load(wanted.empty() ? program.time_zone : wanted);
  if (!zone && registry_zone) {
    log(LogLevel::kError, "store_time_zone_unknown",
        {{"time_zone", wanted}, {"reason", zone.error().message}});
    zone = zones.load(program.time_zone);
  }
  if (!zone) return std::unexpected(zone.error());
  return std::make_shared<const ActiveProgram>(ActiveProgram{
      std::move(program), std::move(*zone), registry_country.value_or(fallback_country)});
}

namespace {

// The replica's writer, with the configured programme file installed first (if any).
Result<Replica> open_writer_with_program(const AgentConfig& config, TimestampMs now) {
  auto writer = Replica::open_writer(config.database_path());
  if (!writer) return std::unexpected(writer.error());
  if (config.program_file.empty()) return writer;
  std::ifstream in(config.program_file);
  if (!in) return fail(ErrorCode::kNotFound, "program_file: cannot open " + config.program_file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto program = wire::program_from_json(ss.str());
  if (!program) return fail(program.error().code, "program_file: " + program.error().message);
  ACCRUE_ASSIGN_OR_RETURN(auto installed, install_program(*writer, *program, now));
  if (installed) {
    log(LogLevel::kInfo, "program_installed",
        {{"program_id", program->program_id}, {"version", std::to_string(program->version)}});
  }
  return writer;
}

Result<CloudClientOptions> cloud_client_options(const AgentConfig& config,
                                                const std::string& version) {
  CloudClientOptions co;
  co.base_url = config.cloud_url;
  co.ca_file = config.cloud_ca_file;
  co.cert_file = config.cloud_cert_file;
  co.key_file = config.cloud_key_file;
  co.pinned_public_key = config.cloud_pinned_public_key;
  co.connect_timeout = std::chrono::milliseconds(config.cloud_connect_timeout_ms);
  co.timeout = std::chrono::milliseconds(config.cloud_timeout_ms);
  co.user_agent = "accrue-agent/" + version;
  if (!config.cloud_token_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto token,
                            read_secret_line(config.cloud_token_file, "cloud.token_file"));
    co.store_token = token;
  }
  return co;
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::start(const AgentConfig& config) {
  ACCRUE_TRY(validate_config(config));
  std::unique_ptr<Agent> a(new Agent());
  a->config_ = config;
  if (a->config_.agent_id.empty()) a->config_.agent_id = config.store_id + "-agent";
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return fail(ErrorCode::kUnavailable, "data_dir " + config.data_dir + ": " + ec.message());
  // Before anything in the directory is opened: two agents on one replica would be two writers.
  ACCRUE_TRY(a->data_lock_.take(config.data_dir));
  ACCRUE_ASSIGN_OR_RETURN(auto key, read_program_key(config.program_key_file));
  ACCRUE_ASSIGN_OR_RETURN(auto hasher, IdentifierHasher::create(key));
  ACCRUE_TRY(a->open_store(std::move(hasher)));
  if (!config.cloud_url.empty()) ACCRUE_TRY(a->start_sync());
  // Online redemptions a stop left undecided: voided before any till comes in.
  ACCRUE_ASSIGN_OR_RETURN(const auto voided, a->service_->recover_online_redemptions());
  if (voided > 0) {
    log(LogLevel::kWarn, "online_redemptions_voided", {{"count", std::to_string(voided)}});
  }
  ACCRUE_TRY(a->start_server());
  const auto active = a->service_->program();
  log(LogLevel::kInfo, "agent_started",
      {{"store_id", config.store_id},
       {"socket", config.socket},
       {"tcp_port", std::to_string(a->server_->tcp_port())},
       {"program", active->program.program_id + " v" + std::to_string(active->program.version)},
       {"schema", std::to_string(Replica::schema_version())}});
  return a;
}

// The replica (writer, readers, checkpointer) and the service over it, with the programme in
// force and the last sync time.
Result<void> Agent::open_store(IdentifierHasher hasher) {
  const AgentConfig& config = config_;
  ACCRUE_ASSIGN_OR_RETURN(auto writer, open_writer_with_program(config, clock_.now_ms()));
  ACCRUE_ASSIGN_OR_RETURN(
      auto active, load_active_program(writer, zones_, config.time_zone, config.default_country));
  ACCRUE_ASSIGN_OR_RETURN(auto readers, ReaderPool::open(config.database_path(), config.readers));
  readers_ = std::move(readers);
  writer_ = std::make_unique<GroupCommitWriter>(std::move(writer), config.write_queue,
                                                config.max_group, [this] {
                                                  readers_->note_commit();
                                                  if (Uploader* u = uploader_ptr_.load()) {
                                                    u->notify();
                                                  }
                                                });
  ACCRUE_ASSIGN_OR_RETURN(
      auto checkpointer, Checkpointer::start(config.database_path(), std::chrono::milliseconds(100),
                                             [pool = readers_.get()] { pool->release_stale(); }));
  checkpointer_ = std::move(checkpointer);
  ServiceSettings settings;
  settings.store_id = config.store_id;
  settings.agent_id = config.agent_id;
  settings.currency = config.currency;
  settings.max_deadline_ms = config.max_deadline_ms;
  service_ = std::make_unique<AgentService>(settings, *readers_, *writer_, std::move(hasher),
                                            clock_, random_);
  service_->set_program(active);
  auto reader = readers_->acquire();
  ACCRUE_ASSIGN_OR_RETURN(auto last, reader->meta_int("last_sync_ms"));
  service_->set_last_sync(last.value_or(0));
  return {};
}

// The sync thread (upload, download) and the online calls a till waits for, each with its own
// keep-alive connection to the cloud.
Result<void> Agent::start_sync() {
  const AgentConfig& config = config_;
  ACCRUE_ASSIGN_OR_RETURN(auto co, cloud_client_options(config, ServiceSettings{}.version));
  ACCRUE_ASSIGN_OR_RETURN(auto online_client, CloudClient::create(co));
  ACCRUE_ASSIGN_OR_RETURN(auto client, CloudClient::create(std::move(co)));
  cloud_clients_ = {client.get(), online_client.get()};
  UploaderOptions uo;
  uo.database_path = config.database_path();
  uo.store_id = config.store_id;
  uo.agent_id = config.agent_id;
  uo.max_events = static_cast<int>(config.upload_batch_events);
  uo.max_bytes = config.upload_batch_bytes;
  uo.backoff_max = std::chrono::milliseconds(config.upload_backoff_max_ms);
  uo.download_interval = std::chrono::milliseconds(config.download_interval_ms);
  uo.backlog_download_interval = std::chrono::milliseconds(config.backlog_download_interval_ms);
  DownloaderOptions dop;
  dop.agent_id = config.agent_id;
  auto downloader = std::make_unique<Downloader>(
      dop, *writer_, [this] { activate_newest_program(); }, clock_);
  uploader_ = std::make_unique<Uploader>(std::move(uo), std::move(client), *writer_, *service_,
                                         clock_, random_, std::move(downloader));
  ACCRUE_TRY(uploader_->start());
  uploader_ptr_.store(uploader_.get());
  OnlineClientOptions oo;
  oo.agent_id = config.agent_id;
  oo.lookup_timeout = std::chrono::milliseconds(config.lookup_timeout_ms);
  oo.redeem_timeout = std::chrono::milliseconds(config.redeem_timeout_ms);
  oo.sweep_interval = std::chrono::milliseconds(config.online_sweep_interval_ms);
  online_ = std::make_unique<OnlineClient>(std::move(oo), std::move(online_client), *writer_,
                                           *service_, clock_);
  online_->start();
  service_->set_online_calls(online_.get());
  return {};
}

// Requests started from now on use the newest programme in the replica.
void Agent::activate_newest_program() {
  auto reader = readers_->acquire();
  // The snapshot that holds what the feed just committed (a reader may keep an older one open).
  if (auto fresh = reader.latest(); !fresh) {
    log(LogLevel::kError, "program_load_failed", {{"reason", fresh.error().message}});
    return;
  }
  auto p = load_active_program(*reader, zones_, config_.time_zone, config_.default_country);
  if (!p) {
    log(LogLevel::kError, "program_load_failed", {{"reason", p.error().message}});
    return;
  }
  service_->set_program(*p);
  log(LogLevel::kInfo, "program_activated",
      {{"program_id", (*p)->program.program_id},
       {"version", std::to_string((*p)->program.version)},
       {"time_zone", (*p)->zone.name()},
       {"country", (*p)->country}});
}

// The till API's server and its I/O threads (one io_context each).
Result<void> Agent::start_server() {
  const AgentConfig& config = config_;
  ServerOptions options;
  options.unix_path = config.socket;
  options.unix_mode = config.socket_mode;
  if (config.tcp_port != 0) options.tcp_port = config.tcp_port;
  options.max_connections = config.max_connections;
  options.max_frame = config.max_frame_bytes;
  options.idle_timeout = std::chrono::seconds(config.idle_timeout_s);
  options.frame_timeout = std::chrono::milliseconds(config.frame_timeout_ms);
  std::vector<boost::asio::io_context*> contexts;
  for (uint32_t i = 0; i < config.io_threads; ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    contexts.push_back(contexts_.back().get());
  }
  server_ = std::make_unique<Server>(contexts, *service_, options);
  ACCRUE_TRY(server_->start());
  for (auto& io : contexts_) {
    work_.push_back(boost::asio::make_work_guard(*io));
    threads_.emplace_back([io = io.get()] {
      name_this_thread("accrue-io");
      io->run();
    });
  }
  return {};
}

Result<ReloadOutcome> Agent::reload(const AgentConfig& next_in) {
  AgentConfig next = next_in;
  if (next.agent_id.empty()) next.agent_id = next.store_id + "-agent";
  ACCRUE_TRY(validate_config(next));
  LogLevel level;
  if (!parse_log_level(next.log_level, level)) {
    return fail(ErrorCode::kInvalidArgument, "config: log_level: debug, info, warn or error");
  }
  // Everything that can fail is done before anything changes.
  std::optional<std::string> token;
  // Credentials change live only while the connection they belong to stays: the same url and the
  // same certificate files (a switch between token and certificate waits for a restart, so a
  // reload never leaves the agent holding half of each).
  const bool credentials_live = !cloud_clients_.empty() && next.cloud_url == config_.cloud_url &&
                                next.cloud_cert_file == config_.cloud_cert_file &&
                                next.cloud_key_file == config_.cloud_key_file;
  if (credentials_live && !next.cloud_token_file.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto t, read_secret_line(next.cloud_token_file, "cloud.token_file"));
    token = std::move(t);
  }

  ReloadOutcome out;
  for (auto& key : changed_keys(config_, next)) {
    const bool live = key == "log_level" || key == "limits.max_connections" ||
                      key == "limits.idle_timeout_s" || key == "limits.frame_timeout_ms" ||
                      key == "limits.max_deadline_ms" ||
                      (key == "cloud.token_file" && credentials_live);
    (live ? out.applied : out.need_restart).push_back(key);
  }
  set_log_level(level);
  config_.log_level = next.log_level;
  config_.max_connections = next.max_connections;
  config_.idle_timeout_s = next.idle_timeout_s;
  config_.frame_timeout_ms = next.frame_timeout_ms;
  config_.max_deadline_ms = next.max_deadline_ms;
  server_->set_limits(next.max_connections, std::chrono::seconds(next.idle_timeout_s),
                      std::chrono::milliseconds(next.frame_timeout_ms));
  service_->set_max_deadline_ms(next.max_deadline_ms);
  if (credentials_live) {
    // Credentials are refreshed on every reload: a rotated token or certificate usually keeps
    // its file name.
    config_.cloud_token_file = next.cloud_token_file;
    for (CloudClient* c : cloud_clients_) c->refresh_credentials(token.value_or(""));
    out.applied.push_back("cloud.credentials");
  }
  return out;
}

void Agent::stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // A start that failed half-way stops whatever it had built.
  if (server_) {
    server_->stop();
    // Let connections answer what they are working on (bounded: requests have deadlines).
    for (int i = 0; i < 200 && server_->connections() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (checkpointer_) checkpointer_->stop();
  // Before the writer: a redemption being settled waits for the writer (what is queued ends
  // unanswered; an intent left behind is voided at the next start).
  if (online_) online_->stop();
  // Before the writer: an upload being settled waits for the writer.
  if (uploader_) {
    uploader_ptr_.store(nullptr);
    uploader_->stop();
  }
  if (readers_) readers_->end_all_reads();  // a kept snapshot would stall the final checkpoint
  if (writer_) {
    writer_->stop();  // runs what is queued, checkpoints the WAL
    auto st = writer_->stats();
    log(LogLevel::kInfo, "writer_stats",
        {{"groups", std::to_string(st.groups)},
         {"jobs", std::to_string(st.jobs)},
         {"commit_failures", std::to_string(st.commit_failures)}});
  }
  work_.clear();
  for (auto& io : contexts_) io->stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  if (server_) log(LogLevel::kInfo, "agent_stopped", {{"store_id", config_.store_id}});
}

Agent::~Agent() { stop(); }

Agent::DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<void> Agent::DataDirLock::take(const std::string& data_dir) {
  const std::string path = data_dir + "/agent.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return fail(ErrorCode::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return fail(ErrorCode::kAlreadyExists, "another accrue-agent is running on " + data_dir +
                                                 " (it holds " + path +
                                                 "): one agent per replica; stop that one first");
    }
    return fail(ErrorCode::kUnavailable, "cannot lock " + path + ": " + std::strerror(err));
  }
  fd_ = fd;
  return {};
}

}  // namespace accrue::agent
