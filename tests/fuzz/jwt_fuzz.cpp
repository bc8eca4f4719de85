// The head-office token check: a bearer token from the wire against a real JWKS (an ES256 key
// made at start). Anything but a valid token is kUnauthenticated; nothing crashes or leaks.
#include <filesystem>
#include <fstream>

#include "cloud/auth/jwt.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
const accrue::cloud::auth::JwtVerifier& verifier() {
  static const auto v = [] {
    using namespace accrue::cloud::auth;
    const auto path = std::filesystem::temp_directory_path() /
                      ("accrue-jwt-fuzz-" + std::to_string(::getpid()) + ".json");
    auto keys = make_dev_keys("fuzz");
    std::ofstream(path) << keys->jwks_json;
    auto loaded = JwtVerifier::load(path.string(), "https://hq.test", "accrue");
    std::filesystem::remove(path);
    return std::move(*loaded);
  }();
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = verifier().verify(accrue::fuzz::text(data, size), 1'800'000'000'000);
  if (p) __builtin_trap();  // nobody can forge a token for a key made in this process
  return 0;
}
