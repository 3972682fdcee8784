// runtime: the Linux-specific half of a sandbox. Everything that touches namespaces, mounts,
// cgroups, seccomp and capabilities lives in this folder and nowhere else.
//
// Contract with the daemon (sandbox component):
//   1. PrepareRootfs() mounts the overlay root of a sandbox on the host side (as real root),
//      under <sandbox_dir>/root, with the read-only binds the template needs.
//   2. The CgroupDriver creates the sandbox's cgroup below the daemon's own cgroup.
//   3. Launch() clones the sandbox init (sbx-agent) into fresh namespaces, enters it into the
//      cgroup before it runs any code of its own, and execs the agent with the listening
//      socket as fd 3. Anything that can fail because of input fails here, before clone.
//   4. Stop: KillAll in the cgroup (or kill the init: the pid namespace dies with it), reap,
//      Destroy the cgroup, ReleaseRootfs (unmount, keep the upper layer) or RemoveSandboxDir.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/disk.h"
#include "spec/spec.h"

namespace sbx::runtime {

// Host ids of the sandbox's id range: sandbox uid/gid 0 is host uid/gid `host_base`, and the
// range is kIdRangeSize long. Each sandbox gets its own range.
inline constexpr uint32_t kIdRangeSize = 65536;
inline constexpr uint32_t kSandboxUserUid = 1000;  // "user", home /home/user

struct BindMount {
  std::string host_path;     // absolute host path
  std::string sandbox_path;  // absolute path inside the sandbox
  bool read_only = true;
};

struct RootfsConfig {
  std::string sandbox_dir;  // <state>/sandboxes/<id>; upper/, work/, root/ live here
  std::string lower_dir;    // the template's root filesystem (read-only, shared)
  std::vector<BindMount> binds;
  uint32_t host_id_base = 0;
  // With a quota, upper/ and work/ live on the sandbox's own file system mounted at
  // <sandbox_dir>/disk (disk.h); blank images are kept in disk_blank_dir.
  DiskQuota disk;
  std::string disk_blank_dir;
};

// Creates upper/ and work/ (kept across stop; on the sandbox's disk when it has a quota),
// /home/user owned by the sandbox user, and mounts overlay(lower, upper) at <sandbox_dir>/root
// plus the binds (nosuid, nodev, ro). Idempotent with respect to existing upper content (a
// stopped sandbox keeps its files).
Result<void> PrepareRootfs(const RootfsConfig& config);
// Unmounts everything under <sandbox_dir>/root (lazy where busy), then the sandbox's disk if
// mounted. Keeps upper/ (and the disk image).
Result<void> ReleaseRootfs(const std::string& sandbox_dir);
// ReleaseRootfs, then removes <sandbox_dir> entirely (without following symlinks).
Result<void> RemoveSandboxDir(const std::string& sandbox_dir);

// Makes `dir` a private mount point, bind-mounting it onto itself if it is not one yet, so the
// sandboxes' mounts below it never propagate to other mount namespaces of the host (where `/`
// is a shared mount). Idempotent. RemovePrivateMountPoint undoes it.
Result<void> MakePrivateMountPoint(const std::string& dir);
Result<void> RemovePrivateMountPoint(const std::string& dir);

// Builds the "host base" lower layer at `dir` if absent: empty /usr, /bin -> usr/bin and the
// other merged-usr links, a minimal generated /etc (passwd with root, user (1000) and nobody,
// group, hosts, hostname, nsswitch.conf, profile, ld.so.cache and alternatives copied from
// the host), /home/user, /tmp, /proc, /dev, /root. Never the host's /root, /home, /var, /run.
// Returns the binds that complete it (host /usr read-only at /usr).
Result<std::vector<BindMount>> EnsureHostBaseRootfs(const std::string& dir);

inline constexpr int kFirstAgentCgroupFd = 6;
inline constexpr size_t kMaxAgentCgroupFds = 4;

struct LaunchConfig {
  std::string id;                       // hostname inside the sandbox
  std::string root_dir;                 // <sandbox_dir>/root, prepared by PrepareRootfs
  uint32_t host_id_base = 0;
  spec::Limits limits;
  std::string agent_path;               // host path of the static sbx-agent
  std::vector<std::string> agent_args;  // argv[1..]
  std::vector<std::string> agent_env;   // "K=V"
  int agent_listen_fd = -1;             // borrowed; becomes fd 3 in the agent
  int log_fd = -1;                      // borrowed; becomes fd 1 and 2 of the agent
  // Borrowed; become fds 6, 7, ... of the agent (at most kMaxAgentCgroupFds): the delegated
  // cgroup directories its executions' cgroups are made in (CgroupDriver::UserDirs).
  std::vector<int> agent_cgroup_fds;
  bool network = false;                 // false: a new net namespace with only loopback (up)
  // The parent writes the child's pid into each of these cgroup.procs files after clone and
  // before the child runs anything of its own. Failure aborts the launch.
  std::vector<std::string> cgroup_procs_files;
};

// A launched sandbox init. Owns a pidfd. Not thread-safe; the sandbox layer serialises.
class Container {
 public:
  Container(pid_t pid, UniqueFd pidfd, bool adopted = false)
      : pid_(pid), pidfd_(std::move(pidfd)), adopted_(adopted) {}
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // SIGKILL to the init; the kernel then kills every process of the pid namespace.
  Result<void> Kill();
  // Reaps the init. Blocking when `block`; returns false if it has not exited yet. For an
  // adopted init (not our child) it waits for the exit on the pidfd and reports status 0.
  Result<bool> Reap(bool block, int* wait_status);
  bool adopted() const { return adopted_; }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  bool adopted_ = false;
};

// The kernel's start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot):
// with the pid it names one process for good, across pid reuse.
Result<uint64_t> ProcessStartTime(pid_t pid);

// Takes a handle on the running init of a sandbox launched by an earlier daemon (after a crash
// or kill -9 the inits live on, re-parented). Fails with kNotFound when no process with that
// pid and start time exists any more.
Result<std::unique_ptr<Container>> AdoptContainer(pid_t pid, uint64_t start_time);

// Timing of each set-up step, for the benchmarks (microseconds).
struct LaunchTimings {
  int64_t prepare_us = 0;
  int64_t clone_us = 0;
  int64_t child_setup_us = 0;  // until exec of the agent
};

// Clones the init into new user, mount, pid, net, uts, ipc and cgroup namespaces; writes the
// id maps; writes its pid into every file of `cgroup_procs_files`; then lets it run the
// child set-up script (docs/security.md) and exec the agent. Returns once the agent has been
// exec'd, or with the failing step and errno of the child.
Result<std::unique_ptr<Container>> Launch(const LaunchConfig& config, LaunchTimings* timings);

}  // namespace sbx::runtime
