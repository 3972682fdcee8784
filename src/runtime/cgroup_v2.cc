// cgroup v2 driver: <base>/<id> in the unified hierarchy, with memory, cpu and pids enabled
// for the sandboxes through cgroup.subtree_control of the daemon's cgroup and of <base>.
// Inside S: S/agent (the init, moved there by AfterLaunch once its cgroup namespace is rooted
// at S) and S/user (pids.max = the template's limit, delegated: the agent nests its
// executions there). v2 checks a migration against the cgroup.procs of the common ancestor,
// so S's cgroup.procs is delegated too. Kills with cgroup.kill (Linux 5.14+), else by
// freezing and signalling.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common/scope_exit.h"
#include "common/util.h"
#include "runtime/cgroup.h"
#include "runtime/cgroup_util.h"
#include "runtime/fs_util.h"

namespace sbx::runtime {
namespace {

namespace cu = cgroup_util;

constexpr int64_t kCpuPeriodUs = 100000;
constexpr int kKillTimeoutMs = 2000;
constexpr int kFreezeTimeoutMs = 500;
constexpr const char* kControllers[] = {"memory", "cpu", "pids"};

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// Enables our controllers for the children of `dir` (those `dir` itself has).
Result<void> EnableControllers(const std::string& dir) {
  std::vector<std::string> available;
  if (PathExists(dir + "/cgroup.controllers")) {
    ASSIGN_OR_RETURN(std::string text, cu::Read(dir + "/cgroup.controllers"));
    available = Words(text);
  } else {
    available.assign(std::begin(kControllers), std::end(kControllers));
  }
  std::string control = dir + "/cgroup.subtree_control";
  ASSIGN_OR_RETURN(std::string enabled_text, cu::Read(control));
  std::vector<std::string> enabled = Words(enabled_text);
  std::string request;
  for (const char* c : kControllers) {
    bool have = std::find(available.begin(), available.end(), c) != available.end();
    bool on = std::find(enabled.begin(), enabled.end(), c) != enabled.end();
    if (!have && std::string(c) != "cpu") {
      return MakeError(ErrorCode::kFailedPrecondition,
                       std::string("cgroup v2 controller '") + c + "' is not available in " + dir);
    }
    if (have && !on) request += std::string(request.empty() ? "" : " ") + "+" + c;
  }
  if (request.empty()) return Ok();
  auto r = cu::Write(control, request);
  if (!r.ok() && r.error().sys_errno == EBUSY) {
    Error e = r.error();
    e.message +=
        " (the cgroup has processes of its own; run the daemon in a leaf cgroup, e.g. "
        "systemd Delegate=yes with the daemon in a sub-cgroup)";
    return e;
  }
  return r;
}

class CgroupV2Driver : public CgroupDriver {
 public:
  explicit CgroupV2Driver(std::string base) : base_(std::move(base)) {}

  const char* Name() const override { return "v2"; }

  Result<void> Create(const std::string& id, const spec::Limits& limits,
                      const CgroupDelegate& delegate) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    // The daemon's cgroup hands the controllers to <base>, which hands them to the sandboxes.
    RETURN_IF_ERROR(EnableControllers(base_.substr(0, base_.find_last_of('/'))));
    RETURN_IF_ERROR(cu::MkdirIfMissing(base_));
    RETURN_IF_ERROR(EnableControllers(base_));
    std::string d = Dir(id);
    RETURN_IF_ERROR(cu::MkdirIfMissing(d));
    ScopeExit rollback([&] { (void)Destroy(id); });
    RETURN_IF_ERROR(cu::Write(d + "/memory.max", std::to_string(limits.memory_bytes)));
    if (PathExists(d + "/memory.swap.max")) RETURN_IF_ERROR(cu::Write(d + "/memory.swap.max", "0"));
    if (PathExists(d + "/cpu.max")) {
      std::string quota =
          limits.cpus > 0
              ? std::to_string(std::max<int64_t>(1000, std::llround(limits.cpus * kCpuPeriodUs)))
              : "max";
      RETURN_IF_ERROR(cu::Write(d + "/cpu.max", quota + " " + std::to_string(kCpuPeriodUs)));
    }
    RETURN_IF_ERROR(cu::Write(d + "/pids.max", limits.pids_max > 0
                                                   ? std::to_string(limits.pids_max + kAgentPidsReserve)
                                                   : "max"));
    // Empty children for now: S holds the init until AfterLaunch.
    RETURN_IF_ERROR(cu::MkdirIfMissing(d + "/agent"));
    RETURN_IF_ERROR(cu::MkdirIfMissing(d + "/user"));
    if (PathExists(d + "/user/cgroup.max.depth")) {
      RETURN_IF_ERROR(cu::Write(d + "/user/cgroup.max.depth", "2"));
      // Each execution cgroup the agent keeps holds a process of the user's budget.
      if (limits.pids_max > 0)
        RETURN_IF_ERROR(cu::Write(d + "/user/cgroup.max.descendants",
                                  std::to_string(limits.pids_max + kAgentPidsReserve)));
    }
    RETURN_IF_ERROR(
        cu::Delegate({d + "/user", d + "/cgroup.procs"}, delegate.uid, delegate.gid));
    rollback.Dismiss();
    return Ok();
  }

