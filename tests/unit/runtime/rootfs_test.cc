// Host-side root file system: the host base layer, PrepareRootfs/ReleaseRootfs/RemoveSandboxDir
// on real overlayfs (needs root), and the refusals that keep a sandbox's planted symlinks from
// reaching host files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/util.h"
#include "runtime/fs_util.h"
#include "runtime/runtime.h"
#include "temp_dir.h"

namespace sbx::runtime {
namespace {

constexpr uint32_t kBase = 2000000;

size_t MountsBelow(const std::string& dir) {
  auto m = ReadMountInfo();
  EXPECT_TRUE(m.ok());
  return m.ok() ? MountsAtOrBelow(*m, dir).size() : 0;
}

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_dir_ = tmp_.path() + "/hostbase";
    auto binds = EnsureHostBaseRootfs(base_dir_);
    ASSERT_TRUE(binds.ok()) << binds.error().ToString();
    config_.sandbox_dir = tmp_.path() + "/sandboxes/sb1";
    config_.lower_dir = base_dir_;
    config_.binds = *binds;
    config_.host_id_base = kBase;
  }
  void TearDown() override {
    auto r = RemoveSandboxDir(config_.sandbox_dir);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(MountsBelow(tmp_.path()), 0u);
  }
  std::string Root() const { return config_.sandbox_dir + "/root"; }

  testing::TempDir tmp_;
  std::string base_dir_;
  RootfsConfig config_;
};

