// accrue-loadgen's parts that need no server: the histogram's accuracy, the loopback-only
// target, the mix and CSV parsers, and the reports.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "tests/load/loadgen/loadgen.h"

namespace accrue::loadgen {
namespace {

TEST(HistogramTest, PercentilesAreWithinTheBucketPrecisionOfTheExactOnes) {
  Histogram<7> h;
  std::vector<int64_t> v;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(8.0, 1.5);  // µs: ~3 ms median, long tail
  for (int i = 0; i < 200'000; ++i) {
    const auto x = static_cast<int64_t>(d(rng));
    v.push_back(x);
    h.record(x);
  }
  std::sort(v.begin(), v.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const auto exact =
        v[static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size()))) - 1];
    const auto got = h.percentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1 + 1.0 / 128) + 1) << p;
  }
  EXPECT_EQ(h.max(), v.back());
  EXPECT_EQ(h.percentile(100), v.back());
  EXPECT_EQ(h.count(), 200'000);
}

TEST(HistogramTest, SmallValuesAreExactAndMergingAddsCounts) {
  Histogram<7> a, b;
  for (int i = 1; i <= 100; ++i) a.record(i);
  EXPECT_EQ(a.percentile(50), 50);
  EXPECT_EQ(a.percentile(99), 99);
  b.record(1'000'000'000);  // a thousand seconds
  a.merge(b);
  EXPECT_EQ(a.count(), 101);
  EXPECT_EQ(a.max(), 1'000'000'000);
  EXPECT_EQ(Histogram<7>().percentile(99), 0);
}

TEST(TargetTest, OnlyThisMachineIsATarget) {
  auto t = parse_target("http://127.0.0.1:8080/api/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->address, "127.0.0.1");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->base_path, "/api");
  EXPECT_EQ(parse_target("http://localhost")->address, "127.0.0.1");
  EXPECT_EQ(parse_target("http://localhost")->port, 80);
  EXPECT_EQ(parse_target("http://[::1]:9000")->address, "::1");
  EXPECT_TRUE(parse_target("http://127.9.9.9:1"));
  for (const char* bad :
       {"http://10.0.0.1:80", "http://example.com", "https://127.0.0.1", "http://127.0.0.1:0",
        "http://127.0.0.1:70000", "127.0.0.1:80", "http://0.0.0.0:80"}) {
    EXPECT_FALSE(parse_target(bad)) << bad;
  }
  EXPECT_NE(parse_target("http://192.168.1.1").error().message.find("only this machine"),
            std::string::npos);
}

TEST(MixTest, ParsesWeightsAndPathsAndNamesTheBadItem) {
  auto m = parse_mix("a=3:/x/{id},b=1:/healthz");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].name, "a");
  EXPECT_EQ((*m)[0].weight, 3);
  EXPECT_EQ((*m)[1].path, "/healthz");
  for (const char* bad : {"", "a=0:/x", "a=x:/x", "a=1:x", "a:1=/x", "=1:/x", "a=1:/x y"}) {
    EXPECT_FALSE(parse_mix(bad)) << bad;
  }
  EXPECT_NE(parse_mix("a=1:/x,b=-2:/y").error().message.find("b"), std::string::npos);
}

TEST(CustomersTest, ReadsTheFirstColumnAndRefusesWhatIsNotAnId) {
  const auto path =
      std::filesystem::temp_directory_path() / ("loadgen-" + std::to_string(::getpid()) + ".csv");
  std::ofstream(path) << "customer_id\nc-1,x\r\nc-2\n\n";
  auto ids = read_customers(path.string(), 10);
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<std::string>{"c-1", "c-2"}));
  EXPECT_FALSE(read_customers(path.string(), 1));
  std::ofstream(path) << "c-1\nc/../2\n";
  auto bad = read_customers(path.string(), 10);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(":2:"), std::string::npos) << bad.error().message;
  std::filesystem::remove(path);
  EXPECT_FALSE(read_customers("/nonexistent/ids.csv", 10));
}

TEST(OptionsTest, BoundsAreEnforced) {
  Options o;
  o.target = *parse_target("http://127.0.0.1:1");
  o.endpoints = case_study_mix();
  EXPECT_FALSE(validate(o)) << "{id} needs customers";
  o.customers = {"c-1"};
  EXPECT_TRUE(validate(o));
  o.connections = kMaxConnections + 1;
  EXPECT_FALSE(validate(o));
  o.connections = 10;
  o.duration_s = kMaxDurationS + 1;
  EXPECT_FALSE(validate(o));
}

TEST(RunTest, ARefusedPortIsCountedAsConnectErrorsAndTheRunStillEnds) {
  Options o;
  o.target = *parse_target("http://127.0.0.1:1");  // nothing listens on port 1
  o.endpoints = *parse_mix("x=1:/");
  o.connections = 4;
  o.duration_s = 0.3;
  o.threads = 1;
  const auto started = std::chrono::steady_clock::now();
  auto r = run(o);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  const auto all = r.overall();
  EXPECT_EQ(all.latency_us.count(), 0);
  EXPECT_GT(all.errors[static_cast<size_t>(ErrorClass::kConnect)], 0);
  // The reports hold together with no successful request.
  auto json = boost::json::parse(report_json(r));
  EXPECT_EQ(json.at("overall").at("requests").as_int64(), 0);
  EXPECT_NE(report_table(r).find("connect"), std::string::npos);
  const auto svg = report_svg(r);
  EXPECT_TRUE(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
}

}  // namespace
}  // namespace accrue::loadgen
