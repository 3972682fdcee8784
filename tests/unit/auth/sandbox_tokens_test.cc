#include "auth/sandbox_tokens.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sbx::auth {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/sbx-tokens-XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "";
}

TEST(SandboxTokens, SecretIsMadeOnceAndKept) {
  std::string dir = TempDir();
  auto first = SandboxTokens::Load(dir);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  struct stat st{};
  ASSERT_EQ(stat((dir + "/e2b-secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = SandboxTokens::Load(dir);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(first->EnvdToken("abc", 1), again->EnvdToken("abc", 1));
  std::string other = TempDir();
  auto elsewhere = SandboxTokens::Load(other);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_NE(first->EnvdToken("abc", 1), elsewhere->EnvdToken("abc", 1));
}

TEST(SandboxTokens, TokensDifferByKindIdAndCreation) {
  SandboxTokens t(std::string(64, 'a'));
  std::string envd = t.EnvdToken("abc", 1);
  EXPECT_EQ(envd.size(), 64u);
  EXPECT_NE(envd, t.TrafficToken("abc", 1));
  EXPECT_NE(envd, t.EnvdToken("abd", 1));
  EXPECT_NE(envd, t.EnvdToken("abc", 2));
  // The separator keeps ("ab", "c1") and ("abc", 1) apart.
  EXPECT_NE(t.EnvdToken("a\nb", 1), t.EnvdToken("a", 1));
}

TEST(SandboxTokens, MalformedSecretIsRefusedWithTheFileNamed) {
  std::string dir = TempDir();
  std::ofstream(dir + "/e2b-secret") << "not hex\n";
  auto t = SandboxTokens::Load(dir);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("e2b-secret"), std::string::npos);
}

}  // namespace
}  // namespace sbx::auth
