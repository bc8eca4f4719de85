// Starting a program from a test whose other threads are running (a cloud served in the same
// process, a pool of readers). After fork() only the calling thread exists in the child, and a
// lock another thread held at that moment (the allocator's, the sanitizer's, stdio's) stays held
// there forever: a child that allocates or reopens a FILE* before execv can hang for good, as
// the load smoke test once did under the sanitizers. So everything the child needs (argv, the
// program's path, its output files' names) is prepared before fork(), and the child calls only
// async-signal-safe functions: open, dup2, signal, setrlimit, execv, _exit.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace accrue::testing {

// What to start: ChildSpec(argv).stderr_to(log), and so on.
struct ChildSpec {
  explicit ChildSpec(std::vector<std::string> args) : argv(std::move(args)) {}
  ChildSpec& stdout_to(std::string path, bool append = false) {
    stdout_path = std::move(path);
    stdout_append = append;
    return *this;
  }
  ChildSpec& stderr_to(std::string path) {
    stderr_path = std::move(path);
    return *this;
  }
  // Every file the child writes is capped at `bytes` (RLIMIT_FSIZE; 0: no cap), and writes past
  // the cap fail with EFBIG instead of killing it: a full disk, as far as the child can tell.
  ChildSpec& cap_files(rlim_t bytes) {
    max_file_bytes = bytes;
    return *this;
  }

  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH (before fork)
  std::string stdout_path;        // empty: inherited
  bool stdout_append = false;
  std::string stderr_path;  // empty: inherited; else appended to
  rlim_t max_file_bytes = 0;
};

// The child's pid, or -1 when fork failed or the program is not found in PATH.
inline pid_t start_child(const ChildSpec& spec) {
  if (spec.argv.empty()) return -1;
  std::string program = spec.argv[0];
  if (program.find('/') == std::string::npos) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::string found;
    for (size_t at = 0; at <= dirs.size();) {
      const size_t end = std::min(dirs.find(':', at), dirs.size());
      const auto candidate = std::filesystem::path(dirs.substr(at, end - at)) / program;
      if (::access(candidate.c_str(), X_OK) == 0) {
        found = candidate.string();
        break;
      }
      at = end + 1;
    }
    if (found.empty()) return -1;
    program = found;
  }
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const char* out = spec.stdout_path.empty() ? nullptr : spec.stdout_path.c_str();
  const int out_flags = O_WRONLY | O_CREAT | O_CLOEXEC | (spec.stdout_append ? O_APPEND : O_TRUNC);
  const char* err = spec.stderr_path.empty() ? nullptr : spec.stderr_path.c_str();
  const rlim_t cap = spec.max_file_bytes;

  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: async-signal-safe calls only.
  if (out) {
    const int fd = ::open(out, out_flags, 0644);
    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0) ::_exit(126);
  }
  if (err) {
    const int fd = ::open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(126);
  }
  if (cap != 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit rl{cap, RLIM_INFINITY};
    ::setrlimit(RLIMIT_FSIZE, &rl);
  }
  ::execv(program.c_str(), argv.data());
  ::_exit(127);
}

// The exit code of `pid` (128 + the signal that ended it), waiting at most `limit`; nullopt when
// it was still running then, after which it has been killed (SIGKILL) and reaped.
inline std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds limit) {
  if (pid <= 0) return std::nullopt;
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (true) {
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (got < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

}  // namespace accrue::testing
