// The TOML config loaders of both daemons: unknown keys, wrong types, out-of-range values and
// broken TOML are errors naming the key; nothing crashes. The first byte picks the daemon.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config/config.h"
#include "cloud/config/config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("accrue-config-fuzz-" + std::to_string(::getpid()) + ".toml"))
                                      .string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  if (data[0] & 1) {
    (void)accrue::cloud::load_cloud_config(path, {}, {});
  } else {
    (void)accrue::agent::load_config_file(path, {});
  }
  return 0;
}
