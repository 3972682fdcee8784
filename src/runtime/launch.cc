// Parent half of Launch(): validates and prepares everything before clone (agent fd, argv and
// envp, seccomp program, capabilities, rlimits, pipes), clones the sandbox init into its
// namespaces, writes its id maps and cgroup membership, lets it run the child script
// (child_setup.cc) and turns a failure record into an Error that names the step.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iterator>
#include <string>
#include <vector>

#include "common/scope_exit.h"
#include "common/util.h"
#include "runtime/caps.h"
#include "runtime/child_setup.h"
#include "runtime/fs_util.h"
#include "runtime/runtime.h"
#include "runtime/seccomp.h"
#include "runtime/syscalls.h"

namespace sbx::runtime {
namespace {

// Bound on the child script (mounts, pivot_root, exec); it normally takes a few ms.
constexpr int kChildSetupTimeoutMs = 10000;

// Owns the strings and the NULL-terminated char* array execve wants.
class CStringArray {
 public:
  explicit CStringArray(std::vector<std::string> items) : items_(std::move(items)) {
    for (std::string& s : items_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  char* const* get() const { return ptrs_.data(); }

 private:
  std::vector<std::string> items_;
  std::vector<char*> ptrs_;
};

Result<void> CheckFd(int fd, const char* what) {
  if (fd < 0) return Ok();
  if (::fcntl(fd, F_GETFD) < 0)
    return SysError(std::string("launch: ") + what + " fd " + std::to_string(fd));
  return Ok();
}

// Lower only: hard rlimits cannot be raised without CAP_SYS_RESOURCE.
ChildRlimit LowerLimit(int resource, int64_t want) {
  struct rlimit cur {};
  ::getrlimit(resource, &cur);
  rlim_t v = cur.rlim_max;
  if (want >= 0 && (cur.rlim_max == RLIM_INFINITY || static_cast<rlim_t>(want) < cur.rlim_max)) {
    v = static_cast<rlim_t>(want);
  }
  return ChildRlimit{resource, {v, v}};
}

const char* RlimitName(int resource) {
  switch (resource) {
    case RLIMIT_NOFILE:
      return "RLIMIT_NOFILE";
    case RLIMIT_FSIZE:
      return "RLIMIT_FSIZE";
    case RLIMIT_CORE:
      return "RLIMIT_CORE";
  }
  return "rlimit";
}

// The message for a child's failure record: what was being done, with its arguments.
std::string DescribeChildStep(const ChildError& e, const LaunchConfig& c,
                              const std::vector<ChildRlimit>& rlimits) {
  const std::string& r = c.root_dir;
  switch (static_cast<ChildStep>(e.step)) {
    case ChildStep::kNone:
      break;
    case ChildStep::kWaitGo:
      return "wait for the parent's go";
    case ChildStep::kResetSignals:
      return "reset signal dispositions and mask";
    case ChildStep::kUnshareCgroup:
      return "unshare(CLONE_NEWCGROUP)";
    case ChildStep::kSetGid:
      return "setresgid(0, 0, 0)";
    case ChildStep::kSetGroups:
      return "setgroups(0)";
    case ChildStep::kSetUid:
      return "setresuid(0, 0, 0)";
    case ChildStep::kMakeRootPrivate:
      return "mount --make-rprivate /";
    case ChildStep::kLoopbackUp:
      return "set loopback interface lo up";
    case ChildStep::kBindRoot:
      return "mount --rbind " + r + " on itself";
    case ChildStep::kChdirRoot:
      return "chdir " + r;
    case ChildStep::kMountProc:
      return "mount proc on " + r + "/proc";
    case ChildStep::kMountDev:
      return "mount tmpfs on " + r + "/dev";
    case ChildStep::kDevNode:
      if (e.arg >= 0 && e.arg < static_cast<int>(std::size(kDevNodes))) {
        return std::string("bind ") + kDevNodes[e.arg].host + " on " + r + "/" +
               kDevNodes[e.arg].path;
      }
      return "bind a device node in " + r + "/dev";
    case ChildStep::kDevSymlink:
      if (e.arg >= 0 && e.arg < static_cast<int>(std::size(kDevLinks))) {
        return "symlink " + r + "/" + kDevLinks[e.arg].path + " -> " + kDevLinks[e.arg].target;
      }
      return "symlink in " + r + "/dev";
    case ChildStep::kMountDevpts:
      return "mount devpts on " + r + "/dev/pts";
    case ChildStep::kMountShm:
      return "mount tmpfs on " + r + "/dev/shm";
    case ChildStep::kSetHostname:
      return "sethostname " + c.id;
    case ChildStep::kPivotRoot:
      return "pivot_root to " + r;
    case ChildStep::kUmountOldRoot:
      return "umount the old root";
    case ChildStep::kChdirSlash:
      return "chdir / in the new root";
    case ChildStep::kRlimit:
      if (e.arg >= 0 && e.arg < static_cast<int>(rlimits.size())) {
        return std::string("setrlimit ") + RlimitName(rlimits[e.arg].resource) + " " +
               std::to_string(rlimits[e.arg].value.rlim_max);
      }
      return "setrlimit";
    case ChildStep::kDupFds:
      return "arrange fds 0-" + std::to_string(5 + c.agent_cgroup_fds.size()) + " of the agent";
    case ChildStep::kCloseFds:
      return "close_range(" + std::to_string(6 + c.agent_cgroup_fds.size()) + ", ~0)";
    case ChildStep::kCapsBounding:
      return "drop capabilities from the bounding set";
    case ChildStep::kCapset:
      return "capset (container default capabilities)";
    case ChildStep::kCapsAmbient:
      return "clear ambient capabilities";
    case ChildStep::kNoNewPrivs:
      return "prctl(PR_SET_NO_NEW_PRIVS)";
    case ChildStep::kSeccomp:
      return "install seccomp filter";
    case ChildStep::kExec:
      return "execveat agent " + c.agent_path;
  }
  return "child set-up step " + std::to_string(e.step);
}

Result<void> ValidateConfig(const LaunchConfig& c) {
  if (c.id.empty() || c.id.size() > 64) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "launch: id must be 1-64 characters: '" + c.id + "'");
  }
  if (c.root_dir.empty() || c.root_dir[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument,
                     "launch: root_dir must be absolute: '" + c.root_dir + "'");
  }
  if (c.host_id_base == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "launch: host_id_base 0 would map sandbox root to host root");
  }
  if (c.agent_path.empty() || c.agent_path[0] != '/') {
    return MakeError(ErrorCode::kInvalidArgument,
                     "launch: agent_path must be absolute: '" + c.agent_path + "'");
  }
  if (c.limits.nofile < 16) {
    return MakeError(ErrorCode::kInvalidArgument, "launch: limits.nofile must be >= 16");
  }
  struct stat st;
  if (::stat(c.root_dir.c_str(), &st) != 0) return SysError("launch: stat root " + c.root_dir);
  if (!S_ISDIR(st.st_mode)) return SysError("launch: root " + c.root_dir, ENOTDIR);
  RETURN_IF_ERROR(CheckFd(c.agent_listen_fd, "agent_listen"));
  RETURN_IF_ERROR(CheckFd(c.log_fd, "log"));
  if (c.agent_cgroup_fds.size() > kMaxAgentCgroupFds) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "launch: at most " + std::to_string(kMaxAgentCgroupFds) +
                         " agent cgroup fds, got " + std::to_string(c.agent_cgroup_fds.size()));
  }
  for (int fd : c.agent_cgroup_fds) {
    if (fd < 0) return MakeError(ErrorCode::kInvalidArgument, "launch: negative agent cgroup fd");
    RETURN_IF_ERROR(CheckFd(fd, "agent cgroup"));
  }
  return Ok();
}

