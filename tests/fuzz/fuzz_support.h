// Shared by the fuzz targets: a target is one LLVMFuzzerTestOneInput. Built two ways:
//  - with clang's libFuzzer (`packaging/dev/fuzz`): coverage-guided search;
//  - with GCC under ASan+UBSan in the default test run, linked with replay_main.cpp: every file
//    of the target's corpus (tests/fuzz/corpus/<target>/) is run once, so a past crasher that
//    comes back fails CI.
// A target must return 0 for every input: errors are answers, never crashes, hangs or leaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace accrue::fuzz {

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits the input at the first "\n----\n" (for targets that take two documents).
inline std::pair<std::string_view, std::string_view> split2(std::string_view in) {
  constexpr std::string_view kSep = "\n----\n";
  auto at = in.find(kSep);
  if (at == std::string_view::npos) return {in, {}};
  return {in.substr(0, at), in.substr(at + kSep.size())};
}

}  // namespace accrue::fuzz
