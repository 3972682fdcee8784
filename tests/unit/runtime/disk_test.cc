// The sandbox's own file system: the kernel stops writes and file creation at its size and
// inode count (even for host root: no reserved blocks), stop-and-start keeps its files, and
// unmounting leaves no loop device behind.
#include "runtime/disk.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <fstream>
#include <string>

#include "runtime/fs_util.h"
#include "temp_dir.h"

namespace sbx::runtime {
namespace {

constexpr DiskQuota kQuota{32LL << 20, 1024};

// Loop devices whose backing file is `image`.
int LoopsBackedBy(const std::string& image) {
  int n = 0;
  DIR* d = ::opendir("/sys/block");
  if (!d) return -1;
  while (dirent* e = ::readdir(d)) {
    std::ifstream f(std::string("/sys/block/") + e->d_name + "/loop/backing_file");
    std::string backing;
    if (f && std::getline(f, backing) && backing == image) ++n;
  }
  ::closedir(d);
  return n;
}

TEST(DiskTest, TheKernelEnforcesSizeAndInodesAndUnmountDetaches) {
  testing::TempDir tmp;
  std::string dir = tmp.path() + "/sbx";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  auto ok = CheckDiskSupport(tmp.path() + "/blanks", kQuota);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  ASSERT_TRUE(MountSandboxDisk(dir, tmp.path() + "/blanks", kQuota).ok());
  ASSERT_TRUE(MountSandboxDisk(dir, tmp.path() + "/blanks", kQuota).ok());  // idempotent
  EXPECT_TRUE(HasSandboxDisk(dir));
  EXPECT_EQ(LoopsBackedBy(dir + "/disk.img"), 1);
  auto st = SandboxDiskStats(dir);
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->total_bytes, kQuota.bytes / 2);
  EXPECT_LE(st->total_bytes, kQuota.bytes);
  EXPECT_GE(st->total_inodes, kQuota.inodes);
  EXPECT_LE(st->total_inodes, kQuota.inodes + 256);

  // Bytes: host root (CAP_SYS_RESOURCE) is stopped too, there are no reserved blocks.
  int fd = ::open((dir + "/disk/big").c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  std::string chunk(1 << 20, 'x');
  int64_t written = 0;
  int err = 0;
  while (written < 4 * kQuota.bytes) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n < 0) {
      err = errno;
      break;
    }
    written += n;
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  EXPECT_EQ(err, ENOSPC);
  EXPECT_LE(written, kQuota.bytes);
  ASSERT_EQ(::unlink((dir + "/disk/big").c_str()), 0);

  // Inodes.
  err = 0;
  int created = 0;
  for (; created < 4 * kQuota.inodes; ++created) {
    int f = ::open((dir + "/disk/f" + std::to_string(created)).c_str(), O_WRONLY | O_CREAT, 0600);
    if (f < 0) {
      err = errno;
      break;
    }
    ::close(f);
  }
  EXPECT_EQ(err, ENOSPC);
  EXPECT_LE(created, kQuota.inodes + 256);
  EXPECT_GT(created, kQuota.inodes / 2);

  // Unmount keeps the image and its files, and the loop device goes with the mount.
  ASSERT_TRUE(UnmountSandboxDisk(dir).ok());
  EXPECT_EQ(SandboxDiskStats(dir).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(LoopsBackedBy(dir + "/disk.img"), 0);
  ASSERT_TRUE(MountSandboxDisk(dir, tmp.path() + "/blanks", kQuota).ok());
  EXPECT_TRUE(PathExists(dir + "/disk/f0"));
  ASSERT_TRUE(UnmountSandboxDisk(dir).ok());
  ASSERT_TRUE(UnmountSandboxDisk(dir).ok());  // idempotent
}

TEST(DiskTest, NoQuotaNeedsNothing) {
  EXPECT_TRUE(CheckDiskSupport("/nonexistent/blanks", DiskQuota{}).ok());
}

}  // namespace
}  // namespace sbx::runtime