TEST_F(RootfsTest, HostBaseLayout) {
  struct stat st;
  ASSERT_EQ(::lstat((base_dir_ + "/bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  char target[64] = {};
  ASSERT_GT(::readlink((base_dir_ + "/lib64").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "usr/lib64");
  ASSERT_EQ(::stat((base_dir_ + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(::stat((base_dir_ + "/root").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  auto passwd = ReadFile(base_dir_ + "/etc/passwd");
  ASSERT_TRUE(passwd.ok());
  EXPECT_NE(passwd->find("user:x:1000:1000:user:/home/user:/bin/bash"), std::string::npos);
  ASSERT_EQ(::stat((base_dir_ + "/etc/passwd").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(::access((base_dir_ + "/etc/ld.so.cache").c_str(), R_OK), 0);
  EXPECT_EQ(::access((base_dir_ + "/etc/shadow").c_str(), F_OK), -1);
  EXPECT_EQ(::access((base_dir_ + "/var/lib").c_str(), F_OK), -1);  // nothing of host /var
  ASSERT_EQ(::lstat((base_dir_ + "/etc/alternatives/awk").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // Already built: returned as is.
  auto again = EnsureHostBaseRootfs(base_dir_);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].host_path, "/usr");
  EXPECT_TRUE((*again)[0].read_only);
}

TEST_F(RootfsTest, PrepareMountsOverlayAndReadOnlyUsr) {
  auto r = PrepareRootfs(config_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(MountsBelow(Root()), 2u);  // overlay + /usr
  EXPECT_EQ(::access((Root() + "/usr/bin/env").c_str(), X_OK), 0);
  EXPECT_EQ(::access((Root() + "/etc/passwd").c_str(), R_OK), 0);
  int fd = ::open((Root() + "/usr/.probe").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  struct stat st;
  ASSERT_EQ(::stat((Root() + "/home/user").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kBase + 1000);
  ASSERT_EQ(::stat((Root() + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(::stat(Root().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kBase);
  // Writes land in upper/ and survive a release.
  ASSERT_TRUE(WriteFileAtomic(Root() + "/tmp/kept", "data").ok());
  // Idempotent: a second prepare mounts nothing more.
  ASSERT_TRUE(PrepareRootfs(config_).ok());
  EXPECT_EQ(MountsBelow(Root()), 2u);
  ASSERT_TRUE(ReleaseRootfs(config_.sandbox_dir).ok());
  EXPECT_EQ(MountsBelow(Root()), 0u);
  EXPECT_EQ(::access((config_.sandbox_dir + "/upper/tmp/kept").c_str(), F_OK), 0);
  ASSERT_TRUE(PrepareRootfs(config_).ok());
  auto kept = ReadFile(Root() + "/tmp/kept");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "data");
}

TEST_F(RootfsTest, RemoveDoesNotFollowPlantedSymlinks) {
  ASSERT_TRUE(PrepareRootfs(config_).ok());
  std::string outside = tmp_.path() + "/host_secret";
  ASSERT_TRUE(WriteFileAtomic(outside, "secret").ok());
  std::string outside_dir = tmp_.path() + "/host_dir";
  ASSERT_TRUE(MakeDirs(outside_dir, 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(outside_dir + "/f", "x").ok());
  // What a sandbox could leave in its upper layer.
  std::string upper = config_.sandbox_dir + "/upper";
  ASSERT_EQ(::symlink(outside.c_str(), (upper + "/tmp/evil_file").c_str()), 0);
  ASSERT_EQ(::symlink(outside_dir.c_str(), (upper + "/home/user/evil_dir").c_str()), 0);
  auto r = RemoveSandboxDir(config_.sandbox_dir);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(::access(config_.sandbox_dir.c_str(), F_OK), 0);
  EXPECT_EQ(MountsBelow(tmp_.path()), 0u);
  auto s = ReadFile(outside);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "secret");
  EXPECT_EQ(::access((outside_dir + "/f").c_str(), F_OK), 0);
}

TEST_F(RootfsTest, PlantedSymlinkAtBindTargetIsRefused) {
  // A sandbox replaced /usr with a symlink to a host directory: the bind must not follow it.
  std::string upper = config_.sandbox_dir + "/upper";
  ASSERT_TRUE(MakeDirs(upper, 0755).ok());
  std::string victim = tmp_.path() + "/victim";
  ASSERT_TRUE(MakeDirs(victim, 0755).ok());
  ASSERT_EQ(::symlink(victim.c_str(), (upper + "/usr").c_str()), 0);
  auto r = PrepareRootfs(config_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("bind target"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(MountsBelow(victim), 0u);
  EXPECT_EQ(MountsBelow(Root()), 0u);  // rolled back
}

TEST_F(RootfsTest, SandboxOwnedHomeReplacedBySymlinkIsLeftAlone) {
  std::string upper = config_.sandbox_dir + "/upper";
  ASSERT_TRUE(MakeDirs(upper, 0755).ok());
  std::string victim = tmp_.path() + "/victim_home";
  ASSERT_TRUE(MakeDirs(victim, 0755).ok());
  ASSERT_EQ(::symlink(victim.c_str(), (upper + "/home").c_str()), 0);
  auto r = PrepareRootfs(config_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(::access((victim + "/user").c_str(), F_OK), 0);  // nothing created through it
}

TEST_F(RootfsTest, ExtraBindOfAFileAndWritableDir) {
  std::string file = tmp_.path() + "/config.json";
  ASSERT_TRUE(WriteFileAtomic(file, "{}").ok());
  std::string data = tmp_.path() + "/data";
  ASSERT_TRUE(MakeDirs(data, 0755).ok());
  config_.binds.push_back({file, "/etc/sbx/config.json", true});
  config_.binds.push_back({data, "/mnt/data", false});
  auto r = PrepareRootfs(config_);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(MountsBelow(Root()), 4u);
  auto c = ReadFile(Root() + "/etc/sbx/config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, "{}");
  EXPECT_TRUE(WriteFileAtomic(Root() + "/mnt/data/w", "w").ok());
  EXPECT_EQ(::access((data + "/w").c_str(), F_OK), 0);
}

TEST(RootfsValidationTest, RejectsBadConfig) {
  RootfsConfig c;
  c.sandbox_dir = "relative";
  c.lower_dir = "/";
  c.host_id_base = kBase;
  EXPECT_FALSE(PrepareRootfs(c).ok());
  c.sandbox_dir = "/tmp/sbx-never";
  c.lower_dir = "/nonexistent-lower";
  auto r = PrepareRootfs(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent-lower"), std::string::npos);
  EXPECT_TRUE(ReleaseRootfs("/tmp/sbx-never-existed").ok());
}

}  // namespace
}  // namespace sbx::runtime
