#include "common/sys/connection_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace accrue {
namespace {

// A connection whose state the test sets: waiting since a tick (0: its request is being
// handled), and whether it has shown it is a client.
class FakeConnection final : public Evictable {
 public:
  FakeConnection(int64_t waiting_since, bool spoke) {
    waiting_since_.store(waiting_since);
    spoke_.store(spoke);
  }
  void evict() override { ++evictions; }
  void close_when_idle() override { ++closes; }
  int evictions = 0;
  int closes = 0;
};

TEST(ConnectionTableTest, TheSilentGoBeforeClientsEachLongestWaitingFirst) {
  ConnectionTable table;
  auto client_old = std::make_shared<FakeConnection>(100, true);
  auto silent_new = std::make_shared<FakeConnection>(300, false);
  auto silent_old = std::make_shared<FakeConnection>(200, false);
  for (auto& c : {client_old, silent_new, silent_old}) table.add(c);

  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(silent_old->evictions, 1);
  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(silent_new->evictions, 1);
  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(client_old->evictions, 1);
  EXPECT_EQ(table.evicted(), 3u);
  // Each left the table when chosen: none is evicted twice.
  EXPECT_FALSE(table.make_room());
  EXPECT_EQ(client_old->evictions + silent_new->evictions + silent_old->evictions, 3);
}

TEST(ConnectionTableTest, ARequestBeingHandledIsNeverCut) {
  ConnectionTable table;
  auto busy = std::make_shared<FakeConnection>(0, true);
  auto busy_silent = std::make_shared<FakeConnection>(0, false);
  table.add(busy);
  table.add(busy_silent);
  EXPECT_FALSE(table.make_room());
  EXPECT_EQ(busy->evictions + busy_silent->evictions, 0);
  EXPECT_EQ(table.evicted(), 0u);
}

TEST(ConnectionTableTest, EndedConnectionsAreForgottenAndTheLiveOnesAskedToClose) {
  ConnectionTable table;
  auto live = std::make_shared<FakeConnection>(100, true);
  table.add(live);
  {
    auto ended = std::make_shared<FakeConnection>(50, false);
    table.add(ended);
  }  // gone: only a weak reference was held
  table.close_when_idle();
  EXPECT_EQ(live->closes, 1);
  // The ended one is not chosen: the live one is.
  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(live->evictions, 1);
  // With `forget`, the table is emptied after the ask.
  auto other = std::make_shared<FakeConnection>(10, true);
  table.add(other);
  table.close_when_idle(/*forget=*/true);
  EXPECT_EQ(other->closes, 1);
  EXPECT_FALSE(table.make_room());
}

}  // namespace
}  // namespace accrue
