// The search projection against real PostgreSQL: the change feed into an Elasticsearch-format
// index (FakeElastic: no search server can run here). What must hold: nothing is skipped (a
// transaction that commits late included), a batch the cluster refused is sent again, an old
// batch cannot overwrite newer content, one replica projects at a time and an operator's
// rebuild is handed to it, a cursor behind the pruned feed rebuilds, and the lag is measured.
#include "cloud/search/projector.h"

#include <gtest/gtest.h>

#include "tests/cloud/cloud_fixture.h"
#include "tests/cloud/search/fake_elastic.h"

namespace accrue::cloud::search {
namespace {

using accrue::testing::TestDatabase;
using testing::FakeElastic;

class ProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACCRUE_NEED_DATABASE(db_);
    pg::PoolOptions po;
    po.dsn = db_.dsn();
    po.size = 4;
    pool_ = std::make_unique<pg::Pool>(po);
    ElasticOptions eo;
    eo.url = es_.url();
    eo.backoff_base = std::chrono::milliseconds(1);
    eo.max_retries = 1;
    client_ = std::make_unique<ElasticClient>(eo);
    ProjectorOptions o;
    o.owner = "replica-a";
    o.batch = 50;
    projector_ = std::make_unique<SearchProjector>(*pool_, *client_, o);
    sql("INSERT INTO customer (customer_id, tier_id) SELECT 'c' || lpad(i::text, 3, '0'), "
        "'bronze' FROM generate_series(0, 119) i");
    sql("INSERT INTO balance (customer_id) SELECT customer_id FROM customer");
    sql("INSERT INTO customer_pii (customer_id, display_name) SELECT customer_id, 'Member ' || "
        "customer_id FROM customer");
  }

  void sql(const std::string& s) {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    auto r = c->exec(s.c_str());
    ASSERT_TRUE(r) << r.error().message << "\n" << s;
  }
  // A change to a member as a writer makes it: the row and its feed row in one transaction.
  void change_points(const std::string& id, int points) {
    sql("BEGIN; UPDATE balance SET points = " + std::to_string(points) + " WHERE customer_id = '" +
        id +
        "'; INSERT INTO change_feed (kind, customer_id) VALUES "
        "(1, '" +
        id + "'); COMMIT");
  }
  int64_t indexed_points(const std::string& id) {
    auto d = es_.doc("accrue-customers", id);
    return d ? d->source.at("points").to_number<int64_t>() : -1;
  }
  TickOutcome tick() {
    auto t = projector_->tick();
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : TickOutcome{};
  }
  // Ticks until a tick finds nothing more it may read now (bounded).
  void settle() {
    for (int i = 0; i < 20; ++i) {
      if (!tick().more) return;
    }
    ADD_FAILURE() << "the projection did not settle in 20 batches";
  }
  // Ticks until every committed change is in the index (lag 0), for up to 10 s. Not one pass:
  // the feed reads only transactions finished before its snapshot, and transaction ids are
  // shared by every database of the server, so another test's open transaction holds the
  // cursor back for a moment (as a long transaction would in production).
  void drain() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      settle();
      auto l = projector_->lag();
      ASSERT_TRUE(l) << l.error().message;
      if (l->count() == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the projection did not catch up in 10 s";
  }

  TestDatabase db_;
  FakeElastic es_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<ElasticClient> client_;
  std::unique_ptr<SearchProjector> projector_;
};

TEST_F(ProjectorTest, TheFirstTickBuildsTheIndexAndMovesTheAliasOntoIt) {
  auto t = tick();
  EXPECT_TRUE(t.leased);
  EXPECT_TRUE(t.rebuilt);
  const std::string index = es_.alias_target("accrue-customers");
  EXPECT_TRUE(index.starts_with("accrue-customers-")) << index;
  EXPECT_EQ(es_.count(index), 120u);
  auto d = es_.doc(index, "c007");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->source.at("display_name"), "Member c007");
  EXPECT_EQ(d->source.at("name_lc"), "member c007");
  EXPECT_EQ(db_.scalar("SELECT index_name FROM search_projection"), index);
  EXPECT_EQ(projector_->counters().rebuilds.load(), 1u);
}

TEST_F(ProjectorTest, AChangeReachesTheIndexAndABatchTheClusterRefusedIsSentAgain) {
  tick();
  change_points("c001", 250);
  drain();
  EXPECT_EQ(indexed_points("c001"), 250);

  const std::string cursor = db_.scalar(
      "SELECT cursor_xid || '/' || cursor_id FROM "
      "search_projection");
  change_points("c002", 90);
  es_.fail_with(503);
  // (Ticks that find the row not yet readable, behind another test's open transaction, succeed
  // without sending anything.)
  auto refused = projector_->tick();
  for (int i = 0; i < 1000 && refused; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    refused = projector_->tick();
  }
  ASSERT_FALSE(refused) << "an outage is an error, not a silent skip";
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(db_.scalar("SELECT cursor_xid || '/' || cursor_id FROM search_projection"), cursor)
      << "the cursor waits for the cluster";
  es_.fail_with(0);
  drain();
  EXPECT_EQ(indexed_points("c002"), 90) << "sent again once the cluster answered";
}

