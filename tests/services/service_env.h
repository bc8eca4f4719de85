// How integration tests find the real services started by packaging/dev/services.
// ACCRUE_TEST_PG_DSN / ACCRUE_TEST_REDIS_HOST+PORT are set by that script. When they are not
// set the test is skipped, unless ACCRUE_REQUIRE_SERVICES=1 (as in the test command), where a
// missing service is a failure: CI must never pass by skipping.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace accrue::testing {

inline std::string service_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

inline bool services_required() { return service_env("ACCRUE_REQUIRE_SERVICES") == "1"; }

}  // namespace accrue::testing

#define ACCRUE_NEED_SERVICE(var)                                                  \
  do {                                                                            \
    if (::accrue::testing::service_env(var).empty()) {                            \
      if (::accrue::testing::services_required()) FAIL() << var << " is not set"; \
      GTEST_SKIP() << var << " not set; run through packaging/dev/test";          \
    }                                                                             \
  } while (false)
