// A full disk: accruals that cannot be written are refused with a clear error and leave nothing
// half-written, reads keep being served, and writes resume when space returns.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <filesystem>

#include "agent/store/seed.h"
#include "common/synthetic.h"
#include "tests/agent/agent_process.h"

namespace accrue::testing {
namespace {

namespace pb = accrue::pos::v1;

pb::Request accrual(int n) {
  pb::Request req;
  req.set_request_id(std::to_string(n));
  req.set_till_id("till-1");
  auto* a = req.mutable_accrue();
  a->set_pos_tx_id("full-" + std::to_string(n));
  a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
  // Never a seeded blocked member: its refusal would be counted as the disk's.
  int member = n % 150;
  if (synthetic_blocked(member)) ++member;
  a->mutable_identifier()->set_value(agent::seed_card_number(member));
  auto* b = a->mutable_basket();
  b->set_currency("EUR");
  for (int i = 1; i <= 20; ++i) {  // big rows, so the limit is reached quickly
    auto* l = b->add_lines();
    l->set_line_no(static_cast<uint32_t>(i));
    l->set_sku("SKU-LONG-NAME-" + std::to_string(n) + "-" + std::to_string(i));
    l->add_categories("tops");
    l->set_quantity_milli(1000);
    l->set_amount_minor(1000 + i);
  }
  return req;
}

TEST(DiskFullTest, WritesAreRefusedCleanlyAndResumeWhenSpaceReturns) {
  AgentProcess agent(200);
  ASSERT_EQ(agent.seed_status(), 0);
  const auto db_size = std::filesystem::file_size(agent.db_path());
  // The database file may not grow at all and the WAL only to 256 KiB.
  ASSERT_TRUE(agent.start({}, std::max<rlim_t>(db_size, 256 * 1024)));
  auto client = agent.connect();

  int ok = 0, refused = 0;
  pb::Response first_refusal;
  int n = 0;
  for (; n < 5000 && refused < 3; ++n) {
    auto r = client.call(accrual(n));
    ASSERT_TRUE(r) << r.error().message;
    if (r->has_accrue()) {
      ++ok;
    } else {
      if (refused++ == 0) first_refusal = *r;
    }
  }
  ASSERT_GT(ok, 0);
  ASSERT_EQ(refused, 3) << "the write limit was never reached";
  const auto& e = first_refusal.error();
  EXPECT_TRUE(e.code() == pb::ERROR_CODE_UNAVAILABLE ||
              e.code() == pb::ERROR_CODE_RESOURCE_EXHAUSTED)
      << e.DebugString();
  EXPECT_NE(e.message().find("could not save"), std::string::npos) << e.message();
  EXPECT_TRUE(e.retryable());

  // Reads still work.
  pb::Request v;
  v.set_till_id("till-1");
  *v.mutable_validate()->mutable_identifier() = accrual(1).accrue().identifier();
  auto validated = client.call(v);
  ASSERT_TRUE(validated);
  EXPECT_TRUE(validated->has_validate()) << validated->DebugString();

  // The refused sale left no trace: its status is "not found".
  pb::Request st;
  st.set_till_id("till-1");
  st.mutable_get_transaction_status()->set_pos_tx_id("full-" + std::to_string(n - 1));
  EXPECT_FALSE(client.call(st)->transaction_status().found());

  // Space returns: the same sale goes through.
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  ASSERT_EQ(prlimit(agent.pid(), RLIMIT_FSIZE, &unlimited, nullptr), 0);
  auto retried = client.call(accrual(n - 1));
  ASSERT_TRUE(retried);
  EXPECT_TRUE(retried->has_accrue()) << retried->DebugString();

  EXPECT_EQ(agent.stop(SIGTERM), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(agent.db_path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "ok");
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM ledger", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(s, 0), ok + 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

}  // namespace
}  // namespace accrue::testing
