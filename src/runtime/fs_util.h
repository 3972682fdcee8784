// File-system helpers of the runtime that run on the host as real root: mount table queries,
// directory creation that never follows symlinks, and tree removal that never leaves the tree
// (a sandbox can plant symlinks in its upper layer that point at host files).
//
// Thread safety: every function is reentrant; none keeps state.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sbx::runtime {

struct MountEntry {
  int id = 0;
  int parent_id = 0;
  std::string root;         // root of the mount within its file system
  std::string mount_point;  // unescaped (\040 -> ' ')
  std::string fs_type;
  std::string source;
  std::string super_options;  // "rw,memory" for a cgroup v1 hierarchy
};

// Parses /proc/self/mountinfo (or `path`), in the kernel's order (parents before children).
Result<std::vector<MountEntry>> ReadMountInfo(const std::string& path = "/proc/self/mountinfo");

// Mount entries whose mount point is `dir` or below it (dir must be absolute, no trailing '/').
std::vector<MountEntry> MountsAtOrBelow(const std::vector<MountEntry>& mounts,
                                        std::string_view dir);

// The canonical absolute form of an existing path (realpath(3)).
Result<std::string> CanonicalPath(const std::string& path);

// mkdir -p with `mode` for the directories it creates (existing ones are left alone).
Result<void> MakeDirs(const std::string& path, mode_t mode);

// Opens directory `name` in `dirfd`, creating it with mode/owner (exact mode: no umask) when
// missing. Never follows a symlink: an existing non-directory is an error (ENOTDIR/ELOOP).
// `created` (optional) reports whether it was made now.
Result<UniqueFd> EnsureDirAt(int dirfd, const std::string& name, mode_t mode, uid_t uid, gid_t gid,
                             const std::string& what, bool* created = nullptr);

// Writes a regular file `name` in `dirfd` (O_NOFOLLOW, exclusive create), root-owned.
Result<void> WriteFileAt(int dirfd, const std::string& name, std::string_view data, mode_t mode,
                         const std::string& what);

// Writes a whole value into an existing control file (cgroup, /proc): O_WRONLY|O_TRUNC, one
// write(2). Errors name the value and the path.
Result<void> WriteControlFile(const std::string& path, std::string_view value);
bool PathExists(const std::string& path);

// Removes `path` and everything below it. Never follows symlinks (they are unlinked, not
// resolved), never crosses into another mount (a directory with another device or mount id,
// or a file mounted over: fails with EXDEV and leaves it), uses at most 33 fds and no
// recursion however deep the tree is, and takes time linear in its entries (each directory is
// listed once). Memory: the names of the directories on the current path and of their
// entries not yet removed. A directory moved away during the walk is an error, not followed.
// ENOENT for `path` itself is success.
Result<void> RemoveTree(const std::string& path);

}  // namespace sbx::runtime
