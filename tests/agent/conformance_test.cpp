// The till API's conformance cases (proto/conformance/till-api.json) against the real agent, in
// both framings, as a POS vendor runs them with `accruectl conformance`.
#include "agent/ctl/conformance.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/agent/agent_process.h"

namespace accrue::testing {
namespace {

using agent::Framing;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ConformanceTest : public ::testing::TestWithParam<Framing> {
 protected:
  void SetUp() override {
    agent_ = std::make_unique<AgentProcess>(100);  // the cases' dataset: 100 seeded members
    ASSERT_EQ(agent_->seed_status(), 0);
    ASSERT_TRUE(agent_->start()) << "see " << agent_->log_path();
  }
  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->stop(SIGTERM), 0);
    }
  }
  ctl::ConformanceOptions options() {
    ctl::ConformanceOptions o;
    o.framing = GetParam();
    o.run_token = "t";
    o.connect = [this, f = GetParam()] {
      return ctl::AgentClient::connect_unix(agent_->socket(), f);
    };
    return o;
  }
  std::unique_ptr<AgentProcess> agent_;
};

TEST_P(ConformanceTest, TheAgentPassesEveryDocumentedCase) {
  const auto cases = read_file("proto/conformance/till-api.json");
  ASSERT_FALSE(cases.empty()) << "run from the source tree";
  auto report = ctl::run_conformance(cases, options());
  ASSERT_TRUE(report) << report.error().message;
  for (const auto& f : report->failures) ADD_FAILURE() << f;
  EXPECT_GE(report->passed, 30);
  std::printf("[conformance] %s: %d passed, %d for the other framing\n",
              GetParam() == Framing::kBinary ? "binary" : "JSON lines", report->passed,
              report->skipped);
}

// The runner itself: a wrong value, a field that should be absent, a missing field and a
// capture that never happened are each reported, so the suite cannot pass by accident.
TEST_P(ConformanceTest, TheRunnerReportsEveryKindOfMismatch) {
  const std::string cases = R"({"cases": [
    {"name": "wrong value", "send": {"request_id": "x", "get_agent_status": {}},
     "expect": {"agent_status": {"currency": "USD"}}},
    {"name": "should be absent", "send": {"request_id": "y", "get_agent_status": {}},
     "expect": {"agent_status": null}},
    {"name": "missing", "send": {"request_id": "z", "get_agent_status": {}},
     "expect": {"validate": "*"}},
    {"name": "no capture", "send": {"request_id": "${nothing}", "get_agent_status": {}},
     "expect": {}},
    {"name": "fine", "send": {"request_id": "w", "get_agent_status": {}},
     "expect": {"request_id": "w", "agent_status": {"currency_exponent": "2"}}}
  ]})";
  auto report = ctl::run_conformance(cases, options());
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(report->failures.size(), 4u);
  EXPECT_NE(report->failures[0].find("should be \"USD\", is \"EUR\""), std::string::npos)
      << report->failures[0];
  EXPECT_NE(report->failures[1].find("should be absent"), std::string::npos);
  EXPECT_NE(report->failures[2].find("validate: should be present, is absent"), std::string::npos);
  EXPECT_NE(report->failures[3].find("no value for ${nothing}"), std::string::npos);
  EXPECT_EQ(report->passed, 1) << "2 and \"2\" are the same number";
  EXPECT_FALSE(ctl::run_conformance(R"({"cases": [{"send": {}}]})", options()))
      << "a case without a name is a broken file";
}

INSTANTIATE_TEST_SUITE_P(BothFramings, ConformanceTest,
                         ::testing::Values(Framing::kBinary, Framing::kJsonLines),
                         [](const auto& param_info) {
                           return param_info.param == Framing::kBinary ? "Binary" : "JsonLines";
                         });

}  // namespace
}  // namespace accrue::testing
