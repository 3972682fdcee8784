// Spawn: fork and exec one user process. The child half is a fixed script that allocates
// nothing: reset signals, join its execution cgroup (writes "0" to each given cgroup.procs,
// so all it forks stays there), setsid, wire stdio (pipes, /dev/null or a PTY as controlling
// terminal), oom_score_adj=1000 (the OOM killer picks user processes before the agent),
// setgroups/setgid/setuid, chdir, exec with a PATH search. A failing step sends
// {step, errno} over a close-on-exec pipe and the parent turns it into an Error.
//
// Thread safety: Spawn may be called from any thread. The caller must make the returned pid
// known to its reaper atomically with the call (ProcessTable holds its lock), since the
// child may exit at once.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "protocol/process_messages.h"

namespace sbx::agent {

struct SpawnSpec {
  std::string cmd;
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "K=V"
  std::string cwd;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool stdin_pipe = false;  // false: /dev/null (ignored with a PTY)
  std::vector<int> cgroup_procs;  // borrowed cgroup.procs fds the child joins before exec
  std::optional<protocol::PtySize> pty;
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd stdin_w;     // pipe mode with stdin_pipe
  UniqueFd stdout_r;    // pipe mode, non-blocking
  UniqueFd stderr_r;    // pipe mode, non-blocking
  UniqueFd pty_master;  // PTY mode, non-blocking; input and output
};

Result<SpawnedProcess> Spawn(const SpawnSpec& spec);

// Sets a PTY's window size.
Result<void> ResizePty(int master_fd, const protocol::PtySize& size);

}  // namespace sbx::agent
