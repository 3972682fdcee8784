#include <gtest/gtest.h>

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
