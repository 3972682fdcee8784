// Helpers shared by the cgroup drivers: reading numbers and "key value" lines from control
// files, listing member processes and child cgroups, and removing a cgroup directory.
//
// Thread safety: stateless and reentrant.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sbx::runtime::cgroup_util {

// The whole content of a control file.
Result<std::string> Read(const std::string& path);
// A file holding one integer ("max" and values >= 2^62 read as 0 = unlimited).
Result<int64_t> ReadInt(const std::string& path);
// The value of line "<key> <value>" in a flat-keyed file (memory.events, cpu.stat,
// memory.oom_control); 0 if the key is absent.
Result<int64_t> ReadKey(const std::string& path, const std::string& key);
// The pids in a cgroup.procs file.
Result<std::vector<pid_t>> ReadProcs(const std::string& path);
// The pids in `dir`/cgroup.procs and in those of all its descendant cgroups.
Result<std::vector<pid_t>> ReadProcsTree(const std::string& dir);
// Names of the subdirectories (child cgroups) of `dir`; empty if `dir` does not exist.
Result<std::vector<std::string>> ListDirs(const std::string& dir);
// Removes a cgroup directory and its child cgroups (deepest first), retrying EBUSY for up to
// ~1 s while the kernel finishes tearing down exited tasks. A missing directory is success.
Result<void> RemoveCgroupDir(const std::string& dir);
// Writes `value` to a control file (O_TRUNC, one write); errors name value and path.
Result<void> Write(const std::string& path, const std::string& value);
// mkdir that accepts an existing directory.
Result<void> MkdirIfMissing(const std::string& path);
// Hands cgroup directories and control files to the sandbox's root (chown), as container
// runtimes delegate a subtree: with a directory it may create and remove child cgroups, with
// a cgroup.procs file move processes there; it never gets a limit file.
Result<void> Delegate(const std::vector<std::string>& paths, uid_t uid, gid_t gid);
// Valid sandbox id for a cgroup name: [a-z0-9_]{1,64}. Drivers refuse anything else so an id
// can never name a path outside their base.
Result<void> CheckId(const std::string& id);
// Sleeps for `ms` milliseconds.
void SleepMs(int ms);

}  // namespace sbx::runtime::cgroup_util
