#include "templates/hash.h"

#include <gtest/gtest.h>

#include "templates/base_image.h"

namespace sbx::templates {
namespace {

spec::Template Python() {
  spec::Template t;
  t.key = "python";
  t.base_image = "debian:bookworm";
  t.packages = {"curl", "git"};
  t.python_packages = {"numpy", "pandas"};
  t.npm_packages = {"lodash"};
  return t;
}

TEST(DefinitionHash, StableAndHex) {
  std::string h = DefinitionHash(Python());
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, DefinitionHash(Python()));
  EXPECT_EQ(ShortHash(h), h.substr(0, 16));
}

TEST(DefinitionHash, IgnoresRunTimeFields) {
  spec::Template a = Python(), b = Python();
  b.cpus = 8;
  b.memory_bytes = 8LL << 30;
  b.timeout_s = 9999;
  b.environment = {{"X", "1"}};
  b.startup = {"echo hi"};
  b.features = {"x"};
  b.name = "Another name";
  b.pids_max = 99;
  EXPECT_EQ(DefinitionHash(a), DefinitionHash(b));
}

TEST(DefinitionHash, DebianPackagesAreASet) {
  spec::Template a = Python(), b = Python();
  b.packages = {"git", "curl", "git"};
  EXPECT_EQ(DefinitionHash(a), DefinitionHash(b));
}

TEST(DefinitionHash, SensitiveToContentFields) {
  std::string base = DefinitionHash(Python());
  spec::Template t = Python();
  t.base_image = "debian:trixie";
  EXPECT_NE(DefinitionHash(t), base);
  t = Python();
  t.packages.push_back("jq");
  EXPECT_NE(DefinitionHash(t), base);
  t = Python();
  t.python_packages = {"numpy"};
  EXPECT_NE(DefinitionHash(t), base);
  t = Python();
  t.npm_packages = {};
  EXPECT_NE(DefinitionHash(t), base);
  EXPECT_NE(DefinitionHash(Python(), "123:456"), base);
  // Moving a name between lists is a different definition.
  t = Python();
  t.packages.push_back("numpy");
  t.python_packages = {"pandas"};
  EXPECT_NE(DefinitionHash(t), base);
}

TEST(BaseImage, Kinds) {
  auto b = ParseBaseImage("debian:bookworm");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->kind, BaseKind::kDebian);
  EXPECT_EQ(b->arg, "bookworm");
  EXPECT_EQ(ParseBaseImage("debian:12")->arg, "bookworm");
  EXPECT_EQ(ParseBaseImage("debian:bookworm-slim")->arg, "bookworm");
  EXPECT_EQ(ParseBaseImage("host")->kind, BaseKind::kHost);
  EXPECT_EQ(ParseBaseImage("oci-archive:/x/y.tar")->kind, BaseKind::kOciArchive);
  EXPECT_EQ(ParseBaseImage("docker-archive:/x/y.tar")->arg, "/x/y.tar");
  EXPECT_EQ(ParseBaseImage("rootfs:/srv/root")->kind, BaseKind::kRootfs);
  EXPECT_EQ(ParseBaseImage("python:3.11-slim")->kind, BaseKind::kRegistry);
  EXPECT_EQ(ParseBaseImage("docker://ghcr.io/a/b:1")->arg, "ghcr.io/a/b:1");
  EXPECT_FALSE(ParseBaseImage("oci-archive:relative.tar").ok());
  EXPECT_FALSE(ParseBaseImage("debian:Bad Suite").ok());
  EXPECT_FALSE(ParseBaseImage("").ok());
  EXPECT_FALSE(ParseBaseImage("python 3").ok());
  EXPECT_NE(RegistryImportHelp("python:3.11-slim").find("docker save python:3.11-slim"),
            std::string::npos);
}

}  // namespace
}  // namespace sbx::templates
