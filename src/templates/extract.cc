// ExtractArchiveFd: libarchive reading, our own writing, relative to a root dir fd and never
// following symlinks.
#include "templates/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/fs_util.h"

namespace sbx::templates {
namespace {

Error Refused(const ExtractOptions& o, const std::string& entry, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   (o.what.empty() ? std::string("archive") : o.what) + ": entry '" + entry +
                       "' refused: " + why);
}

// Splits an entry name into components: "./a//b/" -> {a, b}. Fails on absolute names and "..".
Result<std::vector<std::string>> SplitEntry(const std::string& name, const ExtractOptions& o) {
  if (!name.empty() && name[0] == '/') return Refused(o, name, "absolute path");
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    std::string p = name.substr(i, j - i);
    if (p == "..") return Refused(o, name, "'..' leads out of the root");
    if (!p.empty() && p != ".") parts.push_back(p);
    i = j + 1;
  }
  return parts;
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < parts.size(); ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

// Opens the directory holding the last component, creating missing directories (0755, root)
// when `create`. Symlinks and non-directories on the way are refused.
Result<UniqueFd> OpenParent(int root_fd, const std::vector<std::string>& parts, bool create,
                            const ExtractOptions& o, const std::string& entry,
                            std::set<std::string>* touched) {
  UniqueFd cur(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return SysError("open extraction root");
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int fd = ::openat(cur.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return SysError("mkdir " + Join(parts, i + 1));
      if (touched) touched->insert(Join(parts, i + 1));
      fd = ::openat(cur.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        return Refused(o, entry, "'" + Join(parts, i + 1) + "' is a symlink or not a directory");
      return SysError("open " + Join(parts, i + 1) + " (for entry " + entry + ")");
    }
    cur.reset(fd);
  }
  return cur;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Removes `name` in `dir_fd` whatever it is (a directory with its content), never following.
Result<void> RemoveAt(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? Ok() : Result<void>(SysError("stat " + name));
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT)
      return SysError("unlink " + name);
    return Ok();
  }
  return runtime::RemoveTree(FdPath(dir_fd) + "/" + name);
}

std::vector<std::string> ListNames(int dir_fd) {
  std::vector<std::string> out;
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return out;
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

void SetOwnerMode(int dir_fd, const std::string& leaf, archive_entry* e, bool keep_owners,
                  bool is_link) {
  if (keep_owners)
    (void)::fchownat(dir_fd, leaf.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                     static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW);
  if (!is_link) (void)::fchmodat(dir_fd, leaf.c_str(), archive_entry_perm(e) & 07777, 0);
}

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

class Extractor {
 public:
  Extractor(int root_fd, const ExtractOptions& o, int64_t total)
      : root_fd_(root_fd), o_(o), total_(total) {}

  Result<void> Entry(archive* a, archive_entry* e) {
    const char* pn = archive_entry_pathname(e);
    std::string name = pn ? pn : "";
    ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitEntry(name, o_));
    if (parts.empty()) return Ok();  // the root itself
    std::string rel = Join(parts, parts.size());
    const std::string& leaf = parts.back();
    if (o_.whiteouts && leaf.rfind(".wh.", 0) == 0) return Whiteout(parts, name);
    ASSIGN_OR_RETURN(UniqueFd parent, OpenParent(root_fd_, parts, true, o_, name, &touched_));
    touched_.insert(rel);
    for (size_t i = 1; i < parts.size(); ++i) touched_.insert(Join(parts, i));
    ++stats_.entries;

    const char* hl = archive_entry_hardlink(e);
    if (hl != nullptr) return HardLink(parent.get(), leaf, hl, name);
    mode_t type = archive_entry_filetype(e);
    struct stat st;
    bool exists = ::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (type == AE_IFDIR) {
      if (exists && !S_ISDIR(st.st_mode)) RETURN_IF_ERROR(RemoveAt(parent.get(), leaf));
      if ((!exists || !S_ISDIR(st.st_mode)) && ::mkdirat(parent.get(), leaf.c_str(), 0755) != 0)
        return SysError("mkdir " + rel);
      SetOwnerMode(parent.get(), leaf, e, o_.keep_owners, false);
      return Ok();
    }
    if (exists) RETURN_IF_ERROR(RemoveAt(parent.get(), leaf));
    switch (type) {
      case AE_IFREG: return RegularFile(a, e, parent.get(), leaf, rel);
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (::symlinkat(target ? target : "", parent.get(), leaf.c_str()) != 0)
          return SysError("symlink " + rel);
        SetOwnerMode(parent.get(), leaf, e, o_.keep_owners, true);
        return Ok();
      }
      case AE_IFIFO:
        if (::mkfifoat(parent.get(), leaf.c_str(), 0600) != 0) return SysError("mkfifo " + rel);
        SetOwnerMode(parent.get(), leaf, e, o_.keep_owners, false);
        return Ok();
      default:
        ++stats_.skipped;  // devices and sockets: sandboxes get their /dev from the runtime
        return Ok();
    }
  }

  const ExtractStats& stats() const { return stats_; }

