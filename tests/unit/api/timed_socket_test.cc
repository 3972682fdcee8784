#include "api/timed_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <string>
#include <thread>

namespace sbx::api {
namespace {

namespace asio = boost::asio;
using Local = asio::local::stream_protocol::socket;

struct Pair {
  asio::io_context io;
  Local a{io};
  Local b{io};
  Pair() { asio::local::connect_pair(a, b); }
};

double SecondsSince(int64_t t0) { return static_cast<double>(MonotonicNs() - t0) / 1e9; }

TEST(TimedSocket, ReadGivesUpAfterTheIoTimeout) {
  Pair p;
  TimedSocket<Local> t(std::move(p.a), 200);
  char buf[16];
  boost::system::error_code ec;
  int64_t t0 = MonotonicNs();
  size_t n = t.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::timed_out);
  EXPECT_GE(SecondsSince(t0), 0.15);
  EXPECT_LT(SecondsSince(t0), 2.0);
}

TEST(TimedSocket, AWatchedPeerThatHangsUpEndsTheWait) {
  Pair upstream;
  Pair client;
  TimedSocket<Local> t(std::move(upstream.a), 10000);
  t.WatchHangup(client.a.native_handle());
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    client.b.close();  // the client goes away; the upstream stays silent
  });
  char buf[16];
  boost::system::error_code ec;
  int64_t t0 = MonotonicNs();
  size_t n = t.read_some(asio::buffer(buf), ec);
  closer.join();
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::connection_aborted);
  EXPECT_LT(SecondsSince(t0), 5.0);
  // Data still flows while the watched peer is there.
  Pair again;
  Pair live;
  TimedSocket<Local> u(std::move(again.a), 10000);
  u.WatchHangup(live.a.native_handle());
  asio::write(again.b, asio::buffer(std::string("x")));
  EXPECT_EQ(u.read_some(asio::buffer(buf), ec), 1u);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(TimedSocket, ReadsWhatArrivesAndSeesEndOfFile) {
  Pair p;
  TimedSocket<Local> t(std::move(p.a), 5000);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    asio::write(p.b, asio::buffer(std::string("hello")));
    p.b.close();
  });
  std::string got(5, '\0');
  boost::system::error_code ec;
  size_t n = asio::read(t, asio::buffer(got), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(got, "hello");
  char more[4];
  t.read_some(asio::buffer(more), ec);
  EXPECT_EQ(ec, asio::error::eof);
  writer.join();
}

// A peer that trickles a byte now and then never trips the per-operation timeout; the
// deadline ends it anyway (the TLS handshake's guard).
TEST(TimedSocket, DeadlineBoundsATrickle) {
  Pair p;
  TimedSocket<Local> t(std::move(p.a), 1000);
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    while (!stop) {
      boost::system::error_code ignored;
      asio::write(p.b, asio::buffer("x", 1), ignored);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  int64_t t0 = MonotonicNs();
  t.SetDeadline(t0 + 400'000'000);
  char buf[1 << 16];
  boost::system::error_code ec;
  asio::read(t, asio::buffer(buf), ec);  // wants 64 KiB, gets a byte per 50 ms
  EXPECT_EQ(ec, asio::error::timed_out);
  EXPECT_LT(SecondsSince(t0), 1.5);
  stop = true;
  trickler.join();
}

TEST(TimedSocket, WriteGivesUpWhenThePeerDoesNotRead) {
  Pair p;
  TimedSocket<Local> t(std::move(p.a), 200);
  std::string big(8 << 20, 'x');  // more than any socket buffer
  boost::system::error_code ec;
  int64_t t0 = MonotonicNs();
  size_t n = asio::write(t, asio::buffer(big), ec);
  EXPECT_EQ(ec, asio::error::timed_out);
  EXPECT_LT(n, big.size());
  EXPECT_LT(SecondsSince(t0), 2.0);
}

TEST(TimedSocket, ShutdownFromAnotherThreadWakesARead) {
  Pair p;
  TimedSocket<Local> t(std::move(p.a), 10000);
  int fd = t.native_handle();
  std::thread stopper([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::shutdown(fd, SHUT_RD);
  });
  char buf[8];
  boost::system::error_code ec;
  int64_t t0 = MonotonicNs();
  t.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_LT(SecondsSince(t0), 2.0);
  stopper.join();
}

}  // namespace
}  // namespace sbx::api
