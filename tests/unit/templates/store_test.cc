#include "templates/store.h"

#include <gtest/gtest.h>

namespace sbx::templates {
namespace {

TEST(TemplateStore, Names) {
  EXPECT_TRUE(TemplateStore::ValidateName("python").ok());
  EXPECT_TRUE(TemplateStore::ValidateName("my-tpl_2.1").ok());
  EXPECT_FALSE(TemplateStore::ValidateName("").ok());
  EXPECT_FALSE(TemplateStore::ValidateName(".").ok());
  EXPECT_FALSE(TemplateStore::ValidateName("..").ok());
  EXPECT_FALSE(TemplateStore::ValidateName(".hidden").ok());
  EXPECT_FALSE(TemplateStore::ValidateName("a/b").ok());
  EXPECT_FALSE(TemplateStore::ValidateName(std::string(65, 'a')).ok());
}

TEST(TemplateStore, VersionNames) {
  EXPECT_TRUE(TemplateStore::IsVersionName("0123456789abcdef-0a1b2c3d"));
  EXPECT_FALSE(TemplateStore::IsVersionName("current"));
  EXPECT_FALSE(TemplateStore::IsVersionName("logs"));
  EXPECT_FALSE(TemplateStore::IsVersionName("rootfs"));
  EXPECT_FALSE(TemplateStore::IsVersionName("0123456789ABCDEF-0a1b2c3d"));
}

TEST(TemplateStore, VersionInfoJsonRoundTrip) {
  VersionInfo v;
  v.hash = "ab";
  v.base_image = "debian:bookworm";
  v.built_at_ms = 1700000000000;
  v.size_bytes = 42;
  v.env = {{"NODE_PATH", "/usr/local/lib/node_modules"}};
  v.debian_packages = {"jq"};
  auto back = VersionInfo::FromJson(v.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size_bytes, 42);
  EXPECT_EQ(back->env, v.env);
  EXPECT_EQ(back->debian_packages, v.debian_packages);
  EXPECT_EQ(back->built_at_ms, v.built_at_ms);
}

}  // namespace
}  // namespace sbx::templates
