// Host-side file-system helpers: mountinfo parsing, no-follow directory creation and a tree
// remover that neither follows symlinks nor crosses mounts.
#include "runtime/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
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

// Names in a directory, without "." and "..". Reads through a fresh open file description
// so the caller's fd offset is untouched.
Result<std::vector<std::string>> ListNames(int dirfd, const std::string& what) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SysError("open directory " + what);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    ::close(fd);
    return SysError("fdopendir " + what, err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return SysError("readdir " + what, err);
  return names;
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
  UniqueFd cur(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!cur) return SysError("open " + path);
  // Walk depth first with one directory fd at a time: descend into the first non-empty
  // subdirectory, come back up through "..", which cannot be redirected by a symlink.
  std::vector<std::string> names;  // path from `path` to `cur`
  auto where = [&]() {
    std::string w = path;
    for (const std::string& n : names) w += "/" + n;
    return w;
  };
  for (;;) {
    auto listed = ListNames(cur.get(), "");
    if (!listed.ok()) return SysError("list " + where(), listed.error().sys_errno);
    std::vector<std::string> entries = std::move(listed).value();
    bool descended = false;
    for (const std::string& name : entries) {
      struct statx stx;
      if (::statx(cur.get(), name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) != 0) {
        if (errno == ENOENT) continue;
        return SysError("statx " + where() + "/" + name);
      }
      if (!S_ISDIR(stx.stx_mode)) {
        if (::unlinkat(cur.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
          return SysError("unlink " + where() + "/" + name);
        }
        continue;
      }
      if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
          (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
        return SysError("remove " + where() + "/" + name + ": it is a mount point", EBUSY);
      }
      if (::unlinkat(cur.get(), name.c_str(), AT_REMOVEDIR) == 0) continue;
      if (errno != ENOTEMPTY && errno != EEXIST) {
        return SysError("rmdir " + where() + "/" + name);
      }
      int next = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) return SysError("open " + where() + "/" + name);
      cur.reset(next);
      names.push_back(name);
      descended = true;
      break;
    }
    if (descended) continue;
    if (names.empty()) break;
    int parent = ::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0) return SysError("open " + where() + "/..");
    cur.reset(parent);
    std::string name = names.back();
    names.pop_back();
    if (::unlinkat(cur.get(), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return SysError("rmdir " + where() + "/" + name);
    }
  }
  cur.reset();
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return SysError("rmdir " + path);
  return Ok();
}

}  // namespace sbx::runtime
