// The problem catalogue against the contract: every type the service can answer is in the OpenAPI
// document's table with the status it is answered with, and a named problem carries its type,
// status and extension members.
#include "cloud/http/problems.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace accrue::cloud::http {
namespace {

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int status_of(const ProblemKind& k) { return k.status != 0 ? k.status : http_status(k.code); }

TEST(ProblemsTest, EveryTypeIsListedInTheOpenApiDocumentWithItsStatus) {
  const std::string doc = read_text("cloud/openapi/openapi.yaml");
  ASSERT_FALSE(doc.empty());
  for (const auto& k : problem_kinds()) {
    const std::string row =
        "| `/problems/" + std::string(k.name) + "` | " + std::to_string(status_of(k)) + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "missing from the document's table: " << row;
  }
}

TEST(ProblemsTest, AStatusDiffersFromItsCodesOnlyWhereHttpHasAMorePreciseOne) {
  for (const auto& k : problem_kinds()) {
    if (k.status == 0) continue;
    EXPECT_NE(k.status, http_status(k.code)) << k.name << ": the refinement changes nothing";
    EXPECT_TRUE(k.status == 412 || k.status == 413 || k.status == 415 || k.status == 422) << k.name;
  }
}

TEST(ProblemsTest, ANamedProblemCarriesTypeStatusAndExtensions) {
  Request req{bhttp::verb::get, "/v1/x", 11};
  RequestContext ctx;
  ctx.request_id = "r-1";
  auto res = problem(req, ctx, Problem::kIdentifierTaken, "another member has it",
                     {{"field", "/identifiers/0"}});
  EXPECT_EQ(res.result_int(), 409);
  EXPECT_EQ(res[bhttp::field::content_type], "application/problem+json");
  auto body = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(body.at("type"), "/problems/identifier-taken");
  EXPECT_EQ(body.at("status"), 409);
  EXPECT_EQ(body.at("detail"), "another member has it");
  EXPECT_EQ(body.at("field"), "/identifiers/0");
  EXPECT_EQ(body.at("request_id"), "r-1");
}

}  // namespace
}  // namespace accrue::cloud::http
