// cgroup v1 driver: one directory per sandbox in each of the memory, cpu, cpuacct, pids and
// freezer hierarchies (co-mounted controllers share a directory). The agent stays in S (v1
// allows tasks in inner nodes); the user's S/user exists in the pids and freezer hierarchies
// only, where the agent nests its executions' cgroups: memory and CPU are accounted at S for
// everything. Kills by freezing the cgroup first (hierarchically), so that no task can fork or
// exit while we signal the pids we read.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
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

constexpr int64_t kCfsPeriodUs = 100000;
constexpr int kKillTimeoutMs = 2000;
constexpr int kFreezeTimeoutMs = 500;

class CgroupV1Driver : public CgroupDriver {
 public:
  explicit CgroupV1Driver(std::map<std::string, std::string> bases) : bases_(std::move(bases)) {}

  const char* Name() const override { return "v1"; }

  Result<void> Create(const std::string& id, const spec::Limits& limits,
                      const CgroupDelegate& delegate) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    for (const std::string& base : BaseDirs()) RETURN_IF_ERROR(cu::MkdirIfMissing(base));
    ScopeExit rollback([&] { (void)Destroy(id); });
    for (const std::string& base : BaseDirs()) RETURN_IF_ERROR(cu::MkdirIfMissing(base + "/" + id));
    if (Has("memory")) {
      std::string d = Dir("memory", id);
      std::string bytes = std::to_string(limits.memory_bytes);
      RETURN_IF_ERROR(cu::Write(d + "/memory.limit_in_bytes", bytes));
      // memsw = memory + swap: the same value means no swap on top of the limit.
      if (PathExists(d + "/memory.memsw.limit_in_bytes")) {
        RETURN_IF_ERROR(cu::Write(d + "/memory.memsw.limit_in_bytes", bytes));
      }
      (void)cu::Write(d + "/memory.swappiness", "0");  // best effort: not on every kernel
    }
    if (Has("cpu")) {
      std::string d = Dir("cpu", id);
      RETURN_IF_ERROR(cu::Write(d + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs)));
      int64_t quota =
          limits.cpus > 0 ? std::max<int64_t>(1000, std::llround(limits.cpus * kCfsPeriodUs)) : -1;
      RETURN_IF_ERROR(cu::Write(d + "/cpu.cfs_quota_us", std::to_string(quota)));
    }
    if (Has("pids")) {
      std::string v =
          limits.pids_max > 0 ? std::to_string(limits.pids_max + kAgentPidsReserve) : "max";
      RETURN_IF_ERROR(cu::Write(Dir("pids", id) + "/pids.max", v));
    }
    for (const std::string& user : UserDirs(id)) {
      RETURN_IF_ERROR(cu::MkdirIfMissing(user));
      // Only the directory: the agent's children of it are its own, S/user's files stay root's.
      RETURN_IF_ERROR(cu::Delegate({user}, delegate.uid, delegate.gid));
    }
    if (Has("pids")) {
      std::string v = limits.pids_max > 0 ? std::to_string(limits.pids_max) : "max";
      RETURN_IF_ERROR(cu::Write(Dir("pids", id) + "/user/pids.max", v));
    }
    rollback.Dismiss();
    return Ok();
  }

  std::vector<std::string> UserDirs(const std::string& id) const override {
    std::vector<std::string> out;
    for (const char* c : {"pids", "freezer"}) {
      if (!Has(c)) continue;
      std::string d = Dir(c, id) + "/user";
      if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
    }
    return out;
  }

  Result<void> AfterLaunch(const std::string& id, const spec::Limits&, pid_t) override {
    return cu::CheckId(id);
  }

  std::vector<std::string> ProcsFiles(const std::string& id) const override {
    std::vector<std::string> out;
    for (const std::string& base : BaseDirs()) out.push_back(base + "/" + id + "/cgroup.procs");
    return out;
  }

  Result<void> AddProcess(const std::string& id, pid_t pid) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    for (const std::string& f : ProcsFiles(id)) RETURN_IF_ERROR(cu::Write(f, std::to_string(pid)));
    return Ok();
  }

  Result<CgroupStats> Stats(const std::string& id) const override {
    RETURN_IF_ERROR(cu::CheckId(id));
    CgroupStats s;
    if (Has("memory")) {
      std::string d = Dir("memory", id);
      ASSIGN_OR_RETURN(s.memory_current, cu::ReadInt(d + "/memory.usage_in_bytes"));
      ASSIGN_OR_RETURN(s.memory_peak, cu::ReadInt(d + "/memory.max_usage_in_bytes"));
      ASSIGN_OR_RETURN(s.memory_limit, cu::ReadInt(d + "/memory.limit_in_bytes"));
      ASSIGN_OR_RETURN(s.oom_kills, cu::ReadKey(d + "/memory.oom_control", "oom_kill"));
    }
    if (Has("cpuacct")) {
      ASSIGN_OR_RETURN(s.cpu_usage_ns, cu::ReadInt(Dir("cpuacct", id) + "/cpuacct.usage"));
    }
    if (Has("pids")) {
      ASSIGN_OR_RETURN(s.pids_current, cu::ReadInt(Dir("pids", id) + "/pids.current"));
    }
    return s;
  }

  Result<void> KillAll(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    // S and its descendants in every hierarchy (S/user/<execution> in pids and freezer).
    std::string procs = ProcsFiles(id).front();
    if (!PathExists(procs)) return Ok();
    std::string freezer = Has("freezer") ? Dir("freezer", id) + "/freezer.state" : "";
    // Already empty (the usual case once the init was reaped): no freeze/thaw round trip.
    if (auto first = AllProcs(id); first.ok() && first->empty()) return Ok();
    for (int waited = 0;; waited += 10) {
      // v1's freezer is hierarchical: freezing S freezes S/user/... too.
      if (!freezer.empty()) RETURN_IF_ERROR(Freeze(freezer));
      auto pids = AllProcs(id);
      if (pids.ok()) {
        for (pid_t p : *pids) ::kill(p, SIGKILL);  // frozen: no pid can be reused meanwhile
      }
      if (!freezer.empty()) RETURN_IF_ERROR(cu::Write(freezer, "THAWED"));
      if (!pids.ok()) return pids.error();
      if (pids->empty()) return Ok();
      if (waited >= kKillTimeoutMs) {
        return MakeError(ErrorCode::kDeadlineExceeded,
                         "cgroup " + id + ": " + std::to_string(pids->size()) +
                             " tasks still alive " + std::to_string(kKillTimeoutMs) +
                             " ms after SIGKILL (" + procs + ")");
      }
      cu::SleepMs(10);
    }
  }

  Result<void> Freeze(const std::string& id, int timeout_ms) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    if (!Has("freezer"))
      return MakeError(ErrorCode::kFailedPrecondition,
                       "pause needs the cgroup v1 freezer controller, which is not mounted");
    std::string state_file = Dir("freezer", id) + "/freezer.state";
    RETURN_IF_ERROR(cu::Write(state_file, "FROZEN"));
    for (int waited = 0; waited <= timeout_ms; ++waited) {
      ASSIGN_OR_RETURN(std::string state, cu::Read(state_file));
      if (Trim(state) == "FROZEN") return Ok();
      cu::SleepMs(1);
    }
    (void)cu::Write(state_file, "THAWED");
    return MakeError(ErrorCode::kDeadlineExceeded,
                     "cgroup " + id + ": not every task froze within " +
                         std::to_string(timeout_ms) + " ms (" + state_file + ")");
  }

  Result<void> Thaw(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    if (!Has("freezer")) return Ok();
    std::string state_file = Dir("freezer", id) + "/freezer.state";
    if (!PathExists(state_file)) return Ok();
    return cu::Write(state_file, "THAWED");
  }

  Result<void> Destroy(const std::string& id) override {
    RETURN_IF_ERROR(cu::CheckId(id));
    for (const std::string& base : BaseDirs())
      RETURN_IF_ERROR(cu::RemoveCgroupDir(base + "/" + id));
    return Ok();
  }

  Result<std::vector<std::string>> List() const override {
    std::string base = Has("memory") ? bases_.at("memory") : BaseDirs().front();
    return cu::ListDirs(base);
  }

  std::vector<std::string> BaseDirs() const override {
    std::vector<std::string> out;
    for (const auto& [controller, base] : bases_) {
      if (std::find(out.begin(), out.end(), base) == out.end()) out.push_back(base);
    }
    return out;
  }

 private:
  bool Has(const std::string& controller) const { return bases_.count(controller) != 0; }
  std::string Dir(const std::string& controller, const std::string& id) const {
    return bases_.at(controller) + "/" + id;
  }

  // The tasks of S and of its descendants, in every hierarchy (a task may sit in S in one and
  // in S/user/eN in another), without duplicates.
  Result<std::vector<pid_t>> AllProcs(const std::string& id) const {
    std::vector<pid_t> all;
    for (const std::string& base : BaseDirs()) {
      ASSIGN_OR_RETURN(std::vector<pid_t> pids, cu::ReadProcsTree(base + "/" + id));
      all.insert(all.end(), pids.begin(), pids.end());
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
  }

  // FROZEN, and wait (bounded) until the kernel says every task is frozen.
  static Result<void> Freeze(const std::string& state_file) {
    RETURN_IF_ERROR(cu::Write(state_file, "FROZEN"));
    for (int waited = 0; waited < kFreezeTimeoutMs; waited += 1) {
      ASSIGN_OR_RETURN(std::string state, cu::Read(state_file));
      if (Trim(state) == "FROZEN") return Ok();
      cu::SleepMs(1);
    }
    // A task stuck in an uninterruptible sleep keeps the cgroup FREEZING; SIGKILL still
    // reaches it once it wakes up, so go on.
    return Ok();
  }

  std::map<std::string, std::string> bases_;
};

}  // namespace

std::unique_ptr<CgroupDriver> MakeCgroupV1Driver(std::map<std::string, std::string> bases) {
  return std::make_unique<CgroupV1Driver>(std::move(bases));
}

}  // namespace sbx::runtime
