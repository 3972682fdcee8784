// Cgroup drivers: one small interface, a cgroup v1 driver (memory, cpu, cpuacct, pids and
// freezer hierarchies) and a cgroup v2 driver (unified hierarchy). The daemon's cgroups live
// below the daemon's own cgroup, in a directory named after the daemon instance, never at the
// root of a hierarchy.
//
// A sandbox's cgroup S holds the template's memory and CPU limits and a pids limit of the
// template's `pidsLimit` + kAgentPidsReserve. The user's processes live in S/user (pids.max =
// `pidsLimit`), a directory delegated to the sandbox (owned by its mapped root): the agent
// creates one child S/user/<execution> per process it starts, and the process joins it before
// exec, so whatever it forks, setsid or double fork included, stays in that cgroup until the
// agent kills it. The agent stays in S (v1: tasks may live in inner nodes) or S/agent (v2: no
// internal processes), outside the user's pids budget. Stats read S (hierarchical).
//
// Thread safety: drivers hold no mutable state beyond their paths; calls for different ids
// may run concurrently.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace sbx::runtime {

struct CgroupStats {
  int64_t memory_current = 0;   // bytes
  int64_t memory_peak = 0;      // bytes (max_usage_in_bytes / memory.peak), 0 if unknown
  int64_t memory_limit = 0;     // bytes, 0 if unlimited
  int64_t oom_kills = 0;        // OOM kills in this cgroup so far
  int64_t cpu_usage_ns = 0;     // total CPU time
  int64_t pids_current = 0;
};

// Tasks the agent may use on top of the template's pids limit: its threads (one per
// connection and one output reader per running process: about 2 per execution, and the daemon
// runs at most 128 per sandbox) and each execution's first process, which it forks from its
// own budget before the process moves into the user's cgroup.
inline constexpr int64_t kAgentPidsReserve = 512;

// Who owns the delegated S/user directory: the sandbox's mapped root on the host.
struct CgroupDelegate {
  uid_t uid = 0;
  gid_t gid = 0;
};

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;
  virtual const char* Name() const = 0;  // "v1" or "v2"
  // Creates the cgroup of sandbox `id` with the limits: memory (and swap = 0 extra),
  // CPU quota (cpus * period), pids.max (+ kAgentPidsReserve), and the user's S/user with
  // pids.max = limits.pids_max, its directory owned by `delegate`.
  virtual Result<void> Create(const std::string& id, const spec::Limits& limits,
                              const CgroupDelegate& delegate) = 0;
  // The cgroup.procs files a new process must be written into to join the sandbox's cgroup
  // (the agent's place in it).
  virtual std::vector<std::string> ProcsFiles(const std::string& id) const = 0;
  // The delegated S/user directories (one per hierarchy that nests them): the agent gets them
  // as directory fds and creates its executions' cgroups inside.
  virtual std::vector<std::string> UserDirs(const std::string& id) const = 0;
  // Called once the init runs in ProcsFiles(): v2 now moves it into S/agent and turns the pids
  // controller on for S's children (S could hold no process of its own after that, and the
  // cgroup namespace had to be rooted at S first). A no-op on v1.
  virtual Result<void> AfterLaunch(const std::string& id, const spec::Limits& limits,
                                   pid_t init_pid) = 0;
  virtual Result<void> AddProcess(const std::string& id, pid_t pid) = 0;
  virtual Result<CgroupStats> Stats(const std::string& id) const = 0;
  // Kills every task of S and its descendants (freezer/cgroup.kill where available) and
  // waits, bounded, until empty.
  virtual Result<void> KillAll(const std::string& id) = 0;
  // Freezes every task of S and its descendants (the agent included): v1 freezer.state FROZEN
  // on S (hierarchical), v2 cgroup.freeze. Waits up to timeout_ms for the kernel to report the
  // whole tree frozen; kDeadlineExceeded (the cgroup thawed again) if it does not.
  // kFailedPrecondition when the host has no freezer for sandboxes.
  virtual Result<void> Freeze(const std::string& id, int timeout_ms) = 0;
  // Thaws S and its descendants; succeeds if the cgroup is gone or was not frozen.
  virtual Result<void> Thaw(const std::string& id) = 0;
  // Removes the cgroup and its descendants (deepest first) in every hierarchy; succeeds if
  // it is already gone.
  virtual Result<void> Destroy(const std::string& id) = 0;
  // Ids that have a cgroup now (for recovery and leak checks).
  virtual Result<std::vector<std::string>> List() const = 0;
  // Directories this driver creates sandbox cgroups in (one per hierarchy), for tests.
  virtual std::vector<std::string> BaseDirs() const = 0;
  // Removes the daemon's own instance directories once they hold no sandbox cgroup (at a
  // clean shutdown). Fails, removing nothing of a sandbox, while any sandbox cgroup is left.
  Result<void> RemoveInstance();
};

// Detects the host's cgroup layout from /proc/self/mountinfo and /proc/self/cgroup and
// returns the v2 driver on a unified hierarchy, else the v1 driver. `instance` names the
// daemon's directory below its own cgroup (e.g. "sandboxd-1a2b3c").
Result<std::unique_ptr<CgroupDriver>> MakeCgroupDriver(const std::string& instance);

// Explicit constructors (tests use a fake tree in a temporary directory).
// v2: `base` is the directory that holds the sandboxes' cgroups.
std::unique_ptr<CgroupDriver> MakeCgroupV2Driver(std::string base);
// v1: controller name ("memory", "cpu", "cpuacct", "pids", "freezer") -> base directory in it.
std::unique_ptr<CgroupDriver> MakeCgroupV1Driver(std::map<std::string, std::string> bases);

}  // namespace sbx::runtime
