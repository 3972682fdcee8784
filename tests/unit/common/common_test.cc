#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "common/log.h"
#include "common/result.h"
#include "common/util.h"

namespace sbx {
namespace {

Result<int> Half(int x) {
  if (x % 2) return MakeError(ErrorCode::kInvalidArgument, "odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

// A full non-blocking pipe or one without a reader: the line is dropped and counted, never
// waited for; SIGPIPE is the caller's to ignore (the agent does).
TEST(Log, DropsInsteadOfBlockingAndCountsIt) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  std::string filler(65536, 'x');
  while (::write(fds[1], filler.data(), filler.size()) > 0) {
  }
  log::SetFd(fds[1]);
  uint64_t before = log::DroppedLines();
  EXPECT_FALSE(log::Write(log::Level::kError, "full", {}));
  EXPECT_EQ(log::DroppedLines(), before + 1);
  ::close(fds[0]);
  auto old = ::signal(SIGPIPE, SIG_IGN);
  EXPECT_FALSE(log::Write(log::Level::kError, "no_reader", {}));
  ::signal(SIGPIPE, old);
  EXPECT_EQ(log::DroppedLines(), before + 2);
  log::SetFd(2);
  ::close(fds[1]);
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "odd: 3");
}

TEST(Error, SysErrorKeepsErrno) {
  Error e = SysError("open /nope", ENOENT);
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.ToString(), "open /nope: No such file or directory");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kAlreadyExists), "already_exists");
}

TEST(Log, OneLineLogfmtWithQuoting) {
  std::string line = log::Format(log::Level::kInfo, "sandbox.created",
                                 {{"sandbox_id", "abc"}, {"msg", "two words\nand \"q\""}, {"n", 3}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(" level=info"), std::string::npos);
  EXPECT_NE(line.find(" event=sandbox.created sandbox_id=abc"), std::string::npos);
  EXPECT_NE(line.find("msg=\"two words\\nand \\\"q\\\"\""), std::string::npos);
  EXPECT_NE(line.find(" n=3"), std::string::npos);
}

TEST(Util, RandomHexAndTime) {
  std::string a = RandomHex(8), b = RandomHex(8);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, b);
  EXPECT_EQ(ToRfc3339(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(Trim("  x y \n"), "x y");
}

}  // namespace
}  // namespace sbx
