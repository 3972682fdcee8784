// AgentLogs: an agent's lines relayed into the daemon's log with the sandbox id, bounded in
// length and rate, and a new read end of an init's pipe after a restart.
#include "sandbox/agent_logs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/log.h"

namespace sbx::sandbox {
namespace {

// Captures the daemon's log (log::SetFd) in a pipe for one test.
class AgentLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetComponent("test");
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    log_r_.reset(fds[0]);
    log_w_.reset(fds[1]);
    ASSERT_GE(::fcntl(log_w_.get(), F_SETPIPE_SZ, 1 << 20), 0);
    log::SetFd(log_w_.get());
  }
  void TearDown() override { log::SetFd(2); }

  std::string Captured() {
    char buf[65536];
    while (true) {
      ssize_t n = ::read(log_r_.get(), buf, sizeof buf);
      if (n <= 0) break;
      captured_.append(buf, static_cast<size_t>(n));
    }
    return captured_;
  }
  static size_t Count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
  }

  UniqueFd log_r_, log_w_;
  std::string captured_;
};

void WriteAll(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

TEST_F(AgentLogsTest, LinesCarryTheSandboxIdAndTheAgentsLevel) {
  AgentLogs logs;
  ASSERT_TRUE(logs.Start().ok());
  auto pipe = AgentLogs::MakePipe();
  ASSERT_TRUE(pipe.ok());
  logs.Watch("sb1", std::move(pipe->first));
  WriteAll(pipe->second.get(),
           "ts=1 level=error comp=agent event=serve_failed\nts=2 level=info comp=agent event=x\n"
           "not logfmt\nan unended line");
  pipe->second.reset();  // EOF: the partial line is relayed too
  logs.Stop();
  std::string out = Captured();
  EXPECT_NE(out.find("level=error comp=test event=agent.log sandbox_id=sb1 "
                     "line=\"ts=1 level=error comp=agent event=serve_failed\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("level=info comp=test event=agent.log sandbox_id=sb1"), std::string::npos);
  EXPECT_NE(out.find("level=warn comp=test event=agent.log sandbox_id=sb1 line=\"not logfmt\""),
            std::string::npos);
  EXPECT_NE(out.find("line=\"an unended line\""), std::string::npos);
}

TEST_F(AgentLogsTest, LongLinesAreCutAndFloodsAreDroppedAndCounted) {
  AgentLogs logs;
  ASSERT_TRUE(logs.Start().ok());
  auto pipe = AgentLogs::MakePipe();
  ASSERT_TRUE(pipe.ok());
  ASSERT_GE(::fcntl(pipe->second.get(), F_SETPIPE_SZ, 1 << 20), 0);
  logs.Watch("flood", std::move(pipe->first));
  WriteAll(pipe->second.get(), std::string(10000, 'a') + "\n");
  std::string many;
  for (int i = 0; i < 3000; ++i) many += "level=info event=n\n";
  WriteAll(pipe->second.get(), many);
  logs.Forget("flood");
  std::string out = Captured();
  EXPECT_EQ(Count(out, "truncated=true"), 1u);
  EXPECT_EQ(Count(out, std::string(AgentLogs::kMaxLineBytes, 'a')), 1u);
  EXPECT_EQ(Count(out, std::string(AgentLogs::kMaxLineBytes + 1, 'a')), 0u);
  size_t relayed = Count(out, "event=agent.log ");
  EXPECT_GE(relayed, static_cast<size_t>(AgentLogs::kBurstLines) - 5);
  EXPECT_LE(relayed, static_cast<size_t>(AgentLogs::kBurstLines) + 100);  // refill while reading
  // Reported once lines get through again, and at the close (the bucket refills meanwhile).
  EXPECT_GE(Count(out, "event=agent.log_dropped sandbox_id=flood lines="), 1u);
}

TEST_F(AgentLogsTest, ReopenFromInitReadsTheSamePipe) {
  auto pipe = AgentLogs::MakePipe();
  ASSERT_TRUE(pipe.ok());
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(pipe->second.get(), 2);
    ssize_t ignored = ::write(ready[1], "r", 1);  // fd 2 is the pipe from now on
    (void)ignored;
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char r = 0;
  ASSERT_EQ(::read(ready[0], &r, 1), 1);
  ::close(ready[0]);
  pipe->second.reset();
  pipe->first.reset();  // the original reader is gone, as after a daemon crash
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  ASSERT_TRUE(pidfd.valid());
  auto reopened = AgentLogs::ReopenFromInit(pidfd.get());
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  // The child's stderr is now readable through the new read end.
  UniqueFd child_stderr(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), 2, 0)));
  ASSERT_TRUE(child_stderr.valid());
  WriteAll(child_stderr.get(), "again\n");
  char buf[16] = {};
  EXPECT_EQ(::read(reopened->get(), buf, sizeof buf), 6);
  EXPECT_STREQ(buf, "again\n");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

}  // namespace
}  // namespace sbx::sandbox
