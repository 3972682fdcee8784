// Cgroup drivers: one small interface, a cgroup v1 driver (memory, cpu, cpuacct, pids and
// freezer hierarchies) and a cgroup v2 driver (unified hierarchy). The daemon's cgroups live
// below the daemon's own cgroup, in a directory named after the daemon instance, never at the
// root of a hierarchy.
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

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;
  virtual const char* Name() const = 0;  // "v1" or "v2"
  // Creates the cgroup of sandbox `id` with the limits: memory (and swap = 0 extra),
  // CPU quota (cpus * period), pids.max.
  virtual Result<void> Create(const std::string& id, const spec::Limits& limits) = 0;
  // The cgroup.procs files a new process must be written into to join the sandbox's cgroup.
  virtual std::vector<std::string> ProcsFiles(const std::string& id) const = 0;
  virtual Result<void> AddProcess(const std::string& id, pid_t pid) = 0;
  virtual Result<CgroupStats> Stats(const std::string& id) const = 0;
  // Kills every task (freezer/cgroup.kill where available) and waits, bounded, until empty.
  virtual Result<void> KillAll(const std::string& id) = 0;
  // Removes the cgroup in every hierarchy; succeeds if it is already gone.
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
