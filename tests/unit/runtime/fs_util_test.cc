// fs_util: mountinfo parsing and the tree remover that must never follow a symlink.
#include "runtime/fs_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "temp_dir.h"

namespace sbx::runtime {
namespace {

TEST(MountInfoTest, ParsesAndUnescapes) {
  testing::TempDir tmp;
  std::string file = tmp.path() + "/mountinfo";
  ASSERT_TRUE(WriteFileAtomic(file,
                              "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                              "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                              "90 27 0:50 / /a\\040b/root rw - overlay overlay rw,lowerdir=x\n")
                  .ok());
  auto m = ReadMountInfo(file);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].mount_point, "/");
  EXPECT_EQ((*m)[0].fs_type, "ext4");
  EXPECT_EQ((*m)[1].super_options, "rw,memory");
  EXPECT_EQ((*m)[2].mount_point, "/a b/root");
  EXPECT_EQ((*m)[2].id, 90);
  EXPECT_EQ((*m)[2].parent_id, 27);
  EXPECT_EQ(MountsAtOrBelow(*m, "/a b").size(), 1u);
  EXPECT_EQ(MountsAtOrBelow(*m, "/a").size(), 0u);
  EXPECT_EQ(MountsAtOrBelow(*m, "/sys/fs/cgroup").size(), 1u);
}

TEST(RemoveTreeTest, DoesNotFollowSymlinks) {
  testing::TempDir tmp;
  std::string outside = tmp.path() + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(outside + "/keep", "precious").ok());
  std::string tree = tmp.path() + "/tree";
  ASSERT_TRUE(MakeDirs(tree + "/a/b/c", 0755).ok());
  ASSERT_EQ(::symlink(outside.c_str(), (tree + "/a/link_dir").c_str()), 0);
  ASSERT_EQ(::symlink((outside + "/keep").c_str(), (tree + "/a/b/link_file").c_str()), 0);
  ASSERT_EQ(::mkfifo((tree + "/a/b/c/fifo").c_str(), 0644), 0);
  ASSERT_TRUE(RemoveTree(tree).ok());
  EXPECT_NE(::access(tree.c_str(), F_OK), 0);
  auto kept = ReadFile(outside + "/keep");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "precious");
  EXPECT_TRUE(RemoveTree(tree).ok());  // already gone
}

TEST(RemoveTreeTest, DeepTreeUsesFewFds) {
  testing::TempDir tmp;
  std::string tree = tmp.path() + "/deep";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  int fd = ::open(tree.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 600; ++i) {  // 6600 characters: deeper than PATH_MAX
    ASSERT_EQ(::mkdirat(fd, "dddddddddd", 0755), 0);
    int next = ::openat(fd, "dddddddddd", O_RDONLY | O_DIRECTORY);
    ::close(fd);
    fd = next;
    ASSERT_GE(fd, 0);
  }
  ::close(fd);
  auto r = RemoveTree(tree);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(::access(tree.c_str(), F_OK), 0);
}

TEST(EnsureDirAtTest, RefusesSymlinks) {
  testing::TempDir tmp;
  int dfd = ::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(::symlink("/etc", (tmp.path() + "/home").c_str()), 0);
  auto r = EnsureDirAt(dfd, "home", 0755, 0, 0, "home");
  EXPECT_FALSE(r.ok());
  bool created = false;
  auto ok = EnsureDirAt(dfd, "fresh", 0750, 123, 456, "fresh", &created);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(created);
  struct stat st;
  ASSERT_EQ(::stat((tmp.path() + "/fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 123u);
  EXPECT_EQ(st.st_gid, 456u);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ::close(dfd);
}

}  // namespace
}  // namespace sbx::runtime
