#include "agent/store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "agent/store/schema.h"
#include "tests/agent/agent_process.h"

namespace accrue::agent {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::temp_dir("accrue-gc-") + "/replica.db";
    auto w = Replica::open_writer(path_);
    ASSERT_TRUE(w) << w.error().message;
    writer_ = std::make_unique<GroupCommitWriter>(std::move(*w), 64, 16);
  }
  int64_t meta_count() {
    auto r = Replica::open_reader(path_);
    auto v = r->db().scalar("SELECT COUNT(*) FROM meta WHERE key LIKE 'job-%'");
    return v ? *v : -1;
  }
  std::string path_;
  std::unique_ptr<GroupCommitWriter> writer_;
};

TEST_F(GroupCommitTest, AFailingRequestDoesNotUndoTheOthersInItsGroup) {
  std::vector<std::promise<Result<void>>> done(3);
  // Hold the writer busy so the three jobs below queue up and commit as one group.
  std::promise<void> release;
  auto gate = release.get_future().share();
  ASSERT_TRUE(writer_->submit({[gate](Replica&) -> Result<void> {
                                 gate.wait();
                                 return {};
                               },
                               [](Result<void>) {}}));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(writer_->submit(
        {[i](Replica& r) -> Result<void> {
           ACCRUE_TRY(r.set_meta("job-" + std::to_string(i), "x"));
           if (i == 1) return fail(ErrorCode::kInvalidArgument, "job 1 is bad");
           return {};
         },
         [&done, i](Result<void> result) { done[static_cast<size_t>(i)].set_value(result); }}));
  }
  release.set_value();
  EXPECT_TRUE(done[0].get_future().get());
  auto bad = done[1].get_future().get();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "job 1 is bad");
  EXPECT_TRUE(done[2].get_future().get());
  EXPECT_EQ(meta_count(), 2);  // job-0 and job-2, not job-1
  auto stats = writer_->stats();
  EXPECT_EQ(stats.jobs, 4u);
  EXPECT_LE(stats.groups, 2u);  // the gate, then the three together
}

TEST_F(GroupCommitTest, StopRunsWhatIsQueuedAndRefusesNewWork) {
  std::atomic<int> committed{0};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        writer_->submit({[i](Replica& r) { return r.set_meta("job-" + std::to_string(i), "x"); },
                         [&](Result<void> r) {
                           if (r) ++committed;
                         }}));
  }
  writer_->stop();
  EXPECT_EQ(committed.load(), 50);
  EXPECT_FALSE(writer_->submit({[](Replica&) -> Result<void> { return {}; }, [](Result<void>) {}}));
  EXPECT_EQ(meta_count(), 50);
}

TEST_F(GroupCommitTest, AFullQueueSaysBusy) {
  std::promise<void> release;
  auto gate = release.get_future().share();
  int accepted = 0;
  for (int i = 0; i < 200; ++i) {
    if (writer_->submit({[gate](Replica&) -> Result<void> {
                           gate.wait();
                           return {};
                         },
                         [](Result<void>) {}})) {
      ++accepted;
    }
  }
  release.set_value();
  EXPECT_LE(accepted, 64 + 16);  // the queue bound plus the group being run
  EXPECT_LT(accepted, 200);
}

// Schema v6 moves provisional members from 3 to 5, the number the cloud's database shares
// (where 3 is "erased"); active and blocked keep theirs.
TEST(ReplicaSchemaTest, ProvisionalMembersTakeTheSharedStatusNumber) {
  const auto path = testing::temp_dir("accrue-schema-") + "/replica.db";
  {
    auto db = sqlite::Db::open(path, sqlite::Db::Mode::kReadWrite);
    ASSERT_TRUE(db) << db.error().message;
    for (size_t v = 0; v < 5; ++v) ASSERT_TRUE(db->exec(kMigrations[v]));
    ASSERT_TRUE(db->exec("PRAGMA user_version=5"));
    ASSERT_TRUE(
        db->exec("INSERT INTO customer (customer_id, status) VALUES ('a', 1), ('b', 2), ('p', 3)"));
  }
  auto r = Replica::open_writer(path);
  ASSERT_TRUE(r) << r.error().message;
  for (const auto& [id, status] : {std::pair<std::string, int>{"a", kStatusActive},
                                   {"b", kStatusBlocked},
                                   {"p", kStatusProvisional}}) {
    auto c = r->customer(id);
    ASSERT_TRUE(c && *c) << id;
    EXPECT_EQ((*c)->status, status) << id;
  }
  EXPECT_EQ(kStatusProvisional, 5);
}

// Queue sizes are kept by triggers from schema v5 on; a file upgraded with events already queued
// starts from their count, and every later insert and delete moves it.
TEST(ReplicaSchemaTest, QueueSizesSurviveTheUpgradeAndFollowEveryChange) {
  const auto path = testing::temp_dir("accrue-schema-") + "/replica.db";
  {
    auto db = sqlite::Db::open(path, sqlite::Db::Mode::kReadWrite);
    ASSERT_TRUE(db) << db.error().message;
    for (size_t v = 0; v < 4; ++v) ASSERT_TRUE(db->exec(kMigrations[v]));
    ASSERT_TRUE(db->exec("PRAGMA user_version=4"));
    ASSERT_TRUE(
        db->exec("INSERT INTO outbox VALUES (1, x'01', x'', 500), (2, x'02', x'', 400), "
                 "(3, x'03', x'', 600)"));
    ASSERT_TRUE(db->exec("INSERT INTO quarantine VALUES (7, x'07', x'', 'bad_field', 'm', 1)"));
  }
  auto r = Replica::open_writer(path);
  ASSERT_TRUE(r) << r.error().message;
  auto stats = r->outbox_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->depth, 3);
  EXPECT_EQ(stats->oldest_created_at, 400);
  EXPECT_EQ(stats->quarantined, 1);

  ASSERT_TRUE(r->confirm_uploaded(2));
  ASSERT_TRUE(r->quarantine_event(1, "bad_field", "m", 700));
  ASSERT_TRUE(r->insert_outbox(9, std::string(16, 'x'), "", 800));
  stats = r->outbox_stats();
  EXPECT_EQ(stats->depth, 2);
  EXPECT_EQ(stats->oldest_created_at, 600);
  EXPECT_EQ(stats->quarantined, 2);

  ASSERT_TRUE(r->resubmit_quarantined(7, 900));
  ASSERT_TRUE(r->drop_quarantined(1));
  stats = r->outbox_stats();
  EXPECT_EQ(stats->depth, 3);
  EXPECT_EQ(stats->quarantined, 0);
  EXPECT_EQ(r->db().scalar("SELECT COUNT(*) FROM outbox").value_or(-1), 3);
}

}  // namespace
}  // namespace accrue::agent
