// Host half of a sandbox's file system: the overlay root under <sandbox_dir>/root, the
// read-only binds a template needs, and their release and removal. Runs as real root on the
// host, so every path below upper/ (sandbox-controlled content) is walked without following
// symlinks.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/scope_exit.h"
#include "runtime/fs_util.h"
#include "runtime/runtime.h"

namespace sbx::runtime {
namespace {

bool IsSafeOverlayPath(const std::string& p) {
  return p.find_first_of(",:\\\n") == std::string::npos;
}

// Splits an absolute sandbox path into components; rejects "." and "..".
Result<std::vector<std::string>> SplitSandboxPath(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument, "bind target must be absolute: " + path);
  }
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "." || part == "..") {
      return MakeError(ErrorCode::kInvalidArgument, "bind target may not contain . or ..: " + path);
    }
    if (!part.empty()) parts.push_back(part);
    i = j + 1;
  }
  if (parts.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "bind target may not be /: " + path);
  }
  return parts;
}

// Opens <root>/<sandbox_path> as O_PATH without following any symlink, creating missing
// directories (and, for a file bind, an empty file as the last component) when `create`.
Result<UniqueFd> OpenBindTarget(const std::string& root, const std::string& sandbox_path,
                                bool is_dir, bool create) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitSandboxPath(sandbox_path));
  UniqueFd cur(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return SysError("open " + root);
  std::string where = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    where += "/" + parts[i];
    bool last = i + 1 == parts.size();
    int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC | ((last && !is_dir) ? 0 : O_DIRECTORY);
    int fd = ::openat(cur.get(), parts[i].c_str(), flags);
    if (fd < 0 && errno == ENOENT && create) {
      if (last && !is_dir) {
        int f = ::openat(cur.get(), parts[i].c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0) return SysError("create bind target " + where);
        ::close(f);
      } else if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0) {
        return SysError("mkdir bind target " + where);
      }
      fd = ::openat(cur.get(), parts[i].c_str(), flags);
    }
    if (fd < 0) {
      return SysError("open bind target " + where + " (symlinks are not followed)");
    }
    cur.reset(fd);
  }
  return cur;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<void> MountBind(const std::string& root, const BindMount& b) {
  struct stat st;
  if (::stat(b.host_path.c_str(), &st) != 0) return SysError("stat bind source " + b.host_path);
  bool is_dir = S_ISDIR(st.st_mode);
  std::string target = root + b.sandbox_path;
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenBindTarget(root, b.sandbox_path, is_dir, true));
    if (::mount(b.host_path.c_str(), FdPath(fd.get()).c_str(), nullptr, MS_BIND | MS_REC,
                nullptr) != 0) {
      return SysError("mount --rbind " + b.host_path + " on " + target);
    }
  }
  // Reopen: the old fd names the directory below the new mount, not the mount.
  ASSIGN_OR_RETURN(UniqueFd top, OpenBindTarget(root, b.sandbox_path, is_dir, false));
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b.read_only ? MOUNT_ATTR_RDONLY : 0);
  if (::mount_setattr(top.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0) {
    return Ok();
  }
  if (errno != ENOSYS) return SysError("mount_setattr (recursive nosuid,nodev,ro) " + target);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (b.read_only ? MS_RDONLY : 0);
  if (::mount(nullptr, FdPath(top.get()).c_str(), nullptr, flags, nullptr) != 0) {
    return SysError("remount bind nosuid,nodev,ro " + target);
  }
  return Ok();
}

// `layers`: the directory holding upper/ and work/ (the sandbox dir, or its disk).
Result<void> MountOverlay(const RootfsConfig& c, const std::string& layers,
                          const std::string& root) {
  std::string base =
      "lowerdir=" + c.lower_dir + ",upperdir=" + layers + "/upper,workdir=" + layers + "/work";
  // xino=off and index=off: no inode-number tricks and no index that pins the upper layer to
  // one lower layer, so a kept upper/ mounts again after restarts and template rebuilds.
  std::string opts = base + ",xino=off,index=off";
  if (::mount("overlay", root.c_str(), "overlay", MS_NOSUID | MS_NODEV, opts.c_str()) == 0) {
    return Ok();
  }
  if (errno == EINVAL &&
      ::mount("overlay", root.c_str(), "overlay", MS_NOSUID | MS_NODEV, base.c_str()) == 0) {
    return Ok();
  }
  return SysError("mount overlay (" + opts + ") on " + root);
}

