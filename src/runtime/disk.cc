// A sandbox's own ext4 file system on a loop device: blank images by mkfs.ext4, sparse copies,
// LOOP_CONFIGURE with autoclear, mount and unmount (disk.h says why).
#include "runtime/disk.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "common/scope_exit.h"
#include "common/unique_fd.h"
#include "runtime/fs_util.h"

extern char** environ;

namespace sbx::runtime {
namespace {

constexpr const char* kOffHint = " (start sandboxd with --disk-quota off to run without disk quotas)";

std::string DiskDir(const std::string& sandbox_dir) { return sandbox_dir + "/disk"; }
std::string ImagePath(const std::string& sandbox_dir) { return sandbox_dir + "/disk.img"; }
std::string BlankPath(const std::string& blank_dir, const DiskQuota& q) {
  // v1: the mkfs options of RunMkfs; change the tag with them, so old blanks are not reused.
  return blank_dir + "/ext4-v1-" + std::to_string(q.bytes) + "-" + std::to_string(q.inodes) +
         ".img";
}

// Runs mkfs.ext4 on `image`; its output is part of the error.
Result<void> RunMkfs(const std::string& image, const DiskQuota& q) {
  std::vector<std::string> args = {
      "mkfs.ext4", "-q", "-F", "-b", "4096", "-I", "256", "-m", "0",
      "-N", std::to_string(q.inodes), "-O", "^resize_inode",
      // The image is a fresh sparse file: mkfs's discard punches it (cheap) and, since a
      // regular file reads zeros there, marks the inode tables zeroed; the journal reads zeros.
      "-E", "lazy_itable_init=1,lazy_journal_init=1", "-L", "sandbox", image};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return SysError("pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  ScopeExit destroy([&] { posix_spawn_file_actions_destroy(&fa); });
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  // The daemon's PATH may lack the sbin directories.
  std::string path_env = "PATH=/usr/sbin:/sbin:/usr/bin:/bin";
  char* env[] = {path_env.data(), nullptr};
  pid_t pid = 0;
  int rc = -1;
  for (const char* exe : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"}) {
    if (::access(exe, X_OK) != 0) continue;
    rc = ::posix_spawn(&pid, exe, &fa, nullptr, argv.data(), env);
    break;
  }
  if (rc < 0) rc = ::posix_spawnp(&pid, "mkfs.ext4", &fa, nullptr, argv.data(), env);
  if (rc != 0) return SysError(std::string("run mkfs.ext4 (e2fsprogs)") + kOffHint, rc);
  wr.reset();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(rd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (out.size() < 4096) out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return MakeError(ErrorCode::kInternal, "mkfs.ext4 " + image + " failed (wait status " +
                                               std::to_string(status) + "): " + out);
  return Ok();
}

// The blank image for `q`, made once (by mkfs into a temporary name, then renamed).
Result<std::string> EnsureBlank(const std::string& blank_dir, const DiskQuota& q) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string path = BlankPath(blank_dir, q);
  if (PathExists(path)) return path;
  RETURN_IF_ERROR(MakeDirs(blank_dir, 0700));
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return SysError("create " + tmp);
    if (::ftruncate(fd.get(), q.bytes) != 0) return SysError("truncate " + tmp);
  }
  ScopeExit drop([&] { ::unlink(tmp.c_str()); });
  RETURN_IF_ERROR(RunMkfs(tmp, q));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return SysError("rename " + tmp);
  drop.Dismiss();
  return path;
}

// Copies the allocated ranges of `src` into a new sparse file `dst` of the same size.
Result<void> CopySparse(const std::string& src, const std::string& dst) {
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return SysError("open " + src);
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return SysError("stat " + src);
  UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return SysError("create " + dst);
  ScopeExit drop([&] { ::unlink(dst.c_str()); });
  if (::ftruncate(out.get(), st.st_size) != 0) return SysError("truncate " + dst);
  off_t pos = 0;
  while (pos < st.st_size) {
    off_t data = ::lseek(in.get(), pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) return SysError("lseek SEEK_DATA " + src);
    off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
    if (hole < 0) return SysError("lseek SEEK_HOLE " + src);
    off_t from = data, to = data;
    while (from < hole) {
      ssize_t n = ::copy_file_range(in.get(), &from, out.get(), &to,
                                    static_cast<size_t>(hole - from), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return SysError("copy_file_range " + src + " -> " + dst, n == 0 ? EIO : errno);
    }
    pos = hole;
  }
  drop.Dismiss();
  return Ok();
}

// A free loop device bound to `image` (autoclear: it detaches when its last user, the mount,
// goes). Returns the open device; `dev` gets its path.
Result<UniqueFd> AttachLoop(const std::string& image, std::string* dev) {
  UniqueFd file(::open(image.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!file) return SysError("open " + image);
  UniqueFd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!ctl) return SysError(std::string("open /dev/loop-control") + kOffHint);
  for (int attempt = 0; attempt < 32; ++attempt) {
    int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return SysError(std::string("LOOP_CTL_GET_FREE") + kOffHint);
    *dev = "/dev/loop" + std::to_string(n);
    UniqueFd loop(::open(dev->c_str(), O_RDWR | O_CLOEXEC));
    if (!loop) return SysError("open " + *dev);
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(file.get());
    cfg.block_size = 4096;
    // Direct I/O: the image's pages are not cached twice (in the loop device and the file).
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return loop;
    if (errno == EINVAL) {
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      if (::ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return loop;
    }
    if (errno != EBUSY) return SysError("LOOP_CONFIGURE " + *dev + " with " + image);
    // Another process took this device between GET_FREE and CONFIGURE: ask again.
  }
  return MakeError(ErrorCode::kUnavailable, "no free loop device for " + image + kOffHint);
}

// Whether `path` is the root of a mount other than its parent's (st_dev differs).
bool IsMountedOn(const std::string& parent, const std::string& path) {
  struct stat a, b;
  return ::stat(parent.c_str(), &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev != b.st_dev;
}

}  // namespace

Result<void> CheckDiskSupport(const std::string& blank_dir, const DiskQuota& quota) {
  if (!quota.enabled()) return Ok();
  if (::access("/dev/loop-control", R_OK | W_OK) != 0)
    return SysError(std::string("loop devices are unavailable: /dev/loop-control") + kOffHint);
  RETURN_IF_ERROR(EnsureBlank(blank_dir, quota));
  return Ok();
}

Result<void> MountSandboxDisk(const std::string& sandbox_dir, const std::string& blank_dir,
                              const DiskQuota& quota) {
  std::string mp = DiskDir(sandbox_dir);
  if (::mkdir(mp.c_str(), 0700) != 0 && errno != EEXIST) return SysError("mkdir " + mp);
  if (IsMountedOn(sandbox_dir, mp)) return Ok();
  std::string image = ImagePath(sandbox_dir);
  if (!PathExists(image)) {
    ASSIGN_OR_RETURN(std::string blank, EnsureBlank(blank_dir, quota));
    RETURN_IF_ERROR(CopySparse(blank, image));
  }
  std::string dev;
  ASSIGN_OR_RETURN(UniqueFd loop, AttachLoop(image, &dev));
  // discard: blocks freed inside go back to the host (the loop device punches the image).
  if (::mount(dev.c_str(), mp.c_str(), "ext4", MS_NOSUID | MS_NODEV,
              "discard,errors=remount-ro") != 0)
    return SysError("mount " + dev + " (" + image + ") on " + mp);
  return Ok();  // closing `loop` leaves the mount as the device's only user
}

Result<void> UnmountSandboxDisk(const std::string& sandbox_dir) {
  std::string mp = DiskDir(sandbox_dir);
  for (int round = 0; round < 16 && IsMountedOn(sandbox_dir, mp); ++round) {
    if (::umount2(mp.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) continue;
    if (errno != EBUSY) return SysError("umount " + mp);
    if (::umount2(mp.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
      return SysError("umount -l " + mp);
  }
  return Ok();
}

bool HasSandboxDisk(const std::string& sandbox_dir) { return PathExists(ImagePath(sandbox_dir)); }

Result<DiskStats> SandboxDiskStats(const std::string& sandbox_dir) {
  std::string mp = DiskDir(sandbox_dir);
  if (!IsMountedOn(sandbox_dir, mp))
    return MakeError(ErrorCode::kNotFound, "no disk mounted at " + mp);
  struct statvfs sv;
  if (::statvfs(mp.c_str(), &sv) != 0) return SysError("statvfs " + mp);
  DiskStats s;
  auto frsize = static_cast<int64_t>(sv.f_frsize);
  s.total_bytes = static_cast<int64_t>(sv.f_blocks) * frsize;
  s.used_bytes = static_cast<int64_t>(sv.f_blocks - sv.f_bfree) * frsize;
  s.total_inodes = static_cast<int64_t>(sv.f_files);
  s.used_inodes = static_cast<int64_t>(sv.f_files - sv.f_ffree);
  return s;
}

}  // namespace sbx::runtime
