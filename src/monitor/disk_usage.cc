// A bounded, non-following, single-file-system walk summing allocated blocks.
#include "monitor/disk_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "common/util.h"

namespace sbx::monitor {
namespace {

// Owns a DIR* (which owns its fd).
class DirStream {
 public:
  explicit DirStream(DIR* d) : d_(d) {}
  DirStream(DirStream&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  DirStream& operator=(DirStream&&) = delete;
  DirStream(const DirStream&) = delete;
  ~DirStream() {
    if (d_) ::closedir(d_);
  }
  DIR* get() const { return d_; }

 private:
  DIR* d_;
};

}  // namespace

Result<DiskUsage> MeasureDiskUsage(const std::string& root, const DiskWalkLimits& limits) {
  int64_t start = MonotonicNs();
  UniqueFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root_fd) return SysError("open " + root);
  struct stat st {};
  if (::fstat(root_fd.get(), &st) != 0) return SysError("fstat " + root);
  const dev_t dev = st.st_dev;
  DiskUsage u;
  u.bytes = static_cast<int64_t>(st.st_blocks) * 512;
  std::set<std::pair<dev_t, ino_t>> linked;  // files with st_nlink > 1 already counted

  std::vector<DirStream> stack;
  DIR* d = ::fdopendir(root_fd.release());
  if (!d) return SysError("fdopendir " + root);
  stack.emplace_back(d);
  while (!stack.empty()) {
    DIR* cur = stack.back().get();
    errno = 0;
    struct dirent* e = ::readdir(cur);
    if (!e) {
      stack.pop_back();
      continue;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    ++u.entries;
    if (u.entries > limits.max_entries ||
        (limits.max_ns > 0 && (u.entries & 255) == 0 && MonotonicNs() - start > limits.max_ns)) {
      u.complete = false;
      break;
    }
    struct stat es {};
    if (::fstatat(::dirfd(cur), e->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (es.st_dev != dev) {
      u.complete = false;  // a mount below the tree: not ours to count
      continue;
    }
    if (!S_ISDIR(es.st_mode) && es.st_nlink > 1 && !linked.insert({es.st_dev, es.st_ino}).second)
      continue;
    u.bytes += static_cast<int64_t>(es.st_blocks) * 512;
    if (!S_ISDIR(es.st_mode)) continue;
    if (static_cast<int>(stack.size()) >= limits.max_depth) {
      u.complete = false;
      continue;
    }
    int fd = ::openat(::dirfd(cur), e->d_name,
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;  // raced away or swapped for a symlink: skip
    UniqueFd child(fd);
    struct stat cs {};
    if (::fstat(child.get(), &cs) != 0 || cs.st_dev != dev || cs.st_ino != es.st_ino) continue;
    DIR* cd = ::fdopendir(child.get());
    if (!cd) continue;
    child.release();
    stack.emplace_back(cd);
  }
  u.walk_ns = MonotonicNs() - start;
  return u;
}

}  // namespace sbx::monitor