TEST_F(ProjectorTest, AnOldBatchSentLateCannotOverwriteNewerContent) {
  tick();
  change_points("c003", 10);
  drain();
  const auto first = es_.doc("accrue-customers", "c003");
  ASSERT_TRUE(first);
  change_points("c003", 20);
  drain();
  const auto second = es_.doc("accrue-customers", "c003");
  ASSERT_TRUE(second);
  EXPECT_GT(second->version, first->version) << "content read later carries a higher version";
  // A replica that stalled with the first batch and sends it now:
  CustomerDoc late;
  late.customer_id = "c003";
  late.version = first->version;
  late.points = 10;
  auto sent = client_->bulk({late});
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(sent->stale, 1);
  EXPECT_EQ(indexed_points("c003"), 20);
}

TEST_F(ProjectorTest, ATransactionThatCommitsLateIsNotSkipped) {
  tick();
  // T1 takes its feed row id first and commits last; T2 commits in between.
  auto t1 = db_.connect();
  ASSERT_TRUE(t1);
  ASSERT_TRUE(
      t1->exec("BEGIN; UPDATE balance SET points = 11 WHERE customer_id = 'c010'; "
               "INSERT INTO change_feed (kind, customer_id) VALUES (1, 'c010')"));
  change_points("c011", 12);
  settle();
  EXPECT_EQ(indexed_points("c011"), 0)
      << "a row behind an open transaction waits: projecting it would move the cursor past T1";
  ASSERT_TRUE(t1->exec("COMMIT"));
  drain();
  EXPECT_EQ(indexed_points("c010"), 11);
  EXPECT_EQ(indexed_points("c011"), 12);
}

TEST_F(ProjectorTest, OneReplicaProjectsAndAnOperatorsRebuildIsHandedToIt) {
  tick();
  const std::string before = es_.alias_target("accrue-customers");
  ProjectorOptions o;
  o.owner = "replica-b";
  SearchProjector other(*pool_, *client_, o);
  auto t = other.tick();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->leased) << "replica-a holds the lease";

  auto asked = other.rebuild();
  ASSERT_TRUE(asked) << asked.error().message;
  EXPECT_FALSE(asked->has_value()) << "handed to the lease holder, not run beside it";
  EXPECT_EQ(db_.scalar("SELECT rebuild_requested FROM search_projection"), "t");
  auto done = tick();
  EXPECT_TRUE(done.rebuilt);
  const std::string after = es_.alias_target("accrue-customers");
  EXPECT_NE(after, before);
  EXPECT_EQ(es_.count(after), 120u);
  EXPECT_FALSE(es_.indexes().contains(before)) << "the old index is dropped";
  EXPECT_EQ(db_.scalar("SELECT rebuild_requested FROM search_projection"), "f");
  // Changes made before the swap are still projected after it (the feed replays from the
  // rebuild's snapshot).
  change_points("c020", 77);
  drain();
  EXPECT_EQ(indexed_points("c020"), 77);
}

TEST_F(ProjectorTest, ACursorBehindThePrunedFeedRebuildsInsteadOfSkipping) {
  tick();
  change_points("c030", 5);
  // prune-feed removed rows the projection had not read yet.
  sql("INSERT INTO feed_horizon (pruned_through_xid, pruned_through_id) SELECT "
      "pg_current_xact_id(), (SELECT max(id) FROM change_feed)");
  sql("DELETE FROM change_feed");
  auto t = tick();
  EXPECT_TRUE(t.rebuilt);
  EXPECT_EQ(indexed_points("c030"), 5) << "the rebuild read the member as she is";
}

TEST_F(ProjectorTest, TheLagIsTheAgeOfTheOldestChangeNotYetProjected) {
  tick();
  drain();
  auto zero = projector_->lag();
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->count(), 0);
  sql("INSERT INTO change_feed (kind, customer_id, created_at) VALUES (1, 'c040', now() - "
      "interval '30 seconds')");
  auto behind = projector_->lag();
  ASSERT_TRUE(behind);
  EXPECT_GE(behind->count(), 29'000);
  EXPECT_LT(behind->count(), 60'000);
  drain();
  EXPECT_EQ(projector_->counters().lag_ms.load(), 0) << "measured by each tick";
}

TEST_F(ProjectorTest, AnErasedMemberKeepsNoPersonalDataInTheIndex) {
  tick();
  sql("BEGIN; DELETE FROM customer_pii WHERE customer_id = 'c050'; UPDATE customer SET status = 3 "
      "WHERE customer_id = 'c050'; INSERT INTO change_feed (kind, customer_id) VALUES (1, "
      "'c050'); COMMIT");
  drain();
  auto d = es_.doc("accrue-customers", "c050");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->source.at("status"), 3);
  EXPECT_EQ(d->source.at("display_name"), "");
  EXPECT_EQ(d->source.at("name_lc"), "");
  // A customer gone from the system of record altogether is deleted from the index.
  sql("BEGIN; DELETE FROM balance WHERE customer_id = 'c051'; DELETE FROM customer_pii WHERE "
      "customer_id = 'c051'; DELETE FROM customer WHERE customer_id = 'c051'; INSERT INTO "
      "change_feed (kind, customer_id) VALUES (1, 'c051'); COMMIT");
  drain();
  EXPECT_FALSE(es_.doc("accrue-customers", "c051"));
}

}  // namespace
}  // namespace accrue::cloud::search
