// Builder and store behaviour on fast bases (rootfs: directories and tarballs): caching by
// definition hash, rebuilds, failed builds that keep the old version, leases and GC.
#include "templates/builder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "builder_fixture.h"
#include "common/util.h"
#include "runtime/fs_util.h"
#include "templates/command.h"

namespace sbx::templates {
namespace {

using testing::BuilderFixture;
using testing::DumpTree;
using testing::MakeTar;
using testing::TarEntry;

std::string MakeSourceDir(const std::string& dir, const std::string& marker) {
  EXPECT_TRUE(runtime::MakeDirs(dir + "/usr/bin", 0755).ok());
  EXPECT_TRUE(runtime::MakeDirs(dir + "/etc", 0755).ok());
  testing::WriteFileOrDie(dir + "/usr/bin/tool", "#!/bin/sh\necho " + marker + "\n");
  ::chmod((dir + "/usr/bin/tool").c_str(), 0755);
  ::symlink("usr/bin", (dir + "/bin").c_str());
  ::link((dir + "/usr/bin/tool").c_str(), (dir + "/usr/bin/tool-hard").c_str());
  return dir;
}

TEST(Builder, RootfsDirectoryImportsExactly) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  auto r = f.Build(f.Tpl("rootfs:" + src));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  auto tree = DumpTree(r->info.rootfs_dir);
  std::map<std::string, std::string> want = {
      {"bin", "l -> usr/bin"},
      {"usr/bin", "d 0755"},
      {"usr/bin/tool", "f 0755 #!/bin/sh\necho one\n"},
      {"usr/bin/tool-hard", "f 0755 #!/bin/sh\necho one\n"}};
  EXPECT_EQ(testing::WithoutFinalize(tree), want);
  struct stat a, b;
  ::stat((r->info.rootfs_dir + "/usr/bin/tool").c_str(), &a);
  ::stat((r->info.rootfs_dir + "/usr/bin/tool-hard").c_str(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_NE(tree["etc/passwd"].find("user:x:1000:1000:"), std::string::npos);
  EXPECT_EQ(tree["etc/hostname"], "f 0644 sandbox\n");
}

TEST(Builder, RootfsTarballImports) {
  BuilderFixture f;
  std::string tar = f.tmp.path() + "/root.tar.gz";
  testing::WriteFileOrDie(tar, MakeTar({{TarEntry::kDir, "./"},
                                        {TarEntry::kDir, "./usr"},
                                        {TarEntry::kFile, "./usr/hello", "hi"},
                                        {TarEntry::kSymlink, "./hello", "usr/hello"}},
                                       /*gzip=*/true));
  auto r = f.Build(f.Tpl("rootfs:" + tar));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::map<std::string, std::string> want = {{"usr/hello", "f 0644 hi"}, {"hello", "l -> usr/hello"}};
  EXPECT_EQ(testing::WithoutFinalize(DumpTree(r->info.rootfs_dir)), want);
}

TEST(Builder, CachedWhenNothingChanged) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  spec::Template t = f.Tpl("rootfs:" + src);
  auto first = f.Build(t);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_FALSE(first->cached);
  EXPECT_TRUE(runtime::PathExists(first->info.log_path));
  t.cpus = 4;  // run-time fields do not rebuild
  t.environment = {{"A", "1"}};
  t.startup = {"true"};
  auto second = f.Build(t);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cached);
  EXPECT_EQ(second->info.version, first->info.version);
  auto hash = f.builder.WantedHash(t);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, first->info.hash);
}

TEST(Builder, DefinitionChangeRebuildsAndRemovesTheUnusedOldVersion) {
  BuilderFixture f;
  std::string one = MakeSourceDir(f.tmp.path() + "/one", "one");
  std::string two = MakeSourceDir(f.tmp.path() + "/two", "two");
  auto v1 = f.Build(f.Tpl("rootfs:" + one));
  ASSERT_TRUE(v1.ok());
  auto v2 = f.Build(f.Tpl("rootfs:" + two));
  ASSERT_TRUE(v2.ok()) << v2.error().ToString();
  EXPECT_FALSE(v2->cached);
  EXPECT_NE(v2->info.hash, v1->info.hash);
  EXPECT_NE(v2->info.version, v1->info.version);
  auto cur = f.store.Current("t");
  ASSERT_TRUE(cur.ok() && cur->has_value());
  EXPECT_EQ((*cur)->version, v2->info.version);
  EXPECT_FALSE(runtime::PathExists(v1->info.rootfs_dir));
  EXPECT_EQ(f.store.Versions("t")->size(), 1u);
}

TEST(Builder, ReplacedTarballRebuilds) {
  BuilderFixture f;
  std::string tar = f.tmp.path() + "/root.tar";
  testing::WriteFileOrDie(tar, MakeTar({{TarEntry::kFile, "v", "1"}}));
  auto v1 = f.Build(f.Tpl("rootfs:" + tar));
  ASSERT_TRUE(v1.ok());
  testing::WriteFileOrDie(tar, MakeTar({{TarEntry::kFile, "v", "22"}}));
  auto v2 = f.Build(f.Tpl("rootfs:" + tar));
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(v2->cached);
  EXPECT_EQ(DumpTree(v2->info.rootfs_dir)["v"], "f 0644 22");
}

