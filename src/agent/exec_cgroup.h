// ExecCgroups: one cgroup per process the agent starts, nested in the user's cgroup that the
// daemon delegates to the sandbox (S/user; docs/architecture.md). The daemon passes S/user as
// directory fds (--cgroup-fd, one per hierarchy: pids and freezer on cgroup v1, the unified
// directory on v2). Before it forks a process, the agent creates <dir>/<name> in each and
// opens its cgroup.procs; the child writes "0" there before exec, so the process and
// everything it ever forks (setsid, double fork, nohup) stay in that cgroup whatever they do
// with sessions and process groups. Kill() ends them all: cgroup.kill where the kernel has it
// (v2), else rounds of freeze, read, SIGKILL, thaw until the cgroup is empty. A cgroup whose
// main process ended normally keeps its background processes (servers started with `&`) and
// is removed once empty (Sweep).
//
// Without cgroup fds (the agent outside a sandbox, unit tests) enabled() is false and callers
// fall back to killing the process's session and group.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sbx::agent {

// What a kill did, for the result the client sees.
struct CgroupKillReport {
  int killed = 0;     // distinct processes that were sent SIGKILL (v2 with cgroup.kill: seen)
  int remaining = 0;  // processes still in the cgroup when we gave up
};

class ExecCgroups {
 public:
  // Takes ownership of the delegated directory fds (may be empty: disabled).
  explicit ExecCgroups(std::vector<int> dir_fds);

  bool enabled() const { return !dirs_.empty(); }

  struct Created {
    std::string name;
    std::vector<UniqueFd> procs;  // <dir>/<name>/cgroup.procs of each hierarchy, for writing
  };
  // Makes a new execution cgroup in every hierarchy (rolled back on failure).
  Result<Created> Create();
  // SIGKILLs every process of cgroup `name` and its descendants until it is empty, bounded in
  // rounds and time (about 2 s).
  CgroupKillReport Kill(const std::string& name);
  // The main process of `name` ended: removes the cgroup now if it is empty, else keeps it
  // for Sweep (its background processes run on).
  void Release(const std::string& name);
  // Removes released cgroups that have become empty.
  void Sweep();
  size_t lingering() const;

 private:
  // Removes <dir>/<name> (descendants first) in every hierarchy; false while populated.
  bool Remove(const std::string& name);

  std::vector<UniqueFd> dirs_;
  mutable std::mutex mu_;
  uint64_t next_ = 0;
  std::set<std::string> lingering_;
};

}  // namespace sbx::agent
