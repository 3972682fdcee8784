// Registry files under flock, and the start-up step that acquires a daemon's range.
#include "idrange/registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/fnv.h"
#include "common/scope_exit.h"
#include "common/util.h"
#include "runtime/fs_util.h"

namespace sbx::idrange {
namespace {

constexpr char kSuffix[] = ".range";

// A registry file name for a state dir.
std::string EntryName(const std::string& state_dir) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Fnv1a64(state_dir)));
  return std::string(buf) + kSuffix;
}

Result<std::string> ReadFd(int fd, const std::string& path) {
  std::string text;
  char buf[4096];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError("read " + path);
    }
    if (n == 0) return text;
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
}

// "pid=", "state_dir=", "range=" lines.
Result<LiveRange> ParseEntry(const std::string& text, const std::string& path) {
  LiveRange l;
  bool have_range = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "pid") l.pid = std::atoll(value.c_str());
    if (key == "state_dir") l.state_dir = value;
    if (key == "range") {
      ASSIGN_OR_RETURN(l.range, ParseIdRange(value, "range in " + path));
      have_range = true;
    }
  }
  if (!have_range)
    return MakeError(ErrorCode::kInvalidArgument, "registry file " + path + " names no range");
  return l;
}

std::vector<std::string> OwnerNames(const std::string& owner) {
  std::vector<std::string> names{owner};
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (::getpwnam_r(owner.c_str(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    names.push_back(std::to_string(found->pw_uid));
  return names;
}

Result<std::optional<IdRange>> ReadRecord(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.error().sys_errno == ENOENT) return std::optional<IdRange>();
    return text.error();
  }
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  ASSIGN_OR_RETURN(IdRange r, ParseIdRange(t, "the range recorded in " + path));
  return std::optional<IdRange>(r);
}

}  // namespace

Lease::~Lease() {
  if (fd_) ::unlink(path_.c_str());  // still locked: nobody else can have replaced it
}

Result<std::vector<LiveRange>> ListLive(const std::string& registry_dir,
                                        const std::string& own_name) {
  UniqueFd dirfd(::open(registry_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) return SysError("open " + registry_dir);
  DIR* d = ::fdopendir(::dup(dirfd.get()));
  if (d == nullptr) return SysError("opendir " + registry_dir);
  ScopeExit close_dir([d] { ::closedir(d); });
  std::vector<LiveRange> live;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == own_name || name.size() <= sizeof kSuffix - 1 ||
        name.compare(name.size() - (sizeof kSuffix - 1), std::string::npos, kSuffix) != 0)
      continue;
    std::string path = registry_dir + "/" + name;
    UniqueFd fd(::openat(dirfd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return SysError("open " + path);
    }
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Nobody holds it: its daemon is dead. Remove it unless the name was reused meanwhile.
      struct stat held, named;
      if (::fstat(fd.get(), &held) == 0 && ::fstatat(dirfd.get(), name.c_str(), &named,
                                                     AT_SYMLINK_NOFOLLOW) == 0 &&
          held.st_ino == named.st_ino)
        ::unlinkat(dirfd.get(), name.c_str(), 0);
      continue;
    }
    if (errno != EWOULDBLOCK) return SysError("flock " + path);
    ASSIGN_OR_RETURN(std::string text, ReadFd(fd.get(), path));
    ASSIGN_OR_RETURN(LiveRange l, ParseEntry(text, path));
    live.push_back(std::move(l));
  }
  return live;
}

Result<std::unique_ptr<Lease>> Acquire(const AcquireOptions& o) {
  RETURN_IF_ERROR(runtime::MakeDirs(o.registry_dir, 0700));
  std::string lock_path = o.registry_dir + "/registry.lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock) return SysError("open " + lock_path);
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) return SysError("flock " + lock_path);

  std::string own_name = EntryName(o.state_dir);
  std::string own_path = o.registry_dir + "/" + own_name;
  UniqueFd own(::open(own_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!own) return SysError("open " + own_path);
  if (::flock(own.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return SysError("flock " + own_path);
    auto other = ReadFd(own.get(), own_path);
    auto l = other.ok() ? ParseEntry(*other, own_path) : Result<LiveRange>(other.error());
    return MakeError(ErrorCode::kFailedPrecondition,
                     "state dir " + o.state_dir + " is in use by the running sandboxd pid " +
                         (l.ok() ? std::to_string(l->pid) : std::string("?")) + " (" +
                         own_path + ")");
  }

  // From here on the file is ours: a refusal removes it.
  ScopeExit drop([&own_path] { ::unlink(own_path.c_str()); });
  ChooseInput in;
  in.requested = o.requested;
  in.auto_count = static_cast<uint64_t>(o.slots) * kIdsPerSlot;
  in.owner = OwnerNames(o.owner);
  in.subuid_path = o.subuid_path;
  in.subgid_path = o.subgid_path;
  ASSIGN_OR_RETURN(in.subuid, ReadSubidFile(o.subuid_path));
  ASSIGN_OR_RETURN(in.subgid, ReadSubidFile(o.subgid_path));
  in.recorded_path = o.state_dir + "/id-range";
  ASSIGN_OR_RETURN(in.recorded, ReadRecord(in.recorded_path));
  in.has_sandboxes = o.has_sandboxes;
  ASSIGN_OR_RETURN(in.live, ListLive(o.registry_dir, own_name));
  ASSIGN_OR_RETURN(Choice choice, Choose(in));

  std::string entry = "pid=" + std::to_string(::getpid()) + "\nstate_dir=" + o.state_dir +
                      "\nrange=" + choice.range.ToString() + "\n";
  if (::ftruncate(own.get(), 0) != 0) return SysError("truncate " + own_path);
  if (::pwrite(own.get(), entry.data(), entry.size(), 0) != static_cast<ssize_t>(entry.size()))
    return SysError("write " + own_path);
  if (!in.recorded || !(*in.recorded == choice.range))
    RETURN_IF_ERROR(WriteFileAtomic(in.recorded_path, choice.range.ToString() + "\n", 0600));
  drop.Dismiss();
  return std::make_unique<Lease>(std::move(choice), std::move(own), own_path);
}

}  // namespace sbx::idrange