  std::vector<std::string> ProcsFiles(const std::string& id) const override {
    return {Dir(id) + "/cgroup.procs"};
  }

  std::vector<std::string> UserDirs(const std::string& id) const override {
    return {Dir(id) + "/user"};
  }

  Result<void> AfterLaunch(const std::string& id, const spec::Limits& limits,
                           pid_t init_pid) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    std::string d = Dir(id);
    RETURN_IF_ERROR(cu::Write(d + "/agent/cgroup.procs", std::to_string(init_pid)));
    RETURN_IF_ERROR(cu::Write(d + "/cgroup.subtree_control", "+pids"));
    return cu::Write(d + "/user/pids.max",
                     limits.pids_max > 0 ? std::to_string(limits.pids_max) : "max");
  }

  Result<void> AddProcess(const std::string& id, pid_t pid) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    return cu::Write(Dir(id) + "/cgroup.procs", std::to_string(pid));
  }

  Result<CgroupStats> Stats(const std::string& id) const override {
    RETURN_IF_ERROR(cu::CheckId(id));
    std::string d = Dir(id);
    CgroupStats s;
    ASSIGN_OR_RETURN(s.memory_current, cu::ReadInt(d + "/memory.current"));
    if (PathExists(d + "/memory.peak")) {
      ASSIGN_OR_RETURN(s.memory_peak, cu::ReadInt(d + "/memory.peak"));
    }
    ASSIGN_OR_RETURN(s.memory_limit, cu::ReadInt(d + "/memory.max"));
    ASSIGN_OR_RETURN(s.oom_kills, cu::ReadKey(d + "/memory.events", "oom_kill"));
    ASSIGN_OR_RETURN(int64_t usage_us, cu::ReadKey(d + "/cpu.stat", "usage_usec"));
    s.cpu_usage_ns = usage_us * 1000;
    ASSIGN_OR_RETURN(s.pids_current, cu::ReadInt(d + "/pids.current"));
    return s;
  }

  Result<void> KillAll(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    std::string d = Dir(id);
    if (!PathExists(d)) return Ok();
    bool has_kill = PathExists(d + "/cgroup.kill");
    if (has_kill) RETURN_IF_ERROR(cu::Write(d + "/cgroup.kill", "1"));
    for (int waited = 0;; waited += 10) {
      if (!has_kill) RETURN_IF_ERROR(Freeze(d));
      auto pids = cu::ReadProcsTree(d);  // S/agent, S/user/... too
      if (pids.ok() && !has_kill) {
        for (pid_t p : *pids) ::kill(p, SIGKILL);
      }
      if (!has_kill) RETURN_IF_ERROR(cu::Write(d + "/cgroup.freeze", "0"));
      if (!pids.ok()) return pids.error();
      if (pids->empty()) return Ok();
      if (waited >= kKillTimeoutMs) {
        return MakeError(ErrorCode::kDeadlineExceeded,
                         "cgroup " + id + ": " + std::to_string(pids->size()) +
                             " tasks still alive " + std::to_string(kKillTimeoutMs) +
                             " ms after SIGKILL (" + d + ")");
      }
      cu::SleepMs(10);
    }
  }

  Result<void> Freeze(const std::string& id, int timeout_ms) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    std::string d = Dir(id);
    RETURN_IF_ERROR(cu::Write(d + "/cgroup.freeze", "1"));
    for (int waited = 0; waited <= timeout_ms; ++waited) {
      ASSIGN_OR_RETURN(int64_t frozen, cu::ReadKey(d + "/cgroup.events", "frozen"));
      if (frozen == 1) return Ok();
      cu::SleepMs(1);
    }
    (void)cu::Write(d + "/cgroup.freeze", "0");
    return MakeError(ErrorCode::kDeadlineExceeded,
                     "cgroup " + id + ": not every task froze within " +
                         std::to_string(timeout_ms) + " ms (" + d + ")");
  }

  Result<void> Thaw(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    std::string d = Dir(id);
    if (!PathExists(d + "/cgroup.freeze")) return Ok();
    return cu::Write(d + "/cgroup.freeze", "0");
  }

  Result<void> Destroy(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    return cu::RemoveCgroupDir(Dir(id));
  }

  Result<std::vector<std::string>> List() const override { return cu::ListDirs(base_); }

  std::vector<std::string> BaseDirs() const override { return {base_}; }

 private:
  std::string Dir(const std::string& id) const { return base_ + "/" + id; }

  static Result<void> Freeze(const std::string& dir) {
    RETURN_IF_ERROR(cu::Write(dir + "/cgroup.freeze", "1"));
    for (int waited = 0; waited < kFreezeTimeoutMs; ++waited) {
      ASSIGN_OR_RETURN(int64_t frozen, cu::ReadKey(dir + "/cgroup.events", "frozen"));
      if (frozen == 1) return Ok();
      cu::SleepMs(1);
    }
    return Ok();  // tasks in uninterruptible sleep: SIGKILL reaches them when they wake
  }

  std::string base_;
};

}  // namespace

std::unique_ptr<CgroupDriver> MakeCgroupV2Driver(std::string base) {
  return std::make_unique<CgroupV2Driver>(std::move(base));
}

}  // namespace sbx::runtime
