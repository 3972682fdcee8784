// fs_util: mountinfo parsing and the tree remover that must never follow a symlink.
#include "runtime/fs_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <cstring>
#include <filesystem>
#include <vector>

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

// CPU seconds this process used (user and system): unlike wall time, other work on the machine
// does not inflate it, and a quadratic walk shows in it.
double CpuSeconds() {
  struct timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Open fds of this process.
int OpenFds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += !e.path().empty();
  return n;
}

// A chain of `depth` directories `name` below `top`, each holding one file.
void MakeChain(const std::string& top, int depth, const char* name) {
  int fd = ::open(top.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < depth; ++i) {
    ASSERT_EQ(::mkdirat(fd, name, 0755), 0);
    int next = ::openat(fd, name, O_RDONLY | O_DIRECTORY);
    ::close(fd);
    fd = next;
    ASSERT_GE(fd, 0);
    int f = ::openat(fd, "f", O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(f, 0);
    ::close(f);
  }
  ::close(fd);
}

// An attacker's 10,000-deep chain (far deeper than PATH_MAX): removed without recursion, with
// the soft fd limit lowered to 40 above what is open, in linear CPU time.
TEST(RemoveTreeTest, DeepChainUsesBoundedFds) {
  testing::TempDir tmp;
  std::string tree = tmp.path() + "/deep";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  MakeChain(tree, 10000, "dddddddddd");
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  struct rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(OpenFds() + 40);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  double start = CpuSeconds();
  auto r = RemoveTree(tree);
  double s = CpuSeconds() - start;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(::access(tree.c_str(), F_OK), 0);
  EXPECT_LT(s, 5.0) << "CPU seconds";
}

// 20,000 subdirectories of one directory, each with a file and a 40-deep chain of its own
// (so the walk closes and re-opens the wide directory's fd): linear, not quadratic. The old
// remover listed the wide directory again after each subdirectory (minutes for this tree).
TEST(RemoveTreeTest, WideTreeIsLinear) {
  testing::TempDir tmp;
  std::string tree = tmp.path() + "/wide";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  int fd = ::open(tree.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 20000; ++i) {
    std::string d = "d" + std::to_string(i);
    ASSERT_EQ(::mkdirat(fd, d.c_str(), 0755), 0);
    int f = ::openat(fd, (d + "/f").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(f, 0);
    ::close(f);
  }
  ::close(fd);
  for (int i = 0; i < 20000; i += 1000) MakeChain(tree + "/d" + std::to_string(i), 40, "c");
  double start = CpuSeconds();
  auto r = RemoveTree(tree);
  double s = CpuSeconds() - start;
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(::access(tree.c_str(), F_OK), 0);
  EXPECT_LT(s, 5.0) << "CPU seconds";
}

// Symlinks to outside directories, deeper than the fds the walk keeps open: unlinked, never
// followed.
TEST(RemoveTreeTest, DeepSymlinksAreNotFollowed) {
  testing::TempDir tmp;
  std::string outside = tmp.path() + "/outside";
  ASSERT_TRUE(MakeDirs(outside + "/sub", 0755).ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/sub/keep", "precious").ok());
  std::string tree = tmp.path() + "/tree";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  MakeChain(tree, 100, "d");
  std::string p = tree;
  for (int i = 0; i < 100; ++i) {
    p += "/d";
    if (i % 10 == 0) {
      ASSERT_EQ(::symlink(outside.c_str(), (p + "/out").c_str()), 0);
    }
  }
  ASSERT_EQ(::symlink("..", (p + "/up").c_str()), 0);
  ASSERT_TRUE(RemoveTree(tree).ok());
  EXPECT_NE(::access(tree.c_str(), F_OK), 0);
  auto kept = ReadFile(outside + "/sub/keep");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "precious");
}

// A mount inside the tree (a tmpfs, a bind mount of the same file system, a file bind mount)
// is not entered: the removal fails with EXDEV naming it, and what is mounted stays whole.
TEST(RemoveTreeTest, DoesNotCrossMounts) {
  testing::TempDir tmp;
  std::string outside = tmp.path() + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(outside + "/keep", "precious").ok());
  struct Case {
    std::string source, fstype;
    unsigned long flags;
  };
  std::vector<Case> cases = {
      {"tmpfs", "tmpfs", 0}, {outside, "", MS_BIND}, {outside + "/keep", "", MS_BIND}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::string tree = tmp.path() + "/tree" + std::to_string(i);
    ASSERT_TRUE(MakeDirs(tree + "/a/b", 0755).ok());
    ASSERT_TRUE(WriteFileAtomic(tree + "/a/file", "x").ok());
    std::string target = tree + "/a/b/mnt";
    if (c.flags & MS_BIND && c.source != outside) {
      ASSERT_TRUE(WriteFileAtomic(target, "").ok());
    } else {
      ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    }
    SCOPED_TRACE(target);
    ASSERT_EQ(::mount(c.source.c_str(), target.c_str(),
                      c.fstype.empty() ? nullptr : c.fstype.c_str(), c.flags, nullptr),
              0)
        << strerror(errno);
    if (c.fstype == "tmpfs") {
      ASSERT_TRUE(WriteFileAtomic(target + "/inside", "x").ok());
    }
    auto r = RemoveTree(tree);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().sys_errno, EXDEV) << r.error().ToString();
      EXPECT_NE(r.error().ToString().find(target), std::string::npos) << r.error().ToString();
    }
    if (c.fstype == "tmpfs") {
      EXPECT_TRUE(ReadFile(target + "/inside").ok());
    }
    EXPECT_EQ(::umount2(target.c_str(), MNT_DETACH), 0);
    auto kept = ReadFile(outside + "/keep");
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(*kept, "precious");
    auto again = RemoveTree(tree);
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    EXPECT_NE(::access(tree.c_str(), F_OK), 0);
  }
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