// The sandbox's own entries in upper/: /home/user, /root and /tmp belong to the sandbox. If the
// sandbox replaced one of them with something that is not a directory, it stays as it is.
Result<void> SeedUpper(int upper_fd, const std::string& upper, uint32_t base) {
  auto tolerate = [](const Error& e) { return e.sys_errno == ENOTDIR || e.sys_errno == ELOOP; };
  auto home = EnsureDirAt(upper_fd, "home", 0755, base, base, upper + "/home");
  if (home.ok()) {
    auto user = EnsureDirAt(home->get(), "user", 0755, base + kSandboxUserUid,
                            base + kSandboxUserUid, upper + "/home/user");
    if (!user.ok() && !tolerate(user.error())) return user.error();
  } else if (!tolerate(home.error())) {
    return home.error();
  }
  auto root = EnsureDirAt(upper_fd, "root", 0700, base, base, upper + "/root");
  if (!root.ok() && !tolerate(root.error())) return root.error();
  auto tmp = EnsureDirAt(upper_fd, "tmp", 01777, base, base, upper + "/tmp");
  if (!tmp.ok() && !tolerate(tmp.error())) return tmp.error();
  return Ok();
}

bool AlreadyPrepared(const std::vector<MountEntry>& mounts, const std::string& root,
                     const std::vector<BindMount>& binds) {
  bool overlay = false;
  for (const MountEntry& m : mounts) {
    if (m.mount_point == root && m.fs_type == "overlay") overlay = true;
  }
  if (!overlay) return false;
  for (const BindMount& b : binds) {
    std::string target = root + b.sandbox_path;
    while (target.size() > 1 && target.back() == '/') target.pop_back();
    bool found = std::any_of(mounts.begin(), mounts.end(),
                             [&](const MountEntry& m) { return m.mount_point == target; });
    if (!found) return false;
  }
  return true;
}

}  // namespace

