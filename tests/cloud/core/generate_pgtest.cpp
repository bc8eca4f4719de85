// accrue-cloud generate on a throwaway database: consistent books, the CSV, the card links, and
// a refusal to generate over existing customers.
#include "cloud/core/generate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "cloud/core/audit.h"
#include "common/identifier.h"
#include "common/synthetic.h"
#include "common/sys/system.h"
#include "tests/cloud/cloud_fixture.h"

namespace accrue::cloud {
namespace {

// A throwaway database with the demo programme published.
class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACCRUE_NEED_DATABASE(db);
    auto conn = db.connect();
    ASSERT_TRUE(conn);
    c.emplace(std::move(*conn));
    std::ifstream in("packaging/demo/program.json");
    std::string json((std::istreambuf_iterator<char>(in)), {});
    ASSERT_TRUE(ProgramCatalog::publish(*c, json));
  }
  accrue::testing::TestDatabase db;
  std::optional<pg::Connection> c;
  ZoneinfoSource zones;
  ProgramCatalog programs{zones};
};

TEST_F(GenerateTest, LoadsConsistentBooksAndTheCustomerCsv) {
  GenerateOptions o;
  o.customers = 250;
  o.receipts_per_customer = 3;
  o.stores = 4;
  o.program_key = std::vector<uint8_t>(32, 0xaa);
  o.csv_path = (std::filesystem::temp_directory_path() /
                ("accrue-gen-" + std::to_string(::getpid()) + ".csv"))
                   .string();
  int64_t last_progress = 0;
  auto r = generate(*c, programs, o, [&](int64_t done, int64_t) { last_progress = done; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->customers, 250);
  EXPECT_EQ(r->receipts, 750);
  EXPECT_EQ(last_progress, 250);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM ledger"), "750");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM receipt"), "750");
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT home_store_id) FROM customer"), "4");
  auto report = audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  // The card of member 7 hashes, with the programme key, to member 7's customer id: the same
  // people as a store replica seeded with `accrue-agent seed`.
  auto hasher = IdentifierHasher::create(*o.program_key);
  auto h = hasher->hash({IdentifierKind::kCard, synthetic_card_number(7)});
  EXPECT_EQ(db.scalar("SELECT customer_id FROM identifier WHERE hash = '\\x" + to_hex(h) + "'"),
            synthetic_customer_id(7));
  std::ifstream csv(o.csv_path);
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 251) << "header + one id per customer";
  std::filesystem::remove(o.csv_path);

  auto again = generate(*c, programs, o, {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(GenerateTest, ParallelLoadersWriteEveryChunkOnce) {
  GenerateOptions o;
  o.customers = 12'001;  // three chunks, the last one short
  o.receipts_per_customer = 1;
  o.workers = 3;
  int connections = 0;
  o.connect_more = [&] {
    ++connections;
    return db.connect();
  };
  int64_t last_progress = 0;
  auto r = generate(*c, programs, o, [&](int64_t done, int64_t) { last_progress = done; });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(connections, 2);
  EXPECT_EQ(r->customers, 12'001);
  EXPECT_EQ(r->receipts, 12'001);
  EXPECT_EQ(last_progress, 12'001);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM customer"), "12001");
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT customer_id) FROM ledger"), "12001");
  auto report = audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace accrue::cloud
