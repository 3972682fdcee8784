// Unit tests of the agent's pure parts: users, paths, flags, gzip, Basic auth.
#include <gtest/gtest.h>

#include "agent/config.h"
#include "protocol/gzip.h"
#include "agent/paths.h"
#include "agent/router.h"
#include "agent/users.h"

namespace sbx::agent {
using ::sbx::protocol::AcceptsGzip;
using ::sbx::protocol::Deflater;
using ::sbx::protocol::Inflater;
namespace {

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "# comment\n"
    "user:x:1000:1000::/home/user:/bin/bash\n"
    "broken:line\n"
    "svc:x:999:999:svc::/usr/sbin/nologin\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "user:x:1000:\n"
    "docker:x:998:user,svc\n"
    "audio:x:29:svc\n";

TEST(UserDbTest, ParsesPasswdAndGroups) {
  UserDb db = UserDb::Parse(kPasswd, kGroup);
  auto user = db.Lookup("user");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->uid, 1000u);
  EXPECT_EQ(user->home, "/home/user");
  EXPECT_EQ(user->groups, (std::vector<gid_t>{1000, 998}));
  auto svc = db.Lookup("svc");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc->home, "/");
  EXPECT_EQ(svc->groups.size(), 3u);
  EXPECT_EQ(db.Lookup("nobody-here").error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(db.Lookup("broken").ok());
  EXPECT_EQ(db.UserName(1000), "user");
  EXPECT_EQ(db.UserName(4242), "4242");
  EXPECT_EQ(db.GroupName(998), "docker");
}

TEST(PathsTest, ResolvesLikeEnvd) {
  User u;
  u.home = "/home/user";
  EXPECT_EQ(ResolveUserPath(u, "~"), "/home/user");
  EXPECT_EQ(ResolveUserPath(u, "~/a//b/"), "/home/user/a/b");
  EXPECT_EQ(ResolveUserPath(u, "rel/x.txt"), "/home/user/rel/x.txt");
  EXPECT_EQ(ResolveUserPath(u, "/abs/./y"), "/abs/y");
  EXPECT_EQ(ResolveUserPath(u, "/a/../b"), "/a/../b");  // the kernel resolves ".."
  EXPECT_EQ(ResolveUserPath(u, "/"), "/");
  EXPECT_EQ(BaseName("/home/user/a.txt"), "a.txt");
  EXPECT_EQ(DirName("/home/user/a.txt"), "/home/user");
  EXPECT_EQ(DirName("/a"), "/");
  EXPECT_EQ(JoinPath("/", "x"), "/x");
}

TEST(ConfigTest, FlagsAndEnvironment) {
  const char* argv[] = {"sbx-agent", "--listen-fd", "5", "--default-user=root", "--env",
                        "A=1", "--env", "HOME=/override", nullptr};
  const char* envp[] = {"PATH=/bin", "HOME=/root", "SBX_SANDBOX_ID=abc", nullptr};
  auto cfg = ParseFlags(8, const_cast<char**>(argv), const_cast<char**>(envp));
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->listen_fd, 5);
  EXPECT_EQ(cfg->default_user, "root");
  // Inherited HOME is dropped; an explicit --env HOME is kept.
  std::vector<std::pair<std::string, std::string>> want = {
      {"PATH", "/bin"}, {"SBX_SANDBOX_ID", "abc"}, {"A", "1"}, {"HOME", "/override"}};
  EXPECT_EQ(cfg->sandbox_env, want);
  const char* bad[] = {"sbx-agent", "--bogus", nullptr};
  EXPECT_FALSE(ParseFlags(2, const_cast<char**>(bad), nullptr).ok());
  const char* bad_fd[] = {"sbx-agent", "--listen-fd", "x", nullptr};
  EXPECT_FALSE(ParseFlags(3, const_cast<char**>(bad_fd), nullptr).ok());
  const char* bad_env[] = {"sbx-agent", "--env", "NOEQUALS", nullptr};
  EXPECT_FALSE(ParseFlags(3, const_cast<char**>(bad_env), nullptr).ok());
}

TEST(GzipTest, RoundTripAndBombRefused) {
  std::string data(1 << 20, 'a');
  Deflater d;
  auto z = d.Compress(data, true);
  ASSERT_TRUE(z.ok());
  EXPECT_LT(z->size(), data.size() / 100);
  std::string out;
  Inflater inf(2 << 20);
  auto sink = [&](std::string_view s) -> Result<void> {
    out.append(s);
    return Ok();
  };
  for (size_t i = 0; i < z->size(); i += 7) {
    ASSERT_TRUE(inf.Feed(std::string_view(*z).substr(i, 7), sink).ok());
  }
  ASSERT_TRUE(inf.Finish().ok());
  EXPECT_EQ(out, data);
  Inflater small(1000);
  std::string ignored;
  auto r = small.Feed(*z, [&](std::string_view s) -> Result<void> {
    ignored.append(s);
    return Ok();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  Inflater bad(100);
  EXPECT_FALSE(bad.Feed("not gzip at all", sink).ok());
  Inflater trunc(2 << 20);
  ASSERT_TRUE(trunc.Feed(std::string_view(*z).substr(0, z->size() / 2), sink).ok());
  EXPECT_FALSE(trunc.Finish().ok());
}

TEST(GzipTest, AcceptEncoding) {
  EXPECT_TRUE(AcceptsGzip("gzip, deflate"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("deflate"));
  EXPECT_FALSE(AcceptsGzip(""));
}

TEST(AuthTest, BasicUser) {
  EXPECT_EQ(BasicAuthUser("Basic cm9vdDo=").value(), "root");
  EXPECT_EQ(BasicAuthUser("Basic dXNlcjpwdw==").value(), "user");
  EXPECT_EQ(BasicAuthUser("").value(), "");
  EXPECT_FALSE(BasicAuthUser("Bearer x").ok());
  EXPECT_FALSE(BasicAuthUser("Basic !!!").ok());
}

}  // namespace
}  // namespace sbx::agent
