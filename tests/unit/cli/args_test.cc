// Tests of cli/args.h: the forms users type (--env, --file, cp's ID:PATH) and URL helpers.
#include "cli/args.h"

#include <gtest/gtest.h>

namespace sbx::cli {
namespace {

TEST(ParseEnvAssignment, AcceptsNameEqualsValue) {
  auto kv = ParseEnvAssignment("DEBUG=1");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "DEBUG");
  EXPECT_EQ(kv->second, "1");
}

TEST(ParseEnvAssignment, ValueMayBeEmptyOrContainEquals) {
  auto empty = ParseEnvAssignment("EMPTY=");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->second, "");
  auto eq = ParseEnvAssignment("URL=a=b=c");
  ASSERT_TRUE(eq.ok());
  EXPECT_EQ(eq->first, "URL");
  EXPECT_EQ(eq->second, "a=b=c");
}

TEST(ParseEnvAssignment, RejectsBadForms) {
  auto no_eq = ParseEnvAssignment("DEBUG");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_eq.error().message.find("NAME=VALUE"), std::string::npos);
  EXPECT_FALSE(ParseEnvAssignment("=1").ok());
  EXPECT_FALSE(ParseEnvAssignment("").ok());
}

TEST(ParseEnvAssignment, NamesAreCheckedBySpec) {
  auto digit = ParseEnvAssignment("1A=x");
  ASSERT_FALSE(digit.ok());
  EXPECT_NE(digit.error().message.find("not a valid environment variable name"), std::string::npos);
  EXPECT_FALSE(ParseEnvAssignment("A-B=x").ok());
  EXPECT_TRUE(ParseEnvAssignment("_a1=x").ok());
}

TEST(ParseEnvFlags, LastValueWins) {
  auto env = ParseEnvFlags({"A=1", "B=2", "A=3"});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, (spec::Env{{"A", "3"}, {"B", "2"}}));
  EXPECT_FALSE(ParseEnvFlags({"A=1", "oops"}).ok());
}

TEST(ParseFileMapping, SplitsLocalAndRemote) {
  auto m = ParseFileMapping("local_file.py:/app/remote_file.py");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, "local_file.py");
  EXPECT_EQ(m->remote, "/app/remote_file.py");
}

TEST(ParseFileMapping, RemoteDirectoryKeepsTheFileName) {
  auto m = ParseFileMapping("data/x.csv:/home/user/");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, "data/x.csv");
  EXPECT_EQ(m->remote, "/home/user/x.csv");
}

TEST(ParseFileMapping, LocalMayContainColonNotFollowedBySlash) {
  auto m = ParseFileMapping("log_12:30.txt:/tmp/log.txt");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, "log_12:30.txt");
  EXPECT_EQ(m->remote, "/tmp/log.txt");
}

TEST(ParseFileMapping, RejectsBadForms) {
  for (const char* bad : {"a.py", "a.py:", ":/x", "a.py:rel/x", "", "dir/:/x/"}) {
    auto m = ParseFileMapping(bad);
    EXPECT_FALSE(m.ok()) << bad;
    if (!m.ok()) {
      EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(m.error().message.find("--file"), std::string::npos) << m.error().message;
    }
  }
}

TEST(LooksRemote, RemoteWhenPrefixIsAValidSandboxId) {
  EXPECT_TRUE(LooksRemote("s1:/home/user/a.py"));
  EXPECT_TRUE(LooksRemote("my_first_sandbox:/x"));
  EXPECT_TRUE(LooksRemote("s1:"));
  EXPECT_FALSE(LooksRemote("./s1:/x"));
  EXPECT_FALSE(LooksRemote("/tmp/a:b"));
  EXPECT_FALSE(LooksRemote("Bad:/x"));
  EXPECT_FALSE(LooksRemote("a.txt"));
  EXPECT_FALSE(LooksRemote(":/x"));
  EXPECT_FALSE(LooksRemote(std::string(65, 'a') + ":/x"));
}

TEST(ParseCpArgs, Upload) {
  auto p = ParseCpArgs("out/a.py", "s1:/home/user/a.py");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->direction, CpPlan::Direction::kUpload);
  EXPECT_EQ(p->local, "out/a.py");
  EXPECT_EQ(p->remote.sandbox_id, "s1");
  EXPECT_EQ(p->remote.path, "/home/user/a.py");
}

TEST(ParseCpArgs, UploadIntoDirectoryAppendsBaseName) {
  auto p = ParseCpArgs("out/a.py", "s1:/home/user/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->remote.path, "/home/user/a.py");
}

TEST(ParseCpArgs, Download) {
  auto p = ParseCpArgs("s1:/home/user/result.json", ".");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->direction, CpPlan::Direction::kDownload);
  EXPECT_EQ(p->local, ".");
  EXPECT_EQ(p->remote.sandbox_id, "s1");
  EXPECT_EQ(p->remote.path, "/home/user/result.json");
}

TEST(ParseCpArgs, DotSlashForcesLocal) {
  auto p = ParseCpArgs("./s1:/x", "s2:/y");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->direction, CpPlan::Direction::kUpload);
  EXPECT_EQ(p->local, "./s1:/x");
  EXPECT_EQ(p->remote.sandbox_id, "s2");
}

TEST(ParseCpArgs, RejectsBadCombinations) {
  EXPECT_FALSE(ParseCpArgs("a.py", "b.py").ok());         // both local
  EXPECT_FALSE(ParseCpArgs("s1:/a", "s2:/b").ok());       // both remote
  EXPECT_FALSE(ParseCpArgs("a.py", "s1:relative").ok());  // remote path not absolute
  EXPECT_FALSE(ParseCpArgs("a.py", "s1:").ok());          // remote path empty
  EXPECT_FALSE(ParseCpArgs("s1:/home/user/", "x").ok());  // download of a directory
  EXPECT_FALSE(ParseCpArgs("", "s1:/x").ok());
  auto both = ParseCpArgs("a.py", "b.py");
  EXPECT_NE(both.error().message.find("ID:PATH"), std::string::npos);
}

TEST(BaseName, LastComponent) {
  EXPECT_EQ(BaseName("a/b.txt"), "b.txt");
  EXPECT_EQ(BaseName("b.txt"), "b.txt");
  EXPECT_EQ(BaseName("a/"), "");
}

TEST(PercentEncode, KeepsUnreservedAndSlash) {
  EXPECT_EQ(PercentEncode("/home/user/a-b_c.~txt"), "/home/user/a-b_c.~txt");
  EXPECT_EQ(PercentEncode("/a b&c=d?%#+"), "/a%20b%26c%3Dd%3F%25%23%2B");
  EXPECT_EQ(PercentEncode("\xc3\xa9"), "%C3%A9");
}

TEST(FilesTarget, AddsUserOnlyForRoot) {
  EXPECT_EQ(FilesTarget("s1", "/tmp/a b", "user"), "/v1/sandboxes/s1/files?path=/tmp/a%20b");
  EXPECT_EQ(FilesTarget("s1", "/etc/x", ""), "/v1/sandboxes/s1/files?path=/etc/x");
  EXPECT_EQ(FilesTarget("s1", "/etc/x", "root"), "/v1/sandboxes/s1/files?path=/etc/x&user=root");
}

}  // namespace
}  // namespace sbx::cli
