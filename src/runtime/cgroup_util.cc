// Control-file reading and cgroup directory handling shared by the v1 and v2 drivers.
#include "runtime/cgroup_util.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <sstream>

#include "common/util.h"
#include "runtime/fs_util.h"

namespace sbx::runtime::cgroup_util {
namespace {

int64_t ParseValue(const std::string& s, bool* ok) {
  std::string t = Trim(s);
  *ok = true;
  if (t == "max") return 0;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0') {
    *ok = false;
    return 0;
  }
  if (errno == ERANGE || v >= (int64_t{1} << 62)) return 0;  // v1's "unlimited"
  return v;
}

}  // namespace

Result<std::string> Read(const std::string& path) { return ReadFile(path); }

Result<int64_t> ReadInt(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  bool ok = false;
  int64_t v = ParseValue(text, &ok);
  if (!ok)
    return MakeError(ErrorCode::kInternal, "not a number in " + path + ": '" + Trim(text) + "'");
  return v;
}

Result<int64_t> ReadKey(const std::string& path, const std::string& key) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::istringstream in(text);
  std::string k, v;
  while (in >> k >> v) {
    if (k != key) continue;
    bool ok = false;
    int64_t n = ParseValue(v, &ok);
    if (!ok) return MakeError(ErrorCode::kInternal, "bad value of " + key + " in " + path);
    return n;
  }
  return int64_t{0};
}

Result<std::vector<pid_t>> ReadProcs(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::istringstream in(text);
  std::vector<pid_t> pids;
  long p;
  while (in >> p) pids.push_back(static_cast<pid_t>(p));
  return pids;
}

Result<std::vector<pid_t>> ReadProcsTree(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<pid_t> pids, ReadProcs(dir + "/cgroup.procs"));
  ASSIGN_OR_RETURN(std::vector<std::string> children, ListDirs(dir));
  for (const std::string& c : children) {
    auto sub = ReadProcsTree(dir + "/" + c);
    if (!sub.ok()) {
      if (sub.error().sys_errno == ENOENT) continue;  // removed meanwhile
      return sub.error();
    }
    pids.insert(pids.end(), sub->begin(), sub->end());
  }
  return pids;
}

Result<std::vector<std::string>> ListDirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return SysError("opendir " + dir);
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    std::string p = dir + "/" + n;
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Result<void> RemoveCgroupDir(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> children, ListDirs(dir));
  for (const std::string& c : children) RETURN_IF_ERROR(RemoveCgroupDir(dir + "/" + c));
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return Ok();
    if (errno != EBUSY || attempt >= 100) return SysError("rmdir cgroup " + dir);
    SleepMs(10);
  }
}

Result<void> Write(const std::string& path, const std::string& value) {
  return WriteControlFile(path, value);
}

Result<void> MkdirIfMissing(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Ok();
  return SysError("mkdir cgroup " + path);
}

Result<void> Delegate(const std::vector<std::string>& paths, uid_t uid, gid_t gid) {
  for (const std::string& p : paths) {
    if (::chown(p.c_str(), uid, gid) != 0)
      return SysError("chown " + p + " to " + std::to_string(uid) + ":" + std::to_string(gid));
  }
  return Ok();
}

Result<void> CheckId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char ch : id) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) ok = false;
  }
  if (!ok) return MakeError(ErrorCode::kInvalidArgument, "bad cgroup id '" + id + "'");
  return Ok();
}

void SleepMs(int ms) {
  struct timespec ts {
    ms / 1000, (ms % 1000) * 1000000L
  };
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace sbx::runtime::cgroup_util