TEST(Builder, FailedBuildKeepsTheOldVersionServing) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  auto v1 = f.Build(f.Tpl("rootfs:" + src));
  ASSERT_TRUE(v1.ok());
  std::string evil = f.tmp.path() + "/evil.tar";
  testing::WriteFileOrDie(evil, MakeTar({{TarEntry::kFile, "ok", "1"},
                                         {TarEntry::kFile, "../x", "2"}}));
  auto bad = f.Build(f.Tpl("rootfs:" + evil));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("build log: "), std::string::npos);
  auto lease = f.store.Acquire("t");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->info().version, v1->info.version);
  EXPECT_TRUE(runtime::PathExists(lease->info().rootfs_dir + "/usr/bin/tool"));
  // The failed build's log is kept; its staging directory is gone.
  bool failed_log = false;
  for (const auto& [name, what] : DumpTree(f.store.root() + "/t")) {
    EXPECT_EQ(name.find(".build-"), std::string::npos) << name;
    if (name.rfind("logs/", 0) == 0 && what.find("FAILED") != std::string::npos) failed_log = true;
  }
  EXPECT_TRUE(failed_log);
  // An unknown base directory fails too, and still leaves v1.
  auto missing = f.Build(f.Tpl("rootfs:/nonexistent/sbx"));
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ((*f.store.Current("t"))->version, v1->info.version);
}

TEST(Builder, LeasedVersionSurvivesRebuildUntilReleased) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  auto v1 = f.Build(f.Tpl("rootfs:" + src));
  ASSERT_TRUE(v1.ok());
  auto lease = f.store.Acquire("t");  // a running sandbox
  ASSERT_TRUE(lease.ok());
  auto v2 = f.Build(f.Tpl("rootfs:" + src), /*force=*/true);
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(v2->cached);
  EXPECT_EQ(v2->info.hash, v1->info.hash);
  EXPECT_NE(v2->info.version, v1->info.version);
  EXPECT_TRUE(runtime::PathExists(v1->info.rootfs_dir + "/usr/bin/tool"));
  auto gc = f.store.GarbageCollect();
  ASSERT_TRUE(gc.ok());
  EXPECT_TRUE(gc->empty());
  EXPECT_EQ(f.store.Versions("t")->size(), 2u);
  auto removal = f.store.Remove("t");
  EXPECT_FALSE(removal.ok());
  EXPECT_EQ(removal.error().code, ErrorCode::kFailedPrecondition);
  lease->reset();  // the sandbox is removed: its version goes
  EXPECT_FALSE(runtime::PathExists(v1->info.rootfs_dir));
  EXPECT_TRUE(runtime::PathExists(v2->info.rootfs_dir));
  // A restarted daemon re-pins the version a sandbox recorded.
  auto again = f.store.AcquireVersion("t", v2->info.version);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(f.store.AcquireVersion("t", v1->info.version).ok());
  again->reset();
  ASSERT_TRUE(f.store.Remove("t").ok());
  EXPECT_FALSE(runtime::PathExists(v2->info.rootfs_dir));
  EXPECT_TRUE(f.store.BuiltNames().empty());
}

TEST(Builder, NotBuiltIsAFailedPrecondition) {
  BuilderFixture f;
  auto lease = f.store.Acquire("python");
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(lease.error().message.find("sbx template build python"), std::string::npos);
  EXPECT_FALSE(f.store.Acquire("../etc").ok());
}

TEST(Builder, HostNeedsNoBuild) {
  BuilderFixture f;
  auto r = f.Build(f.Tpl("host"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->host);
  EXPECT_TRUE(f.store.BuiltNames().empty());
}

TEST(Builder, RegistryImageWithoutSkopeoExplainsTheImport) {
  if (!FindProgram("skopeo").empty()) GTEST_SKIP() << "skopeo is installed";
  BuilderFixture f;
  auto r = f.Build(f.Tpl("python:3.11-slim"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("skopeo is not installed"), std::string::npos);
  EXPECT_NE(r.error().message.find("docker save python:3.11-slim -o image.tar"), std::string::npos);
  EXPECT_NE(r.error().message.find("docker-archive:"), std::string::npos);
}

TEST(Builder, PackagesNeedADebianBase) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  spec::Template t = f.Tpl("rootfs:" + src);
  t.packages = {"curl"};
  auto r = f.Build(t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("debian:<suite>"), std::string::npos);
}

TEST(Builder, PipWithoutPythonIsAClearError) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  spec::Template t = f.Tpl("rootfs:" + src);
  t.python_packages = {"requests"};
  auto r = f.Build(t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("need Python"), std::string::npos) << r.error().message;
}

TEST(Builder, ConcurrentBuildsOfOneTemplateAreSerialised) {
  BuilderFixture f;
  std::string src = MakeSourceDir(f.tmp.path() + "/src", "one");
  spec::Template t = f.Tpl("rootfs:" + src);
  Result<BuildResult> a = MakeError(ErrorCode::kInternal, "unset");
  Result<BuildResult> b = MakeError(ErrorCode::kInternal, "unset");
  std::thread ta([&] { a = f.builder.Build(t, nullptr, false); });
  std::thread tb([&] { b = f.builder.Build(t, nullptr, false); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->cached, b->cached);
  EXPECT_EQ(a->info.version, b->info.version);
  EXPECT_EQ(f.store.Versions("t")->size(), 1u);
}

TEST(Builder, InitRemovesInterruptedBuilds) {
  BuilderFixture f;
  ASSERT_TRUE(runtime::MakeDirs(f.store.root() + "/t/.build-0123456789abcdef-00000000/rootfs", 0755).ok());
  ASSERT_TRUE(f.store.Init().ok());
  EXPECT_FALSE(runtime::PathExists(f.store.root() + "/t/.build-0123456789abcdef-00000000"));
}

}  // namespace
}  // namespace sbx::templates
