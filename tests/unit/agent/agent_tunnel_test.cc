// Port tunnels: the real sbx-agent (on a temporary unix socket, in the host's network
// namespace) reached through agentclient::OpenPortTunnel and raw CONNECT requests, against
// TCP servers the test runs on 127.0.0.1. Also ParseConnectTarget's rules.
#include <gtest/gtest.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "agent/port_tunnel.h"
#include "agent_fixture.h"
#include "agentclient/agent_client.h"

namespace sbx::agent {
namespace {

using testing::RawHttp;

TEST(ConnectTargetTest, OnlyLoopbackAndValidPorts) {
  EXPECT_EQ(ParseConnectTarget("127.0.0.1:8080").value(), 8080);
  EXPECT_EQ(ParseConnectTarget("localhost:1").value(), 1);
  EXPECT_EQ(ParseConnectTarget("localhost:65535").value(), 65535);
  for (const char* bad : {"10.0.0.1:80", "example.com:80", "127.0.0.2:80", "[::1]:80",
                          "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1:000080", ""}) {
    auto r = ParseConnectTarget(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
}

// A TCP server on 127.0.0.1 (ephemeral port) that runs `serve` on each accepted connection,
// one at a time, on its own thread, until destroyed.
class TcpServer {
 public:
  explicit TcpServer(std::function<void(int)> serve) : serve_(std::move(serve)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::abort();
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve_(c);
        close(c);
      }
    });
  }
  ~TcpServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  std::function<void(int)> serve_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Echoes until end-of-file, then closes.
void Echo(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) return;
      off += w;
    }
  }
}

// Reads until end-of-file (at most 10 s).
std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

class TunnelTest : public testing::AgentFixture {};

TEST_F(TunnelTest, EchoWithHalfCloseCarriesMegabytesBothWays) {
  TcpServer server(Echo);
  auto tunnel = agentclient::OpenPortTunnel(agent_.socket_path(), server.port(), 5000);
  ASSERT_TRUE(tunnel.ok()) << tunnel.error().ToString();
  const int fd = tunnel.value().get();
  // 4 MiB, far more than the relay's buffers: written from a thread while the reply is read.
  std::string data(4u << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + (i >> 12));
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(fd, data));
    shutdown(fd, SHUT_WR);  // the echo server sees end-of-file and closes: so do we
  });
  std::string got = ReadToEof(fd);
  writer.join();
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST_F(TunnelTest, ServerThatSpeaksFirstAndCloses) {
  TcpServer server([](int fd) { WriteAll(fd, "SSH-2.0-banner\r\n"); });
  auto tunnel = agentclient::OpenPortTunnel(agent_.socket_path(), server.port(), 5000);
  ASSERT_TRUE(tunnel.ok()) << tunnel.error().ToString();
  EXPECT_EQ(ReadToEof(tunnel.value().get()), "SSH-2.0-banner\r\n");
}

