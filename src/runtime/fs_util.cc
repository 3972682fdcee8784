// Host-side file-system helpers: mountinfo parsing, no-follow directory creation and a tree
// remover that neither follows symlinks nor crosses mounts, linear in the size of the tree.
#include "runtime/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <sstream>

namespace sbx::runtime {
namespace {

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

Result<std::vector<MountEntry>> ReadMountInfo(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError("read " + path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::vector<MountEntry> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    std::string tok;
    while (f >> tok) fields.push_back(tok);
    size_t sep = 0;
    for (size_t i = 6; i < fields.size(); ++i) {
      if (fields[i] == "-") {
        sep = i;
        break;
      }
    }
    if (fields.size() < 10 || sep == 0 || sep + 3 > fields.size()) {
      return MakeError(ErrorCode::kInternal, "unparsable line in " + path + ": " + line);
    }
    MountEntry m;
    m.id = std::atoi(fields[0].c_str());
    m.parent_id = std::atoi(fields[1].c_str());
    m.root = Unescape(fields[3]);
    m.mount_point = Unescape(fields[4]);
    m.fs_type = fields[sep + 1];
    m.source = Unescape(fields[sep + 2]);
    m.super_options = sep + 3 < fields.size() ? fields[sep + 3] : "";
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MountEntry> MountsAtOrBelow(const std::vector<MountEntry>& mounts,
                                        std::string_view dir) {
  std::vector<MountEntry> out;
  for (const MountEntry& m : mounts) {
    std::string_view mp = m.mount_point;
    if (mp == dir ||
        (mp.size() > dir.size() && mp.substr(0, dir.size()) == dir && mp[dir.size()] == '/')) {
      out.push_back(m);
    }
  }
  return out;
}

Result<std::string> CanonicalPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return SysError("realpath " + path);
  return std::string(buf);
}

Result<void> MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidArgument, "mkdir: empty path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return SysError("mkdir " + prefix);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return SysError("stat " + path);
  if (!S_ISDIR(st.st_mode)) return SysError("mkdir " + path, ENOTDIR);
  return Ok();
}

Result<UniqueFd> EnsureDirAt(int dirfd, const std::string& name, mode_t mode, uid_t uid, gid_t gid,
                             const std::string& what, bool* created) {
  bool made = false;
  if (::mkdirat(dirfd, name.c_str(), mode) == 0) {
    made = true;
  } else if (errno != EEXIST) {
    return SysError("mkdir " + what);
  }
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return SysError("open " + what + " (must be a directory, not a symlink)");
  if (made) {
    if (::fchown(fd.get(), uid, gid) != 0) {
      return SysError("chown " + what + " to " + std::to_string(uid) + ":" + std::to_string(gid));
    }
    if (::fchmod(fd.get(), mode) != 0) return SysError("chmod " + what);
  }
  if (created != nullptr) *created = made;
  return fd;
}

Result<void> WriteFileAt(int dirfd, const std::string& name, std::string_view data, mode_t mode,
                         const std::string& what) {
  UniqueFd fd(
      ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return SysError("create " + what);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError("write " + what);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0) return SysError("chmod " + what);
  return Ok();
}

Result<void> WriteControlFile(const std::string& path, std::string_view value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return SysError("write '" + std::string(value) + "' to " + path);
  return Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

namespace {

// RemoveTree's walk: one frame per directory on the path from the top to the current one.
// Each frame reads its directory once (getdents64, so a directory's entries are listed exactly
// once however wide it is), then removes the entries one by one; a subdirectory becomes a new
// frame. Only the kOpenFrames deepest frames keep their fd: a shallower frame's fd is closed
// and, when the walk comes back to it, re-opened as ".." of its child and checked against
// the device and inode it had, so an attacker's 10,000-deep chain costs neither 10,000 fds nor
// stack, and each directory is opened at most twice.
constexpr size_t kOpenFrames = 32;

struct Entry {
  std::string name;
  unsigned char type;  // DT_*; DT_UNKNOWN when the file system does not say
};

struct Frame {
  std::string name;  // in the parent frame's directory
  UniqueFd fd;       // empty while kOpenFrames deeper frames hold theirs
  dev_t dev = 0;
  ino_t ino = 0;
  std::vector<Entry> entries;
  size_t next = 0;  // entries before it are removed
};

struct Walk {
  const std::string& top;
  uint64_t mnt_id = 0;
  dev_t dev = 0;
  std::vector<Frame> stack;

  std::string Where(const std::string& leaf = "") const {
    std::string w = top;
    for (size_t i = 1; i < stack.size(); ++i) w += "/" + stack[i].name;
    if (!leaf.empty()) w += "/" + leaf;
    return w;
  }

  Result<void> ReadEntries(Frame& f) const {
    alignas(8) char buf[32768];
    for (;;) {
      ssize_t n = ::getdents64(f.fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return SysError("getdents64 " + Where());
      }
      if (n == 0) return Ok();
      for (ssize_t off = 0; off < n;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf + off);
        off += d->d_reclen;
        std::string_view name = d->d_name;
        if (name != "." && name != "..") f.entries.push_back({std::string(name), d->d_type});
      }
    }
  }

  // Opens directory `name` of the top frame as a new frame: never through a symlink, never
  // into another mount. ENOENT: gone meanwhile (nothing pushed); ENOTDIR: not a directory.
  Result<bool> Push(const std::string& name) {
    int fd = ::openat(stack.back().fd.get(), name.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return false;
      return SysError("open " + Where(name));
    }
    Frame f;
    f.name = name;
    f.fd.reset(fd);
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &stx) != 0)
      return SysError("statx " + Where(name));
    f.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    f.ino = stx.stx_ino;
    if (f.dev != dev || ((stx.stx_mask & STATX_MNT_ID) && stx.stx_mnt_id != mnt_id))
      return SysError("remove " + Where(name) + ": another file system is mounted there", EXDEV);
    stack.push_back(std::move(f));
    RETURN_IF_ERROR(ReadEntries(stack.back()));
    if (stack.size() > kOpenFrames) stack[stack.size() - 1 - kOpenFrames].fd.reset();
    return true;
  }

