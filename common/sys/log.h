// Structured logs: one event per line on stderr, logfmt (ts=... level=... event=... k=v).
// Never pass identifiers, names or contact data: log customer ids and hashes only.
// Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace accrue {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
bool parse_log_level(std::string_view name, LogLevel& out);
void log(LogLevel level, std::string_view event,
         std::initializer_list<std::pair<std::string_view, std::string>> fields = {});

}  // namespace accrue
