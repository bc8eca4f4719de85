#include "common/sys/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace accrue {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_mu;

void append_value(std::string& out, std::string_view v) {
  bool quote = v.empty() || v.find_first_of(" =\"\\\t\n") != std::string_view::npos;
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }

bool parse_log_level(std::string_view name, LogLevel& out) {
  if (name == "debug")
    out = LogLevel::kDebug;
  else if (name == "info")
    out = LogLevel::kInfo;
  else if (name == "warn")
    out = LogLevel::kWarn;
  else if (name == "error")
    out = LogLevel::kError;
  else
    return false;
  return true;
}

void log(LogLevel level, std::string_view event,
         std::initializer_list<std::pair<std::string_view, std::string>> fields) {
  if (level < g_level.load()) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string line =
      "ts=" + std::to_string(ms) + " level=" + kNames[static_cast<int>(level)] + " event=";
  append_value(line, event);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    append_value(line, v);
  }
  line += '\n';
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace accrue
