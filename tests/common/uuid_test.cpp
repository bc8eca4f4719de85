#include "common/uuid.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/common/test_support.h"

namespace accrue {
namespace {

using testing::FakeClock;
using testing::FakeRandom;

TEST(UuidTest, ParsesAndPrintsTheCanonicalForm) {
  auto u = Uuid::parse("0190A5B2-3C4D-7E5F-8A9B-0C1D2E3F4A5B");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->to_string(), "0190a5b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(u->version(), 7);
  EXPECT_FALSE(u->is_nil());
  EXPECT_TRUE(Uuid().is_nil());
}

TEST(UuidTest, RejectsMalformedTextNamingTheField) {
  for (std::string_view bad :
       {"", "0190a5b2-3c4d-7e5f-8a9b-0c1d2e3f4a5", "0190a5b23c4d7e5f8a9b0c1d2e3f4a5b",
        "0190a5b2-3c4d-7e5f-8a9b-0c1d2e3f4a5g", "0190a5b2_3c4d-7e5f-8a9b-0c1d2e3f4a5b"}) {
    auto r = Uuid::parse(bad, "customer_id");
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(r.error().message.starts_with("customer_id:"));
  }
}

TEST(UuidTest, RandomV4HasVersionAndVariant) {
  FakeRandom rnd;
  Uuid u = Uuid::random_v4(rnd);
  EXPECT_EQ(u.version(), 4);
  EXPECT_EQ(u.bytes()[8] & 0xc0, 0x80);
}

TEST(UuidV7Test, CarriesTheMillisecondTimestamp) {
  FakeClock clock(1'767'225'600'123);
  FakeRandom rnd;
  UuidV7Generator gen(clock, rnd);
  Uuid u = gen.next();
  EXPECT_EQ(u.version(), 7);
  EXPECT_EQ(u.bytes()[8] & 0xc0, 0x80);
  EXPECT_EQ(u.v7_timestamp_ms(), 1'767'225'600'123);
}

TEST(UuidV7Test, StrictlyIncreasesWithinOneMillisecondAndWhenTheClockStepsBack) {
  FakeClock clock(1'767'225'600'000);
  FakeRandom rnd;
  UuidV7Generator gen(clock, rnd);
  Uuid prev = gen.next();
  std::set<Uuid> seen{prev};
  for (int i = 0; i < 20000; ++i) {
    if (i == 10000) clock.advance(-5000);  // NTP step back
    if (i % 1000 == 999) clock.advance(1);
    Uuid u = gen.next();
    ASSERT_LT(prev, u) << i;
    ASSERT_EQ(u.version(), 7);
    ASSERT_EQ(u.bytes()[8] & 0xc0, 0x80);
    prev = u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 20001u);
}

}  // namespace
}  // namespace accrue
