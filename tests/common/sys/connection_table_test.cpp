#include "common/sys/connection_table.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

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
  bool input_waiting() const override { return unread_bytes; }
  int evictions = 0;
  int closes = 0;
  bool unread_bytes = false;
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

// A till that connected and sent its sale while the server was busy accepting a flood has not
// been read yet, but its bytes wait in its socket: it is a client, and the flood goes first.
TEST(ConnectionTableTest, ASilentConnectionWithInputWaitingIsRankedAsAClient) {
  ConnectionTable table;
  auto till = std::make_shared<FakeConnection>(100, false);
  till->unread_bytes = true;
  auto flood = std::make_shared<FakeConnection>(200, false);
  auto client = std::make_shared<FakeConnection>(50, true);
  for (auto& c : {till, flood, client}) table.add(c);

  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(flood->evictions, 1);
  EXPECT_TRUE(till->spoke());
  // Then the clients, longest waiting first: the one that spoke earlier, then the till.
  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(client->evictions, 1);
  ASSERT_TRUE(table.make_room());
  EXPECT_EQ(till->evictions, 1);
}

// The real check on a socket: bytes sent and not yet read are seen; none, or a closed
// descriptor, are not.
TEST(ConnectionTableTest, InputWaitingReadsTheSocket) {
  class Watched final : public Evictable {
   public:
    explicit Watched(int fd) { watch_input(fd); }
    void evict() override {}
    void close_when_idle() override {}
  };
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Watched server_side(fds[0]);
  EXPECT_FALSE(server_side.input_waiting());
  ASSERT_EQ(::write(fds[1], "{", 1), 1);
  EXPECT_TRUE(server_side.input_waiting());
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_FALSE(server_side.input_waiting()) << "a closed descriptor has nothing waiting";
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
