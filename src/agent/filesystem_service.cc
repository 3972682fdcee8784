// filesystem.Filesystem RPC implementations.
#include "agent/filesystem_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <functional>

#include "agent/file_metadata.h"
#include "agent/fs_identity.h"
#include "agent/paths.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "protocol/fs_messages.h"

namespace sbx::agent {

using protocol::EntryInfo;
using protocol::Json;

namespace {

// Owner and group names come from a UserDb snapshot taken once per request.
struct Ctx {
  const User& user;
  UserDb db;
};

Result<EntryInfo> StatEntry(const Ctx& ctx, int dirfd, const char* rel, const std::string& path) {
  return StatEntryAt(ctx.db, dirfd, rel, path);
}

Result<EntryInfo> StatPath(const Ctx& ctx, const std::string& path) {
  return StatEntry(ctx, AT_FDCWD, path.c_str(), path);
}

Result<void> ListInto(const Ctx& ctx, int dirfd, const std::string& dir_path, uint32_t depth,
                      Json* entries) {
  UniqueFd fd(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return SysError("open directory " + dir_path);
  DIR* d = fdopendir(fd.get());
  if (d == nullptr) return SysError("fdopendir " + dir_path);
  fd.release();
  std::vector<std::string> subdirs;
  while (dirent* de = readdir(d)) {
    std::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    if (entries->size() >= kMaxListEntries) {
      closedir(d);
      return MakeError(ErrorCode::kResourceExhausted,
                       "more than " + std::to_string(kMaxListEntries) + " entries");
    }
    const std::string path = JoinPath(dir_path, name);
    auto e = StatEntry(ctx, dirfd, de->d_name, path);
    if (!e.ok()) continue;  // vanished meanwhile
    if (e->type == protocol::FileType::kDirectory && depth > 1) subdirs.push_back(de->d_name);
    entries->push_back(protocol::EntryInfoJson(e.value()));
  }
  closedir(d);
  for (const auto& name : subdirs) {
    UniqueFd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) continue;  // unreadable for this user: list what is visible
    auto r = ListInto(ctx, sub.get(), JoinPath(dir_path, name), depth - 1, entries);
    if (!r.ok() && r.error().code == ErrorCode::kResourceExhausted) return r;
  }
  return Ok();
}

Result<Json> ListDir(const Ctx& ctx, const Json& body) {
  ASSIGN_OR_RETURN(auto req, protocol::ParseListDirRequest(body));
  const std::string path = ResolveUserPath(ctx.user, req.path);
  RETURN_IF_ERROR(CheckDirectory(path));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return SysError("open directory " + path);
  Json entries = Json::array();
  RETURN_IF_ERROR(ListInto(ctx, fd.get(), path, req.depth, &entries));
  return Json{{"entries", std::move(entries)}};
}

Result<Json> MakeDir(const Ctx& ctx, const Json& body) {
  ASSIGN_OR_RETURN(std::string raw, protocol::ParsePathRequest(body));
  const std::string path = ResolveUserPath(ctx.user, raw);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    return MakeError(ErrorCode::kAlreadyExists, "path '" + path + "' already exists");
  }
  // mkdir -p, component by component, as the user.
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    const std::string prefix = path.substr(0, at);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return SysError("mkdir " + prefix);
  }
  ASSIGN_OR_RETURN(auto entry, StatPath(ctx, path));
  if (entry.type != protocol::FileType::kDirectory) {
    return MakeError(ErrorCode::kAlreadyExists, "path '" + path + "' already exists");
  }
  return protocol::EntryResponseJson(entry);
}

Result<Json> Move(const Ctx& ctx, const Json& body) {
  ASSIGN_OR_RETURN(auto req, protocol::ParseMoveRequest(body));
  const std::string src = ResolveUserPath(ctx.user, req.source);
  const std::string dst = ResolveUserPath(ctx.user, req.destination);
  if (rename(src.c_str(), dst.c_str()) != 0) {
    Error e = SysError("rename " + src + " to " + dst);
    if (errno == ENOENT) e.message = "source '" + src + "' or the destination directory not found";
    return e;
  }
  ASSIGN_OR_RETURN(auto entry, StatPath(ctx, dst));
  return protocol::EntryResponseJson(entry);
}

// Removes everything below dirfd without following symlinks.
Result<void> RemoveContents(int dirfd, const std::string& path) {
  UniqueFd fd(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  DIR* d = fdopendir(fd.get());
  if (d == nullptr) return SysError("fdopendir " + path);
  fd.release();
  Result<void> result;
  while (dirent* de = readdir(d)) {
    std::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    if (unlinkat(dirfd, de->d_name, 0) == 0) continue;
    if (errno != EISDIR && errno != EPERM) {
      result = SysError("unlink " + JoinPath(path, name));
      break;
    }
    UniqueFd sub(openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) {
      result = SysError("open " + JoinPath(path, name));
      break;
    }
    result = RemoveContents(sub.get(), JoinPath(path, name));
    if (!result.ok()) break;
    if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) != 0) {
      result = SysError("rmdir " + JoinPath(path, name));
      break;
    }
  }
  closedir(d);
  return result;
}

Result<Json> Remove(const Ctx& ctx, const Json& body) {
  ASSIGN_OR_RETURN(std::string raw, protocol::ParsePathRequest(body));
  const std::string path = ResolveUserPath(ctx.user, raw);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return SysError("stat " + path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path.c_str()) != 0) return SysError("unlink " + path);
    return Json::object();
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return SysError("open " + path);
  RETURN_IF_ERROR(RemoveContents(fd.get(), path));
  if (rmdir(path.c_str()) != 0) return SysError("rmdir " + path);
  return Json::object();
}

}  // namespace

Result<EntryInfo> StatEntryAt(const UserDb& db, int dirfd, const char* rel,
                              const std::string& path) {
  struct stat st {};
  if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0) return SysError("stat " + path);
  EntryInfo e = protocol::EntryInfoFromStat(BaseName(path), path, st);
  e.owner = db.UserName(st.st_uid);
  e.group = db.GroupName(st.st_gid);
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(dirfd, rel, target, sizeof target);
    if (n >= 0) e.symlink_target = std::string(target, static_cast<size_t>(n));
  } else {
    e.metadata = ReadMetadata(path);
  }
  return e;
}

Result<void> CheckDirectory(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return MakeError(ErrorCode::kNotFound, "directory '" + path + "' not found");
    }
    return SysError("stat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, "path '" + path + "' is not a directory");
  }
  return Ok();
}

bool IsFilesystemMethod(std::string_view m) {
  return m == "Stat" || m == "ListDir" || m == "MakeDir" || m == "Move" || m == "Remove";
}

Result<Json> CallFilesystem(std::string_view method, const Json& body, const User& user) {
  auto db = UserDb::Load();
  Ctx ctx{user, db.ok() ? std::move(db).value() : UserDb::Parse("", "")};
  ScopedFsIdentity identity(user);
  RETURN_IF_ERROR(identity.status());
  if (method == "Stat") {
    ASSIGN_OR_RETURN(std::string raw, protocol::ParsePathRequest(body));
    ASSIGN_OR_RETURN(auto entry, StatPath(ctx, ResolveUserPath(user, raw)));
    return protocol::EntryResponseJson(entry);
  }
  if (method == "ListDir") return ListDir(ctx, body);
  if (method == "MakeDir") return MakeDir(ctx, body);
  if (method == "Move") return Move(ctx, body);
  if (method == "Remove") return Remove(ctx, body);
  return MakeError(ErrorCode::kInvalidArgument, "unknown method " + std::string(method));
}

}  // namespace sbx::agent
