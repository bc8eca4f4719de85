#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/sys/system.h"
#include "tests/vectors/vector_runner.h"

namespace accrue::vectors {
namespace {

TEST(GoldenVectorsTest, EveryVectorPasses) {
  ZoneinfoSource zones;
  auto outcomes = run_directory(ACCRUE_VECTORS_DIR, zones);
  std::map<std::string, int> per_kind;
  std::set<std::string> names;
  for (const auto& o : outcomes) {
    EXPECT_TRUE(o.passed) << o.file << " / " << o.name << ": " << o.detail;
    EXPECT_TRUE(names.insert(o.file + "/" + o.name).second) << "duplicate vector name " << o.name;
    ++per_kind[o.kind];
  }
  // The suite is only worth something if it is broad.
  EXPECT_GE(outcomes.size(), 40u);
  for (const char* kind : {"earn", "return", "redeem", "offline", "tier", "lots", "birthday",
                           "anniversary", "identifier", "reward"}) {
    EXPECT_GE(per_kind[kind], 2) << kind;
    std::printf("[vectors] %-12s %d\n", kind, per_kind[kind]);
  }
}

}  // namespace
}  // namespace accrue::vectors