  // The top frame is done: re-open its parent if needed, then remove it from there.
  Result<void> Pop() {
    Frame done = std::move(stack.back());
    stack.pop_back();
    Frame& parent = stack.back();
    if (!parent.fd) {
      UniqueFd up(::openat(done.fd.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!up) return SysError("open " + Where(done.name) + "/..");
      struct stat st;
      if (::fstat(up.get(), &st) != 0) return SysError("fstat " + Where());
      if (st.st_dev != parent.dev || st.st_ino != parent.ino)
        return MakeError(ErrorCode::kInternal,
                         "remove " + Where(done.name) + ": it was moved during the removal");
      parent.fd = std::move(up);
    }
    done.fd.reset();
    if (::unlinkat(parent.fd.get(), done.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return SysError("rmdir " + Where(done.name));
    return Ok();
  }

  // Removes one entry of the top frame, or pushes it when it is a non-empty directory.
  Result<void> Step(const Entry& e) {
    int dirfd = stack.back().fd.get();
    bool dir = e.type == DT_DIR;
    if (e.type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(dirfd, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return Ok();
        return SysError("lstat " + Where(e.name));
      }
      dir = S_ISDIR(st.st_mode);
    }
    if (!dir) {
      if (::unlinkat(dirfd, e.name.c_str(), 0) == 0 || errno == ENOENT) return Ok();
      if (errno == EBUSY)
        return SysError("unlink " + Where(e.name) + ": a file is mounted there", EXDEV);
      if (errno != EISDIR) return SysError("unlink " + Where(e.name));
    }
    ASSIGN_OR_RETURN(bool pushed, Push(e.name));
    (void)pushed;
    return Ok();
  }
};

}  // namespace

Result<void> RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok();
    return SysError("lstat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return SysError("unlink " + path);
    return Ok();
  }
  Walk walk{path};
  Frame top;
  top.fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top.fd) return SysError("open " + path);
  struct statx stx;
  if (::statx(top.fd.get(), "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &stx) != 0)
    return SysError("statx " + path);
  walk.dev = top.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  top.ino = stx.stx_ino;
  walk.mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
  walk.stack.push_back(std::move(top));
  RETURN_IF_ERROR(walk.ReadEntries(walk.stack.back()));
  for (;;) {
    Frame& f = walk.stack.back();
    if (f.next < f.entries.size()) {
      Entry e = std::move(f.entries[f.next++]);
      RETURN_IF_ERROR(walk.Step(e));
      continue;
    }
    if (walk.stack.size() == 1) break;
    RETURN_IF_ERROR(walk.Pop());
  }
  walk.stack.clear();
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return SysError("rmdir " + path);
  return Ok();
}

}  // namespace sbx::runtime