Result<void> PrepareRootfs(const RootfsConfig& config) {
  if (config.sandbox_dir.empty() || config.sandbox_dir[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument,
                     "sandbox_dir must be absolute: '" + config.sandbox_dir + "'");
  }
  struct stat st;
  if (::stat(config.lower_dir.c_str(), &st) != 0)
    return SysError("stat lower dir " + config.lower_dir);
  if (!S_ISDIR(st.st_mode)) return SysError("lower dir " + config.lower_dir, ENOTDIR);
  if (config.host_id_base == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "host_id_base 0 would map sandbox root to host root");
  }
  size_t slash = config.sandbox_dir.find_last_of('/');
  if (slash > 0) RETURN_IF_ERROR(MakeDirs(config.sandbox_dir.substr(0, slash), 0755));
  if (::mkdir(config.sandbox_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return SysError("mkdir " + config.sandbox_dir);
  }
  ASSIGN_OR_RETURN(std::string dir, CanonicalPath(config.sandbox_dir));
  ASSIGN_OR_RETURN(std::string lower, CanonicalPath(config.lower_dir));
  if (!IsSafeOverlayPath(dir) || !IsSafeOverlayPath(lower)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "overlay paths may not contain ',', ':' or '\\': " + dir + ", " + lower);
  }
  std::string root = dir + "/root";
  uint32_t base = config.host_id_base;

  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd) return SysError("open " + dir);
  ASSIGN_OR_RETURN(UniqueFd root_fd, EnsureDirAt(dir_fd.get(), "root", 0755, 0, 0, root));
  ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, ReadMountInfo());
  if (AlreadyPrepared(mounts, root, config.binds)) return Ok();
  if (!MountsAtOrBelow(mounts, root).empty()) RETURN_IF_ERROR(ReleaseRootfs(dir));

  // With a quota, the layers live on the sandbox's own file system (disk.h).
  std::string layers = dir;
  UniqueFd layers_fd;
  if (config.disk.enabled()) {
    RETURN_IF_ERROR(MountSandboxDisk(dir, config.disk_blank_dir, config.disk));
    layers = dir + "/disk";
    layers_fd.reset(::open(layers.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!layers_fd) return SysError("open " + layers);
  }
  int at = layers_fd ? layers_fd.get() : dir_fd.get();
  ASSIGN_OR_RETURN(UniqueFd upper_fd, EnsureDirAt(at, "upper", 0755, base, base, layers + "/upper"));
  ASSIGN_OR_RETURN(UniqueFd work_fd, EnsureDirAt(at, "work", 0700, 0, 0, layers + "/work"));

  RETURN_IF_ERROR(SeedUpper(upper_fd.get(), layers + "/upper", base));
  RootfsConfig canon = config;
  canon.lower_dir = lower;
  RETURN_IF_ERROR(MountOverlay(canon, layers, root));
  ScopeExit rollback([&] { (void)ReleaseRootfs(dir); });
  // Private before the binds, so neither they nor later host mounts propagate in or out.
  if (::mount(nullptr, root.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
    return SysError("mount --make-private " + root);
  }
  for (const BindMount& b : config.binds) RETURN_IF_ERROR(MountBind(root, b));
  if (::mount(nullptr, root.c_str(), nullptr, MS_PRIVATE | MS_REC, nullptr) != 0) {
    return SysError("mount --make-rprivate " + root);
  }
  rollback.Dismiss();
  return Ok();
}

Result<void> ReleaseRootfs(const std::string& sandbox_dir) {
  if (!PathExists(sandbox_dir)) return Ok();
  ASSIGN_OR_RETURN(std::string dir, CanonicalPath(sandbox_dir));
  std::string root = dir + "/root";
  // Innermost first; repeat because mounts can be stacked on one mount point.
  for (int round = 0; round < 256; ++round) {
    ASSIGN_OR_RETURN(std::vector<MountEntry> all, ReadMountInfo());
    std::vector<MountEntry> mounts = MountsAtOrBelow(all, root);
    // The disk last: the overlay above it holds it busy.
    if (mounts.empty()) return UnmountSandboxDisk(dir);
    const MountEntry* victim = &mounts.back();
    for (const MountEntry& m : mounts) {
      if (m.mount_point.size() > victim->mount_point.size()) victim = &m;
    }
    const char* mp = victim->mount_point.c_str();
    if (::umount2(mp, UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) continue;  // gone meanwhile
    if (errno != EBUSY) return SysError("umount " + victim->mount_point);
    if (::umount2(mp, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
      return SysError("umount -l " + victim->mount_point);
    }
  }
  return MakeError(ErrorCode::kInternal, "mounts below " + root + " keep coming back");
}

Result<void> RemoveSandboxDir(const std::string& sandbox_dir) {
  RETURN_IF_ERROR(ReleaseRootfs(sandbox_dir));
  return RemoveTree(sandbox_dir);
}

}  // namespace sbx::runtime

namespace sbx::runtime {

Result<void> MakePrivateMountPoint(const std::string& dir_in) {
  ASSIGN_OR_RETURN(std::string dir, CanonicalPath(dir_in));
  ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, ReadMountInfo());
  bool is_mount_point = false;
  for (const MountEntry& m : mounts) is_mount_point = is_mount_point || m.mount_point == dir;
  if (!is_mount_point && ::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return SysError("mount --bind " + dir + " " + dir);
  if (::mount(nullptr, dir.c_str(), nullptr, MS_PRIVATE, nullptr) != 0)
    return SysError("mount --make-private " + dir);
  return Ok();
}

Result<void> RemovePrivateMountPoint(const std::string& dir_in) {
  if (!PathExists(dir_in)) return Ok();
  ASSIGN_OR_RETURN(std::string dir, CanonicalPath(dir_in));
  ASSIGN_OR_RETURN(std::vector<MountEntry> mounts, ReadMountInfo());
  for (const MountEntry& m : mounts) {
    if (m.mount_point != dir) continue;
    if (::umount2(dir.c_str(), UMOUNT_NOFOLLOW) != 0 &&
        ::umount2(dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
      return SysError("umount " + dir);
    break;
  }
  return Ok();
}

}  // namespace sbx::runtime
