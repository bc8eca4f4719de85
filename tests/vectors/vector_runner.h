// Runs the golden vector files (tests/vectors/*.json) through the domain core.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "common/time_zone.h"
#include "vectors/vectors.pb.h"

namespace accrue::vectors {

struct Outcome {
  std::string file;
  std::string name;
  std::string kind;  // earn, return, redeem, offline, tier, lots, birthday, identifier
  bool passed = false;
  std::string detail;  // what differed, when it failed
};

// Every vector of every *.json file in `dir`, in file and vector order. A file that cannot be
// parsed yields one failed outcome naming it.
std::vector<Outcome> run_directory(const std::string& dir, TimeZoneSource& zones);

// The parsed files, for suites that run the same vectors through the agent or the cloud.
struct LoadedFile {
  std::string name;
  accrue::testing::v1::VectorFile file;
};
Result<std::vector<LoadedFile>> load_directory(const std::string& dir);

}  // namespace accrue::vectors