 private:
  Result<void> Whiteout(const std::vector<std::string>& parts, const std::string& name) {
    ++stats_.whiteouts;
    ASSIGN_OR_RETURN(UniqueFd parent, OpenParent(root_fd_, parts, true, o_, name, &touched_));
    std::string dir_rel = Join(parts, parts.size() - 1);
    const std::string& leaf = parts.back();
    if (leaf == ".wh..wh..opq") {
      // Opaque: hide what lower layers put in this directory, keep this layer's entries.
      for (const std::string& n : ListNames(parent.get())) {
        std::string rel = dir_rel.empty() ? n : dir_rel + "/" + n;
        if (touched_.count(rel)) continue;
        RETURN_IF_ERROR(RemoveAt(parent.get(), n));
      }
      return Ok();
    }
    std::string victim = leaf.substr(4);
    if (victim.empty() || victim == "." || victim == "..")
      return Refused(o_, name, "whiteout of an invalid name");
    return RemoveAt(parent.get(), victim);
  }

  Result<void> HardLink(int parent_fd, const std::string& leaf, const std::string& target,
                        const std::string& name) {
    ASSIGN_OR_RETURN(std::vector<std::string> tparts, SplitEntry(target, o_));
    if (tparts.empty()) return Refused(o_, name, "hardlink to the root");
    auto tparent = OpenParent(root_fd_, tparts, false, o_, name, nullptr);
    if (!tparent.ok()) return Refused(o_, name, "hardlink target '" + target + "': " +
                                                    tparent.error().message);
    struct stat st;
    if (::fstatat(tparent->get(), tparts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return Refused(o_, name, "hardlink target '" + target + "' does not exist in the archive");
    if (S_ISDIR(st.st_mode)) return Refused(o_, name, "hardlink to a directory");
    (void)RemoveAt(parent_fd, leaf);
    if (::linkat(tparent->get(), tparts.back().c_str(), parent_fd, leaf.c_str(), 0) != 0)
      return SysError("link " + name + " -> " + target);
    return Ok();
  }

  Result<void> RegularFile(archive* a, archive_entry* e, int parent_fd, const std::string& leaf,
                           const std::string& rel) {
    UniqueFd fd(::openat(parent_fd, leaf.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return SysError("create " + rel);
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      int r = archive_read_data_block(a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return MakeError(ErrorCode::kInvalidArgument,
                         o_.what + ": reading " + rel + ": " + archive_error_string(a));
      const char* p = static_cast<const char*>(buf);
      size_t left = size;
      off_t off = offset;
      while (left > 0) {
        ssize_t n = ::pwrite(fd.get(), p, left, off);
        if (n < 0) {
          if (errno == EINTR) continue;
          return SysError("write " + rel);
        }
        p += n;
        left -= static_cast<size_t>(n);
        off += n;
      }
      stats_.bytes += static_cast<int64_t>(size);
      Report(a);
    }
    if (::ftruncate(fd.get(), archive_entry_size(e)) != 0) return SysError("truncate " + rel);
    if (o_.keep_owners)
      (void)::fchown(fd.get(), static_cast<uid_t>(archive_entry_uid(e)),
                     static_cast<gid_t>(archive_entry_gid(e)));
    (void)::fchmod(fd.get(), archive_entry_perm(e) & 07777);
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
    ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    (void)::futimens(fd.get(), ts);
    return Ok();
  }

  void Report(archive* a) {
    if (!o_.on_bytes) return;
    int64_t done = archive_filter_bytes(a, -1);
    if (done - last_report_ < (4 << 20)) return;
    last_report_ = done;
    o_.on_bytes(done, total_);
  }

  int root_fd_;
  const ExtractOptions& o_;
  int64_t total_;
  int64_t last_report_ = 0;
  ExtractStats stats_;
  std::set<std::string> touched_;  // paths this archive created or entered
};

}  // namespace

Result<int> OpenInRoot(int dir_fd, const std::string& path, int flags) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how);
  if (fd < 0) return SysError("open " + path + " in the unpacked image");
  return static_cast<int>(fd);
}

Result<ExtractStats> ExtractArchiveFd(int archive_fd, int root_fd, const ExtractOptions& o) {
  struct stat st;
  int64_t total = ::fstat(archive_fd, &st) == 0 ? st.st_size : -1;
  std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_fd(a.get(), archive_fd, 1 << 16) != ARCHIVE_OK)
    return MakeError(ErrorCode::kInvalidArgument,
                     o.what + ": not a readable tar archive: " + archive_error_string(a.get()));
  Extractor ex(root_fd, o, total);
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return MakeError(ErrorCode::kInvalidArgument,
                       o.what + ": corrupt archive: " + archive_error_string(a.get()));
    RETURN_IF_ERROR(ex.Entry(a.get(), e));
  }
  if (o.on_bytes) o.on_bytes(total, total);
  return ex.stats();
}

Result<ExtractStats> ExtractArchive(const std::string& path, int root_fd,
                                    const ExtractOptions& o) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  return ExtractArchiveFd(fd.get(), root_fd, o);
}

}  // namespace sbx::templates
