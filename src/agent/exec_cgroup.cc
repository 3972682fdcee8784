// Execution cgroups: creation, kill rounds and removal, all relative to the delegated
// directory fds (the agent has no path to the host's cgroup file system).
#include "agent/exec_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/util.h"

namespace sbx::agent {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kKillBudget = std::chrono::seconds(2);
constexpr auto kFreezeWait = std::chrono::milliseconds(100);
constexpr int kMaxDepth = 8;  // the agent nests one level; deeper trees are not ours

Result<std::string> ReadAt(int dir, const std::string& rel) {
  UniqueFd fd(::openat(dir, rel.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SysError("open " + rel);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read " + rel);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<void> WriteAt(int dir, const std::string& rel, std::string_view value) {
  UniqueFd fd(::openat(dir, rel.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return SysError("open " + rel);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return SysError("write '" + std::string(value) + "' to " + rel);
  return Ok();
}

bool ExistsAt(int dir, const std::string& rel) {
  return ::faccessat(dir, rel.c_str(), F_OK, AT_EACCESS) == 0;
}

// Names of the child cgroups of <dir>/<rel>.
std::vector<std::string> SubdirsAt(int dir, const std::string& rel) {
  std::vector<std::string> out;
  int fd = ::openat(dir, rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && e->d_type == DT_DIR) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// The pids of <dir>/<rel> and of its descendants.
void CollectPids(int dir, const std::string& rel, int depth, std::vector<pid_t>* out) {
  auto text = ReadAt(dir, rel + "/cgroup.procs");
  if (text.ok()) {
    const char* p = text->c_str();
    while (*p != '\0') {
      char* end = nullptr;
      long v = std::strtol(p, &end, 10);
      if (end == p) break;
      if (v > 0) out->push_back(static_cast<pid_t>(v));
      p = end;
    }
  }
  if (depth >= kMaxDepth) return;
  for (const std::string& c : SubdirsAt(dir, rel)) CollectPids(dir, rel + "/" + c, depth + 1, out);
}

// rmdir of <dir>/<rel>, deepest first. ENOENT counts as removed; false on anything else.
bool RemoveAt(int dir, const std::string& rel, int depth) {
  if (depth < kMaxDepth) {
    for (const std::string& c : SubdirsAt(dir, rel)) {
      if (!RemoveAt(dir, rel + "/" + c, depth + 1)) return false;
    }
  }
  return ::unlinkat(dir, rel.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT;
}

// FROZEN, then wait (bounded) for the kernel to finish freezing. A task in uninterruptible
// sleep keeps it FREEZING; SIGKILL still reaches it when it wakes, so go on regardless.
void Freeze(int dir, const std::string& state) {
  if (!WriteAt(dir, state, "FROZEN").ok()) return;
  auto until = Clock::now() + kFreezeWait;
  while (Clock::now() < until) {
    auto s = ReadAt(dir, state);
    if (!s.ok() || Trim(*s) == "FROZEN") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

ExecCgroups::ExecCgroups(std::vector<int> dir_fds) {
  for (int fd : dir_fds) dirs_.emplace_back(fd);
}

Result<ExecCgroups::Created> ExecCgroups::Create() {
  Created c;
  for (int attempt = 0;; ++attempt) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      c.name = "e" + std::to_string(++next_);
    }
    if (::mkdirat(dirs_.front().get(), c.name.c_str(), 0755) == 0) break;
    if (errno != EEXIST || attempt >= 16) return SysError("mkdir execution cgroup " + c.name);
  }
  auto undo = [&] {
    for (const UniqueFd& d : dirs_) ::unlinkat(d.get(), c.name.c_str(), AT_REMOVEDIR);
  };
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (i > 0 && ::mkdirat(dirs_[i].get(), c.name.c_str(), 0755) != 0 && errno != EEXIST) {
      Error e = SysError("mkdir execution cgroup " + c.name + " (hierarchy " +
                         std::to_string(i) + ")");
      undo();
      return e;
    }
    std::string procs = c.name + "/cgroup.procs";
    UniqueFd fd(::openat(dirs_[i].get(), procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
      Error e = SysError("open " + procs);
      undo();
      return e;
    }
    c.procs.push_back(std::move(fd));
  }
  return c;
}

CgroupKillReport ExecCgroups::Kill(const std::string& name) {
  CgroupKillReport report;
  if (!enabled()) return report;
  const int track = dirs_.front().get();
  int kill_dir = -1, freezer_dir = -1;
  for (const UniqueFd& d : dirs_) {
    if (kill_dir < 0 && ExistsAt(d.get(), name + "/cgroup.kill")) kill_dir = d.get();
    if (freezer_dir < 0 && ExistsAt(d.get(), name + "/freezer.state")) freezer_dir = d.get();
  }
  const std::string state = name + "/freezer.state";
  std::set<pid_t> seen;
  const auto until = Clock::now() + kKillBudget;
  if (kill_dir >= 0) {
    std::vector<pid_t> before;
    CollectPids(track, name, 0, &before);
    seen.insert(before.begin(), before.end());
    if (auto w = WriteAt(kill_dir, name + "/cgroup.kill", "1"); !w.ok())
      log::Warn("cgroup_kill_failed", {{"cgroup", name}, {"error", w.error().ToString()}});
  }
  for (int round = 0;; ++round) {
    if (kill_dir < 0 && freezer_dir >= 0) Freeze(freezer_dir, state);
    std::vector<pid_t> pids;
    CollectPids(track, name, 0, &pids);
    if (kill_dir < 0) {
      // Frozen, nothing of the cgroup can fork or exit meanwhile, so no pid is reused.
      for (pid_t p : pids) {
        ::kill(p, SIGKILL);
        seen.insert(p);
      }
    }
    if (kill_dir < 0 && freezer_dir >= 0) (void)WriteAt(freezer_dir, state, "THAWED");
    if (pids.empty()) break;
    if (Clock::now() >= until) {
      report.remaining = static_cast<int>(pids.size());
      log::Warn("cgroup_kill_incomplete", {{"cgroup", name},
                                           {"remaining", report.remaining},
                                           {"rounds", round + 1}});
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  report.killed = static_cast<int>(seen.size());
  return report;
}

bool ExecCgroups::Remove(const std::string& name) {
  bool all = true;
  for (const UniqueFd& d : dirs_) all = RemoveAt(d.get(), name, 0) && all;
  return all;
}

void ExecCgroups::Release(const std::string& name) {
  if (!enabled() || Remove(name)) return;
  std::lock_guard<std::mutex> lk(mu_);
  lingering_.insert(name);
}

void ExecCgroups::Sweep() {
  if (!enabled()) return;
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> lk(mu_);
    names = lingering_;
  }
  for (const std::string& n : names) {
    if (!Remove(n)) continue;
    std::lock_guard<std::mutex> lk(mu_);
    lingering_.erase(n);
  }
}

size_t ExecCgroups::lingering() const {
  std::lock_guard<std::mutex> lk(mu_);
  return lingering_.size();
}

}  // namespace sbx::agent
