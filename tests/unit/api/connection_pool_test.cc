#include "api/connection_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <vector>

namespace sbx::api {
namespace {

// A pool whose evictions are recorded instead of shutting sockets down.
struct Recorded {
  std::vector<int> evicted;  // descriptors shut down with SHUT_RDWR
  std::vector<int> stopped;  // ... with SHUT_RD
  ConnectionPool pool;
  explicit Recorded(PoolLimits l)
      : pool(l, [this](int fd, int how) { (how == SHUT_RDWR ? evicted : stopped).push_back(fd); }) {}
};

TEST(ConnectionPool, APeersOwnOldestPreAuthConnectionGoesFirst) {
  Recorded r(PoolLimits{100, 50, 3});
  r.pool.Open("10.0.0.1", 1, 1);
  r.pool.Open("10.0.0.2", 2, 2);  // another peer, older than the attacker's next ones
  r.pool.Open("10.0.0.1", 3, 3);
  r.pool.Open("10.0.0.1", 4, 4);
  auto o = r.pool.Open("10.0.0.1", 5, 5);  // the peer's fourth: its oldest (fd 1) goes
  EXPECT_NE(o.id, 0u);
  EXPECT_EQ(o.evicted, 1u);
  EXPECT_EQ(r.evicted, (std::vector<int>{1}));
  EXPECT_EQ(r.pool.size(), 4u);
}

TEST(ConnectionPool, AClientWithACompleteHeaderOutlivesAFlood) {
  Recorded r(PoolLimits{100, 50, 4});
  std::vector<uint64_t> flood;
  for (int i = 0; i < 4; ++i) flood.push_back(r.pool.Open("127.0.0.1", 10 + i, i).id);
  auto keyed = r.pool.Open("127.0.0.1", 99, 10);  // evicts the oldest of the flood
  ASSERT_TRUE(r.pool.Activate(keyed.id));        // its header arrived
  for (int i = 0; i < 20; ++i) r.pool.Open("127.0.0.1", 200 + i, 20 + i);
  for (int fd : r.evicted) EXPECT_NE(fd, 99);
  EXPECT_EQ(r.pool.preauth(), 4u);
  EXPECT_EQ(r.pool.size(), 5u);
  // Back to pre-auth after its answer: now the newest, evicted only after 4 more.
  r.pool.PreAuth(keyed.id, 100);
  for (int i = 0; i < 3; ++i) r.pool.Open("127.0.0.1", 300 + i, 101 + i);
  for (int fd : r.evicted) EXPECT_NE(fd, 99);
  r.pool.Open("127.0.0.1", 400, 200);
  EXPECT_EQ(r.evicted.back(), 99);
}

TEST(ConnectionPool, GlobalPreAuthCapEvictsTheOldestOfAnyPeer) {
  Recorded r(PoolLimits{100, 3, 3});
  r.pool.Open("a", 1, 1);
  r.pool.Open("b", 2, 2);
  r.pool.Open("c", 3, 3);
  r.pool.Open("d", 4, 4);
  EXPECT_EQ(r.evicted, (std::vector<int>{1}));
  EXPECT_EQ(r.pool.preauth(), 3u);
}

TEST(ConnectionPool, FullOfActiveRequestsRefusesNewConnections) {
  Recorded r(PoolLimits{2, 2, 2});
  auto a = r.pool.Open("a", 1, 1);
  auto b = r.pool.Open("b", 2, 2);
  ASSERT_TRUE(r.pool.Activate(a.id));
  ASSERT_TRUE(r.pool.Activate(b.id));
  auto c = r.pool.Open("c", 3, 3);
  EXPECT_EQ(c.id, 0u);
  EXPECT_TRUE(r.evicted.empty());
  r.pool.PreAuth(b.id, 4);  // idle again: now it can make room
  auto d = r.pool.Open("c", 3, 5);
  EXPECT_NE(d.id, 0u);
  EXPECT_EQ(r.evicted, (std::vector<int>{2}));
}

TEST(ConnectionPool, AnEvictedConnectionCannotBecomeActiveAndCloseIsIdempotent) {
  Recorded r(PoolLimits{10, 10, 1});
  auto a = r.pool.Open("p", 1, 1);
  r.pool.Open("p", 2, 2);
  EXPECT_FALSE(r.pool.Activate(a.id));
  r.pool.Close(a.id);  // its thread ends: nothing more is shut down
  EXPECT_EQ(r.evicted, (std::vector<int>{1}));
  EXPECT_EQ(r.pool.evictions(), 1u);
}

TEST(ConnectionPool, ShutdownAllStopsEveryConnection) {
  Recorded r(PoolLimits{10, 10, 10});
  auto a = r.pool.Open("p", 1, 1);
  r.pool.Open("q", 2, 2);
  ASSERT_TRUE(r.pool.Activate(a.id));
  r.pool.ShutdownAll();
  EXPECT_EQ(r.stopped.size(), 2u);
}

TEST(PeerKey, GroupsIpv6ByPrefixAndUnmapsIpv4) {
  namespace ip = boost::asio::ip;
  EXPECT_EQ(PeerKey(ip::make_address("127.0.0.1")), "127.0.0.1");
  EXPECT_EQ(PeerKey(ip::make_address("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(PeerKey(ip::make_address("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
  EXPECT_EQ(PeerKey(ip::make_address("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
}

TEST(RequestSlots, CapsRequestsInFlightPerPrincipal) {
  RequestSlots slots(2);
  auto a = slots.TryAcquire("key_a");
  auto b = slots.TryAcquire("key_a");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(slots.TryAcquire("key_a"));
  EXPECT_TRUE(slots.TryAcquire("key_b"));  // another key is not affected
  a->Release();
  EXPECT_EQ(slots.InFlight("key_a"), 1u);
  EXPECT_TRUE(slots.TryAcquire("key_a"));
}

}  // namespace
}  // namespace sbx::api