// Kills and reaps a child that will not become a sandbox.
void KillAndReap(int pidfd) {
  sys::PidfdSendSignal(pidfd, SIGKILL);
  siginfo_t info;
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0 &&
         errno == EINTR) {
  }
}

int64_t ElapsedUs(int64_t since_ns) { return (MonotonicNs() - since_ns) / 1000; }

}  // namespace

Result<std::unique_ptr<Container>> Launch(const LaunchConfig& c, LaunchTimings* timings) {
  int64_t t_start = MonotonicNs();
  RETURN_IF_ERROR(ValidateConfig(c));

  UniqueFd exe(::open(c.agent_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!exe) return SysError("launch: open agent " + c.agent_path);
  struct stat st;
  if (::fstat(exe.get(), &st) != 0) return SysError("launch: fstat agent " + c.agent_path);
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    return SysError("launch: agent " + c.agent_path + " is not an executable file", EACCES);
  }
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return SysError("launch: open /dev/null");

  size_t slash = c.agent_path.find_last_of('/');
  std::vector<std::string> args = {c.agent_path.substr(slash + 1)};
  args.insert(args.end(), c.agent_args.begin(), c.agent_args.end());
  CStringArray argv(std::move(args));
  CStringArray envp(c.agent_env);

  ASSIGN_OR_RETURN(std::shared_ptr<const SeccompProgram> seccomp, SandboxSeccompProgram());
  ASSIGN_OR_RETURN(CapsPlan caps, PrepareCaps());
  std::vector<ChildRlimit> rlimits = {LowerLimit(RLIMIT_NOFILE, c.limits.nofile),
                                      LowerLimit(RLIMIT_FSIZE, c.limits.file_size_bytes),
                                      LowerLimit(RLIMIT_CORE, 0)};
  std::string id_map = "0 " + std::to_string(c.host_id_base) + " " + std::to_string(kIdRangeSize);

  int go[2], err_pipe[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return SysError("launch: pipe2 (go)");
  UniqueFd go_rd(go[0]), go_wr(go[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return SysError("launch: pipe2 (error)");
  UniqueFd err_rd(err_pipe[0]), err_wr(err_pipe[1]);

  ChildPlan plan;
  plan.go_fd = go_rd.get();
  plan.error_fd = err_wr.get();
  plan.exe_fd = exe.get();
  plan.listen_fd = c.agent_listen_fd;
  plan.log_fd = c.log_fd;
  plan.null_fd = null.get();
  plan.cgroup_fds = c.agent_cgroup_fds.data();
  plan.n_cgroup_fds = static_cast<int>(c.agent_cgroup_fds.size());
  plan.root_dir = c.root_dir.c_str();
  plan.hostname = c.id.data();
  plan.hostname_len = c.id.size();
  plan.new_net = !c.network;
  plan.rlimits = rlimits.data();
  plan.n_rlimits = static_cast<int>(rlimits.size());
  plan.argv = argv.get();
  plan.envp = envp.get();
  plan.seccomp = seccomp->fprog();
  plan.caps = caps;

  uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                   CLONE_PIDFD | (c.network ? 0 : CLONE_NEWNET);
  int pidfd_raw = -1;
  struct clone_args ca {};
  ca.flags = flags;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd_raw);
  ca.exit_signal = SIGCHLD;

  int64_t t_clone = MonotonicNs();
  if (timings) timings->prepare_us = (t_clone - t_start) / 1000;
  // No handler of ours may run in the child before it resets them: block all signals
  // around clone; the child starts with this mask and clears it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = sys::Clone3(&ca);
  if (pid == 0) RunChildSetup(plan);  // never returns
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    return SysError("launch: clone3(NEWUSER|NEWNS|NEWPID|NEWUTS|NEWIPC" +
                        std::string(c.network ? "" : "|NEWNET") + "|PIDFD)",
                    clone_errno);
  }
  UniqueFd pidfd(pidfd_raw);
  go_rd.reset();
  err_wr.reset();
  ScopeExit abort_child([&] { KillAndReap(pidfd.get()); });

  std::string proc = "/proc/" + std::to_string(pid);
  RETURN_IF_ERROR(WriteControlFile(proc + "/uid_map", id_map));
  RETURN_IF_ERROR(WriteControlFile(proc + "/gid_map", id_map));
  for (const std::string& f : c.cgroup_procs_files) {
    RETURN_IF_ERROR(WriteControlFile(f, std::to_string(pid)));
  }
  int64_t t_go = MonotonicNs();
  if (timings) timings->clone_us = (t_go - t_clone) / 1000;
  if (::write(go_wr.get(), "g", 1) != 1) return SysError("launch: write go to the child");
  go_wr.reset();

  ChildError rec;
  size_t got = 0;
  int64_t deadline = t_go + int64_t{kChildSetupTimeoutMs} * 1000000;
  while (got < sizeof rec) {
    int left_ms = static_cast<int>((deadline - MonotonicNs()) / 1000000);
    if (left_ms <= 0) {
      return MakeError(ErrorCode::kDeadlineExceeded,
                       "launch: sandbox set-up did not finish within " +
                           std::to_string(kChildSetupTimeoutMs) + " ms");
    }
    struct pollfd pfd = {err_rd.get(), POLLIN, 0};
    int pr = ::poll(&pfd, 1, left_ms);
    if (pr < 0 && errno != EINTR) return SysError("launch: poll the error pipe");
    if (pr <= 0) continue;
    ssize_t n = ::read(err_rd.get(), reinterpret_cast<char*>(&rec) + got, sizeof rec - got);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return SysError("launch: read the error pipe");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == sizeof rec) {
    std::string what = DescribeChildStep(rec, c, rlimits);
    return SysError("launch " + c.id + ": " + what, rec.err);
  }
  if (got != 0) return MakeError(ErrorCode::kInternal, "launch: truncated child error record");
  // EOF without a record: the close-on-exec write end went away with a successful exec.
  if (timings) timings->child_setup_us = ElapsedUs(t_go);
  abort_child.Dismiss();
  return std::make_unique<Container>(pid, std::move(pidfd));
}

}  // namespace sbx::runtime
