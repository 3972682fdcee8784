// ExtractToDirectory: fd-relative, no-follow writing of a checked archive (see local_extract.h).
#include "archive/local_extract.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/unique_fd.h"
#include "common/util.h"
#include "digest/sha256.h"

namespace sbx::archive {
namespace {

std::string Show(const std::string& dir, std::string_view name) {
  return dir + (dir.empty() || dir.back() == '/' ? "" : "/") + std::string(name);
}

// Opens (creating when missing, 0755 less the umask) the directory `rel` below dir_fd, one
// component at a time, never following a symlink. *created: the last component was created.
Result<UniqueFd> OpenDirBelow(int dir_fd, std::string_view rel, const std::string& dir_path,
                              const std::string& member, bool* created = nullptr) {
  if (created) *created = false;
  UniqueFd cur(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return SysError("open " + dir_path);
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    std::string part(rel.substr(i, j - i));
    std::string shown = Show(dir_path, rel.substr(0, j));
    int fd = ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        return SysError("mkdir " + shown + " (for member '" + member + "')");
      if (created) *created = j == rel.size();
      fd = ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        return MakeError(ErrorCode::kInvalidArgument,
                         "member '" + member + "' refused: local '" + shown +
                             "' is a symlink or not a directory (never written through)");
      return SysError("open " + shown + " (for member '" + member + "')");
    }
    cur.reset(fd);
    i = j + 1;
  }
  return cur;
}

mode_t Umask() {
  mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}

Result<ExtractedMember> ExtractFile(TarReader& reader, const Member& m, int parent_fd,
                                    const std::string& dir_path, bool require_sha256,
                                    mode_t umask_bits) {
  if (require_sha256 && m.sha256.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "member '" + m.name + "' carries no sha256 (" + kSha256Xattr + ")");
  const std::string base(NameBase(m.name));
  const std::string tmp = "." + base.substr(0, 200) + ".sbx-" + RandomHex(6);
  UniqueFd fd(
      ::openat(parent_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return SysError("create " + Show(dir_path, tmp) + " (for member '" + m.name + "')");
  bool keep = false;
  struct Cleanup {
    int dir;
    const std::string& name;
    bool& keep;
    ~Cleanup() {
      if (!keep) ::unlinkat(dir, name.c_str(), 0);
    }
  } cleanup{parent_fd, tmp, keep};

  digest::Sha256 md;
  ExtractedMember out{m.name, MemberType::kFile, 0, ""};
  RETURN_IF_ERROR(reader.ReadData([&](std::string_view chunk) -> Result<void> {
    while (!chunk.empty()) {
      ssize_t n = ::write(fd.get(), chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("write " + Show(dir_path, m.name));
      md.Update(std::string_view(chunk.data(), static_cast<size_t>(n)));
      chunk.remove_prefix(static_cast<size_t>(n));
      out.size += n;
    }
    return Ok();
  }));
  out.sha256 = md.HexDigest();
  if (!m.sha256.empty() && out.sha256 != m.sha256)
    return MakeError(ErrorCode::kInternal,
                     "member '" + m.name + "' is corrupt: the archive says sha256 " + m.sha256 +
                         ", its content hashes to " + out.sha256 + "; not written");
  if (::fchmod(fd.get(), (m.mode & 0777) & ~umask_bits) != 0)
    return SysError("chmod " + Show(dir_path, m.name));
  if (::fsync(fd.get()) != 0) return SysError("fsync " + Show(dir_path, m.name));
  fd.reset();
  if (::renameat(parent_fd, tmp.c_str(), parent_fd, base.c_str()) != 0)
    return SysError("rename into " + Show(dir_path, m.name));
  keep = true;
  return out;
}

}  // namespace

Result<std::vector<ExtractedMember>> ExtractToDirectory(TarReader& reader, int dir_fd,
                                                        const std::string& dir_path,
                                                        bool require_sha256) {
  const mode_t umask_bits = Umask();
  std::vector<ExtractedMember> done;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Member> m, reader.Next());
    if (!m) break;
    if (m->name.empty()) continue;  // "./": the target directory itself
    if (m->type == MemberType::kDirectory) {
      bool created = false;
      ASSIGN_OR_RETURN(UniqueFd d, OpenDirBelow(dir_fd, m->name, dir_path, m->name, &created));
      // A directory made here gets the member's bits less the umask, but stays writable by us
      // so that its members can still be extracted. An existing directory is left as it is
      // (tar --no-overwrite-dir).
      if (created && ::fchmod(d.get(), ((m->mode & 0777) | 0700) & ~umask_bits) != 0)
        return SysError("chmod " + Show(dir_path, m->name));
      done.push_back({m->name, MemberType::kDirectory, 0, ""});
      continue;
    }
    ASSIGN_OR_RETURN(UniqueFd parent, OpenDirBelow(dir_fd, NameParent(m->name), dir_path, m->name));
    ASSIGN_OR_RETURN(ExtractedMember f,
                     ExtractFile(reader, *m, parent.get(), dir_path, require_sha256, umask_bits));
    done.push_back(std::move(f));
  }
  return done;
}

}  // namespace sbx::archive