TEST_F(TunnelTest, NothingListeningIs502WithMessage) {
  int port;
  {
    TcpServer gone([](int) {});
    port = gone.port();
  }  // closed: nothing listens there any more
  auto tunnel = agentclient::OpenPortTunnel(agent_.socket_path(), port, 5000);
  ASSERT_FALSE(tunnel.ok());
  EXPECT_EQ(tunnel.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(tunnel.error().message.find("nothing listens on port " + std::to_string(port) +
                                        " in the sandbox"),
            std::string::npos)
      << tunnel.error().message;

  auto raw = RawHttp(agent_.socket_path(), "CONNECT localhost:" + std::to_string(port) +
                                               " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(raw.status, 502);
  EXPECT_NE(raw.headers.find("Content-Length"), std::string::npos);
  EXPECT_EQ(raw.body, "{\"code\":502,\"message\":\"nothing listens on port " +
                          std::to_string(port) + " in the sandbox\"}");
}

TEST_F(TunnelTest, OtherHostsAndBadPortsAre400) {
  for (const char* target : {"10.0.0.1:80", "example.com:443", "127.0.0.1:0", "localhost:99999"}) {
    auto raw = RawHttp(agent_.socket_path(),
                       std::string("CONNECT ") + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(raw.status, 400) << target;
    EXPECT_NE(raw.body.find("\"code\":400"), std::string::npos) << raw.body;
  }
  auto bad = agentclient::OpenPortTunnel(agent_.socket_path(), 0, 1000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(TunnelTest, BytesSentWithTheRequestAreForwardedFirst) {
  TcpServer server(Echo);
  int fd = testing::ConnectUnix(agent_.socket_path());
  ASSERT_GE(fd, 0);
  // Header and payload in one write: the agent's HTTP parser reads both at once.
  const std::string req = "CONNECT 127.0.0.1:" + std::to_string(server.port()) +
                          " HTTP/1.1\r\nHost: x\r\n\r\nearly bytes";
  ASSERT_TRUE(WriteAll(fd, req));
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(ReadToEof(fd), "HTTP/1.1 200 Connection Established\r\n\r\nearly bytes");
  close(fd);
}

TEST_F(TunnelTest, ClientGoingAwayEndsTheTunnelAndTheAgentServesOn) {
  std::atomic<bool> saw_eof{false};
  TcpServer server([&](int fd) {
    ReadToEof(fd);
    saw_eof = true;
  });
  {
    auto tunnel = agentclient::OpenPortTunnel(agent_.socket_path(), server.port(), 5000);
    ASSERT_TRUE(tunnel.ok());
    ASSERT_TRUE(WriteAll(tunnel.value().get(), "x"));
  }  // closed without a shutdown
  for (int i = 0; i < 200 && !saw_eof; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(saw_eof);
  agentclient::AgentClient client(agent_.socket_path(), 5000);
  EXPECT_TRUE(client.Health().ok());
}


int ThreadCount(pid_t pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
  if (d == nullptr) return -1;
  while (dirent* de = readdir(d)) n += de->d_name[0] != '.';
  closedir(d);
  return n;
}

// A client that leaves a tunnel to a server that neither sends nor closes (an idle WebSocket)
// must not hold the agent's thread: the tunnel ends when the client's side hangs up.
TEST_F(TunnelTest, IdleServerDoesNotHoldTheThreadAfterTheClientLeaves) {
  std::atomic<bool> release{false};
  TcpServer server([&](int) {
    for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  const int before = ThreadCount(agent_.pid());
  {
    auto tunnel = agentclient::OpenPortTunnel(agent_.socket_path(), server.port(), 5000);
    ASSERT_TRUE(tunnel.ok());
    EXPECT_EQ(ThreadCount(agent_.pid()), before + 1);
  }  // closed
  int after = -1;
  for (int i = 0; i < 200 && (after = ThreadCount(agent_.pid())) != before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(after, before);
  release = true;
}


TEST_F(TunnelTest, AtMostkMaxTunnelsAtOnce) {
  // A listener that never accepts: connections wait in its backlog, which is enough for the
  // agent's connect to succeed.
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(lfd, 1024), 0);
  ASSERT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int port = ntohs(a.sin_port);
  std::vector<UniqueFd> open;
  for (int i = 0; i < kMaxTunnels; ++i) {
    auto t = agentclient::OpenPortTunnel(agent_.socket_path(), port, 5000);
    ASSERT_TRUE(t.ok()) << i << ": " << t.error().ToString();
    open.push_back(std::move(t).value());
  }
  auto over = agentclient::OpenPortTunnel(agent_.socket_path(), port, 5000);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(over.error().message.find("too many port tunnels"), std::string::npos)
      << over.error().message;
  // Other requests are still served, and a closed tunnel frees its slot.
  agentclient::AgentClient client(agent_.socket_path(), 5000);
  EXPECT_TRUE(client.Health().ok());
  open.pop_back();
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; ++i) {
    reopened = agentclient::OpenPortTunnel(agent_.socket_path(), port, 5000).ok();
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(reopened);
  open.clear();
  close(lfd);
}

}  // namespace
}  // namespace sbx::agent
