// The till API's conformance suite (proto/conformance/README.md): the documented cases as data,
// each a request and the shape its answer must have, run against an agent (or a POS vendor's
// stand-in for one) in either framing. accruectl's `conformance` command and the test suite
// both run it.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ctl/client.h"
#include "common/error.h"

namespace accrue::ctl {

struct ConformanceOptions {
  agent::Framing framing = agent::Framing::kBinary;
  // A fresh connection for each case, in `framing`.
  std::function<Result<AgentClient>()> connect;
  // Replaces ${run} in requests: unique per run, so that a suite run twice against the same
  // agent sends new transactions.
  std::string run_token;
  // When set, each case's request and answer (as JSON) are printed here.
  std::ostream* show = nullptr;
};

struct ConformanceReport {
  int passed = 0;
  int skipped = 0;                    // cases for the other framing only
  std::vector<std::string> failures;  // one text per failed case: name, what differed, answer
};

// Runs every case of `cases_json` (the file's text) in order. An error means the file itself
// is unusable (not JSON, a case without a name or request); a case that fails is a report entry.
Result<ConformanceReport> run_conformance(std::string_view cases_json,
                                          const ConformanceOptions& options);

}  // namespace accrue::ctl
