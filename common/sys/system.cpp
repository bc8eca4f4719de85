#include "common/sys/system.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

namespace accrue {

TimestampMs SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void SystemRandom::fill(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy is a broken machine, not an error to recover from
    }
    done += static_cast<size_t>(n);
  }
}

ZoneinfoSource::ZoneinfoSource(std::filesystem::path root) : root_(std::move(root)) {}

Result<TimeZone> ZoneinfoSource::load(std::string_view name) {
  auto valid_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+' || c == '/';
  };
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '/' &&
            name.find("..") == std::string_view::npos && name.find("//") == std::string_view::npos;
  for (char c : name) ok = ok && valid_char(c);
  if (!ok) {
    return fail(ErrorCode::kInvalidArgument, "time zone: want an IANA name like Europe/Warsaw");
  }
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(name); it != cache_.end()) return it->second;
  std::ifstream in(root_ / std::string(name), std::ios::binary);
  if (!in) {
    return fail(ErrorCode::kNotFound,
                "time zone: " + std::string(name) + " is not in " + root_.string());
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() > 1 << 20) {
    return fail(ErrorCode::kInvalidArgument, "time zone: " + std::string(name) + " is too large");
  }
  auto zone = TimeZone::from_tzif(std::string(name), bytes);
  if (!zone) return zone;
  cache_.emplace(std::string(name), *zone);
  return zone;
}

Result<std::vector<uint8_t>> read_key_file(const std::string& path, std::string_view what) {
  const std::string w(what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, w + ": cannot open " + path);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r' || data.back() == ' '))
    data.pop_back();
  bool hex = data.size() >= 64 && data.size() % 2 == 0 &&
             data.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  std::vector<uint8_t> key;
  if (hex) {
    for (size_t i = 0; i < data.size(); i += 2) {
      key.push_back(static_cast<uint8_t>(std::stoul(data.substr(i, 2), nullptr, 16)));
    }
  } else {
    key.assign(data.begin(), data.end());
  }
  if (key.size() < 32) {
    return fail(ErrorCode::kInvalidArgument, w + ": " + path + " holds fewer than 32 bytes");
  }
  return key;
}

Result<std::string> read_secret_line(const std::string& path, std::string_view what) {
  const std::string w(what);
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, w + ": cannot open " + path);
  std::string data;
  data.resize(4097);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > 4096)
    return fail(ErrorCode::kInvalidArgument, w + ": " + path + " is over 4 KiB");
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!data.empty() && space(data.back())) data.pop_back();
  size_t start = 0;
  while (start < data.size() && space(data[start])) ++start;
  data.erase(0, start);
  if (data.empty()) return fail(ErrorCode::kInvalidArgument, w + ": " + path + " is empty");
  for (char c : data) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return fail(ErrorCode::kInvalidArgument, w + ": " + path + " is not one line of text");
    }
  }
  return data;
}

int run_guarded(const char* program, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected failure\n", program);
  }
  return 2;
}

std::string replica_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  uint32_t r = 0;
  (void)::getrandom(&r, sizeof r, 0);
  return std::string(host[0] ? host : "replica") + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(r % 100000);
}

void name_this_thread(std::string_view name) {
  char buf[16] = {};
  name.copy(buf, sizeof buf - 1);
  (void)::pthread_setname_np(::pthread_self(), buf);
}

}  // namespace accrue
