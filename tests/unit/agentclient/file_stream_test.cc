// AgentClient's reads are bounded whatever the agent answers (issue 10, finding 2): a file
// answer is read up to its announced Content-Length and never beyond, must announce one, ends
// in an error when cut short; ReadFile, unary calls and error bodies refuse what is over their
// caps, on the announced length where there is one.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agentclient/agent_client.h"

namespace sbx::agentclient {
namespace {

// Serves one connection on a fresh unix socket: reads the request's header, writes `answer`
// (a callable, so a test can write a lot), closes.
class FakeAgent {
 public:
  explicit FakeAgent(std::function<void(int fd)> answer) {
    char tmpl[] = "/tmp/sbx-fake-agent-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/agent.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    thread_ = std::thread([this, answer] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string req;
      char c;
      while (req.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) req += c;
      answer(fd);
      ::shutdown(fd, SHUT_WR);
      // Drain until the client closes, so that our close does not reset unread data.
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
      ::close(fd);
    });
  }
  ~FakeAgent() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
  int listen_fd_ = -1;
  std::thread thread_;
};

void WriteAll(int fd, const std::string& s) {
  size_t at = 0;
  while (at < s.size()) {
    ssize_t n = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away: fine for these tests
    at += static_cast<size_t>(n);
  }
}

std::function<void(int)> Canned(std::string text) {
  return [text](int fd) { WriteAll(fd, text); };
}

std::string ReadToEnd(FileStream& f, Error* error) {
  std::string out;
  char buf[1000];
  for (;;) {
    auto n = f.Read(buf, sizeof buf);
    if (!n.ok()) {
      *error = n.error();
      return out;
    }
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

TEST(AgentClientFiles, ReadsExactlyTheAnnouncedLengthAndNothingAfterIt) {
  FakeAgent agent(Canned("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789" +
                         std::string(100000, 'X')));
  AgentClient client(agent.path(), 5000);
  auto f = client.OpenFile("/f", "user");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ((*f)->size(), 10u);
  Error err;
  EXPECT_EQ(ReadToEnd(**f, &err), "0123456789");
  EXPECT_TRUE(err.message.empty()) << err.message;
}

TEST(AgentClientFiles, AnAnswerCutShortOfItsLengthIsAnError) {
  FakeAgent agent(Canned("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(100, 'a')));
  AgentClient client(agent.path(), 5000);
  auto f = client.OpenFile("/f", "user");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  Error err;
  std::string got = ReadToEnd(**f, &err);
  EXPECT_EQ(got.size(), 100u);
  EXPECT_EQ(err.code, ErrorCode::kUnavailable);
}

TEST(AgentClientFiles, AnAnswerWithoutLengthIsRefused) {
  FakeAgent agent(Canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n"));
  AgentClient client(agent.path(), 5000);
  auto f = client.OpenFile("/f", "user");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("Content-Length"), std::string::npos) << f.error().message;
}

TEST(AgentClientFiles, ReadFileRefusesAnOversizedFileOnItsAnnouncedLength) {
  // Announces 1 TiB and sends 1 MiB: refused on the header, before reading it.
  FakeAgent agent([](int fd) {
    WriteAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n");
    WriteAll(fd, std::string(1 << 20, 'z'));
  });
  AgentClient client(agent.path(), 5000);
  auto r = client.ReadFile("/f", "user", 1 << 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message.find("1099511627776"), std::string::npos) << r.error().message;
}

TEST(AgentClientFiles, ErrorBodiesAreCapped) {
  // A 404 whose body never ends (chunked, 8 MiB): the client stops at its cap.
  FakeAgent agent([](int fd) {
    WriteAll(fd, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'e') + "\r\n";
    for (int i = 0; i < 128; ++i) WriteAll(fd, chunk);
    WriteAll(fd, "0\r\n\r\n");
  });
  AgentClient client(agent.path(), 5000);
  auto f = client.OpenFile("/f", "user");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kResourceExhausted) << f.error().ToString();
}

TEST(AgentClientFiles, UnaryAnswersOverTheCapAreRefusedOnTheirLength) {
  FakeAgent agent(Canned("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: " + std::to_string(kMaxUnaryResponse + 1) + "\r\n\r\n{"));
  AgentClient client(agent.path(), 5000);
  auto r = client.CallUnary("filesystem.Filesystem/Stat", {{"path", "/"}}, "user");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted) << r.error().ToString();
}

}  // namespace
}  // namespace sbx::agentclient
