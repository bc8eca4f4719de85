// Starts the real accrue-agent binary on a temporary replica and socket, for tests that must
// see the daemon as a till does (and kill it as the power would).
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/ctl/client.h"
#include "tests/common/child_process.h"

namespace accrue::testing {

inline std::string temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* d = mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string();
}

// Starts a command with its stderr appended to `log_path`; returns its pid.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  return start_child(ChildSpec(argv).stderr_to(log_path));
}

// Runs a command to completion (five minutes at most); returns its exit status, 124 when it
// was still running then (and has been killed).
inline int run_command(const std::vector<std::string>& argv, const std::string& log_path) {
  return wait_child(spawn(argv, log_path), std::chrono::minutes(5)).value_or(124);
}

// Sends `sig` to `pid` (if running) and waits for it; returns its exit code (or 128 + signal)
// and forgets the pid.
inline int signal_and_wait(pid_t& pid, int sig) {
  if (pid <= 0) return -1;
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class AgentProcess {
 public:
  // A fresh data dir with `customers` seeded members under `program_path`.
  explicit AgentProcess(int64_t customers = 1000,
                        std::string program_path = "packaging/demo/program.json",
                        std::string store_id = "store-1")
      : dir_(temp_dir("accrue-agent-test-")),
        program_(std::move(program_path)),
        store_id_(std::move(store_id)) {
    std::ofstream(dir_ + "/key") << std::string(64, 'a');
    seed_status_ = run_command({ACCRUE_AGENT_BINARY, "seed", "--store-id", store_id_, "--data-dir",
                                dir_ + "/data", "--program-key-file", dir_ + "/key", "--program",
                                program_, "--customers", std::to_string(customers)},
                               log_path());
  }
  ~AgentProcess() {
    stop(SIGKILL);
    if (std::getenv("ACCRUE_KEEP_TEST_DIRS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  int seed_status() const { return seed_status_; }
  pid_t pid() const { return pid_; }
  std::string socket() const { return dir_ + "/agent.sock"; }
  std::string log_path() const { return dir_ + "/agent.log"; }
  std::string db_path() const { return dir_ + "/data/replica.db"; }
  const std::string& dir() const { return dir_; }

  // Starts the daemon and waits until its socket answers. Extra flags go last. A non-zero
  // `max_file_bytes` caps every file the daemon writes (RLIMIT_FSIZE): a full disk, as far as
  // the daemon can tell.
  bool start(std::vector<std::string> extra = {}, rlim_t max_file_bytes = 0) {
    std::vector<std::string> argv = {ACCRUE_AGENT_BINARY, "--store-id",   store_id_,
                                     "--data-dir",        dir_ + "/data", "--program-key-file",
                                     dir_ + "/key",       "--socket",     socket(),
                                     "--currency",        "EUR"};
    if (std::ranges::find(extra, "--default-country") == extra.end()) {
      argv.insert(argv.end(), {"--default-country", "PL"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = start_child(ChildSpec(argv).stderr_to(log_path()).cap_files(max_file_bytes));
    if (pid_ <= 0) return false;
    for (int i = 0; i < 500; ++i) {
      if (ctl::AgentClient::connect_unix(socket())) return true;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Sends `sig` and waits for the process; returns its exit code (or 128 + signal).
  int stop(int sig = SIGTERM) { return signal_and_wait(pid_, sig); }

  ctl::AgentClient connect(agent::Framing framing = agent::Framing::kBinary) {
    auto c = ctl::AgentClient::connect_unix(socket(), framing);
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(*c);
  }

 private:
  std::string dir_;
  std::string program_;
  std::string store_id_;
  int seed_status_ = -1;
  pid_t pid_ = -1;
};

}  // namespace accrue::testing
