// Production implementations of the domain core's interfaces: the system clock, the kernel's
// random numbers and the IANA database in /usr/share/zoneinfo. This is the only part of
// common/ that touches the operating system.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/time_zone.h"

namespace accrue {

class SystemClock final : public Clock {
 public:
  TimestampMs now_ms() const override;
};

class SystemRandom final : public Random {
 public:
  void fill(std::span<uint8_t> out) override;  // getrandom(2); aborts if the kernel refuses
};

// Loads zones from a zoneinfo directory and caches them. Names must look like IANA names
// ("Europe/Warsaw", "America/Argentina/Buenos_Aires", "UTC"); anything else, including paths
// with "..", is kInvalidArgument; a missing zone is kNotFound.
class ZoneinfoSource final : public TimeZoneSource {
 public:
  explicit ZoneinfoSource(std::filesystem::path root = "/usr/share/zoneinfo");
  Result<TimeZone> load(std::string_view iana_name) override;

 private:
  std::filesystem::path root_;
  std::mutex mu_;
  std::map<std::string, TimeZone, std::less<>> cache_;
};

// A secret key from a file: at least 32 raw bytes, or 64+ hexadecimal digits (a trailing newline
// is ignored). kNotFound when the file cannot be read, kInvalidArgument when it is too short; the
// messages start with `what` ("program key", ...) and never show the key.
Result<std::vector<uint8_t>> read_key_file(const std::string& path, std::string_view what);

// A one-line secret (a token) from a file, surrounding whitespace removed. kNotFound when the
// file cannot be read; kInvalidArgument when it is empty, over 4 KiB or holds control
// characters. Messages start with `what` and never show the content.
Result<std::string> read_secret_line(const std::string& path, std::string_view what);

// Names the calling thread for `top -H`, `ps -L` and profilers (the kernel keeps 15 bytes;
// longer names are cut). Best effort: a failure changes nothing else.
void name_this_thread(std::string_view name);

// main()'s body for a program: runs `run` and turns an exception escaping it (an allocation
// failure, a bug) into "<program>: <what>" on stderr and exit 2 instead of std::terminate.
int run_guarded(const char* program, int (*run)(int, char**), int argc, char** argv);

// A name for this process among its replicas, for leases: "<host>-<pid>-<random>".
std::string replica_name();

}  // namespace accrue
