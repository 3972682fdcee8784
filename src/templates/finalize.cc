// FinalizeRootfs: whatever the base was, the tree becomes a sandbox lower layer:
//   - the sandbox user "user" (uid and gid 1000) in /etc/passwd and /etc/group, appended when
//     absent (existing accounts are kept);
//   - mount points /proc, /dev, /sys; /tmp (1777), /home/user, /root; /etc/hosts,
//     /etc/hostname and /etc/resolv.conf as regular files.
// /home/user stays owned by root here: the runtime seeds each sandbox's upper layer with a
// /home/user owned by that sandbox's mapped uid 1000, which a fixed owner here cannot be.
// Nothing is followed: a symlinked /etc/passwd (hostile image) is replaced, not written through.
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <utility>

#include "runtime/fs_util.h"
#include "templates/steps.h"

namespace sbx::templates {
namespace {

constexpr char kHosts[] =
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n";

// Reads a regular file in dir_fd (not following symlinks); "" when absent or not regular.
std::string ReadAt(int dir_fd, const char* name) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return "";
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Replaces `name` in dir_fd with a regular file holding data.
Result<void> ReplaceAt(int dir_fd, const char* name, const std::string& data, mode_t mode,
                       const std::string& what) {
  struct stat st;
  if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) RETURN_IF_ERROR(runtime::RemoveTree("/proc/self/fd/" +
                                                                 std::to_string(dir_fd) + "/" + name));
    else if (::unlinkat(dir_fd, name, 0) != 0) return SysError("unlink " + what);
  }
  return runtime::WriteFileAt(dir_fd, name, data, mode, what);
}

bool HasEntry(const std::string& db, const std::string& name) {
  size_t pos = 0;
  while (pos < db.size()) {
    size_t end = db.find('\n', pos);
    if (end == std::string::npos) end = db.size();
    if (db.compare(pos, name.size() + 1, name + ":") == 0) return true;
    pos = end + 1;
  }
  return false;
}

std::string WithLine(std::string db, const std::string& line) {
  if (!db.empty() && db.back() != '\n') db.push_back('\n');
  return db + line + "\n";
}

struct Dir {
  const char* path;
  mode_t mode;
  bool force_mode;
};
constexpr Dir kDirs[] = {{"etc", 0755, false},  {"proc", 0555, false}, {"dev", 0755, false},
                         {"sys", 0555, false},  {"tmp", 01777, true},  {"home", 0755, false},
                         {"home/user", 0755, false}, {"root", 0700, false}, {"run", 0755, false},
                         {"usr", 0755, false},  {"usr/local", 0755, false}};

thread_local int64_t tree_size = 0;
thread_local std::set<std::pair<dev_t, ino_t>>* tree_inodes = nullptr;

int CountEntry(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F || type == FTW_SL || type == FTW_SLN) {
    if (S_ISREG(st->st_mode) && st->st_nlink > 1 &&
        !tree_inodes->insert({st->st_dev, st->st_ino}).second)
      return 0;
    tree_size += st->st_blocks * 512;
  } else if (type == FTW_D || type == FTW_DP) {
    tree_size += st->st_blocks * 512;
  }
  return 0;
}

}  // namespace

Result<void> FinalizeRootfs(BuildContext& ctx) {
  ctx.Step("finalize", "adding the sandbox user, mount points and /etc files");
  UniqueFd root(::open(ctx.rootfs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return SysError("open " + ctx.rootfs_dir);
  const std::string& r = ctx.rootfs_dir;
  for (const Dir& d : kDirs) {
    // Parents first (the table is ordered); a symlinked parent (/home -> var/home) is refused
    // by EnsureDirAt and the entry is left alone.
    std::string p = d.path;
    size_t slash = p.find('/');
    UniqueFd parent;
    int pfd = root.get();
    std::string leaf = p;
    if (slash != std::string::npos) {
      parent.reset(::openat(root.get(), p.substr(0, slash).c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!parent) continue;
      pfd = parent.get();
      leaf = p.substr(slash + 1);
    }
    auto fd = runtime::EnsureDirAt(pfd, leaf, d.mode, 0, 0, r + "/" + p);
    if (!fd.ok()) {
      ctx.log->Line("finalize: leaving /" + p + " as it is: " + fd.error().ToString());
      continue;
    }
    if (d.force_mode && ::fchmod(fd->get(), d.mode) != 0) return SysError("chmod " + r + "/" + p);
  }
  UniqueFd etc(::openat(root.get(), "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!etc) return SysError("open " + r + "/etc (must be a directory)");
  std::string e = r + "/etc";

  std::string passwd = ReadAt(etc.get(), "passwd");
  std::string shell = runtime::PathExists(r + "/bin/bash") || runtime::PathExists(r + "/usr/bin/bash")
                          ? "/bin/bash" : "/bin/sh";
  if (passwd.empty()) passwd = "root:x:0:0:root:/root:" + shell + "\n";
  bool changed = false;
  if (!HasEntry(passwd, "user")) {
    passwd = WithLine(passwd, "user:x:1000:1000:user:/home/user:" + shell);
    changed = true;
  }
  if (!HasEntry(passwd, "nobody")) {
    passwd = WithLine(passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin");
    changed = true;
  }
  if (changed || ReadAt(etc.get(), "passwd").empty())
    RETURN_IF_ERROR(ReplaceAt(etc.get(), "passwd", passwd, 0644, e + "/passwd"));

  std::string group = ReadAt(etc.get(), "group");
  std::string original_group = group;
  if (group.empty()) group = "root:x:0:\n";
  if (!HasEntry(group, "user")) group = WithLine(group, "user:x:1000:");
  if (!HasEntry(group, "nogroup")) group = WithLine(group, "nogroup:x:65534:");
  if (group != original_group) RETURN_IF_ERROR(ReplaceAt(etc.get(), "group", group, 0644, e + "/group"));

  if (ReadAt(etc.get(), "hosts").empty())
    RETURN_IF_ERROR(ReplaceAt(etc.get(), "hosts", kHosts, 0644, e + "/hosts"));
  RETURN_IF_ERROR(ReplaceAt(etc.get(), "hostname", "sandbox\n", 0644, e + "/hostname"));
  // No network by default; a sandbox that asks for it gets the host's resolver later.
  struct stat st;
  if (::fstatat(etc.get(), "resolv.conf", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
    RETURN_IF_ERROR(ReplaceAt(etc.get(), "resolv.conf", "", 0644, e + "/resolv.conf"));
  return Ok();
}

Result<int64_t> TreeSize(const std::string& dir) {
  std::set<std::pair<dev_t, ino_t>> inodes;
  tree_inodes = &inodes;
  tree_size = 0;
  int rc = ::nftw(dir.c_str(), CountEntry, 64, FTW_PHYS | FTW_MOUNT);
  tree_inodes = nullptr;
  if (rc != 0) return SysError("walk " + dir);
  return tree_size;
}

}  // namespace sbx::templates
