// Child half of Launch(): the ordered set-up script that runs in the cloned sandbox init
// between clone3 and the exec of the agent.
//
// Rules for this code (docs/error-handling.md): the daemon is multi-threaded, so after clone
// only the calling thread exists and any lock another thread held stays held forever. The
// child therefore never allocates, locks, throws or logs; it makes raw system calls on data
// the parent formatted before clone (ChildPlan), and reports a failure as one ChildError
// record on the error pipe before _exit(127).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>

#include <cstdint>

#include "runtime/caps.h"

namespace sbx::runtime {

// Each step of the script, in order. The parent turns {step, errno, arg} into a message.
enum class ChildStep : int32_t {
  kNone = 0,
  kWaitGo,           // read the "go" byte
  kResetSignals,     // default dispositions, empty mask
  kUnshareCgroup,    // new cgroup namespace rooted at the sandbox's cgroup
  kMakeRootPrivate,  // mount --make-rprivate /
  kLoopbackUp,       // ioctl(SIOCSIFFLAGS, IFF_UP) on lo
  kBindRoot,         // mount --rbind root root (pivot_root refuses a locked mount)
  kChdirRoot,        // chdir root
  kSetGid,           // setresgid(0,0,0)
  kSetGroups,        // setgroups(0)
  kSetUid,           // setresuid(0,0,0)
  kMountProc,        // proc on root/proc
  kMountDev,         // tmpfs on root/dev
  kDevNode,          // create and bind root/dev/<kDevNodes[arg]>
  kDevSymlink,       // root/dev/<kDevLinks[arg].name>
  kMountDevpts,      // devpts on root/dev/pts
  kMountShm,         // tmpfs on root/dev/shm
  kSetHostname,      // sethostname(id)
  kPivotRoot,        // pivot_root(".", ".")
  kUmountOldRoot,    // umount2(".", MNT_DETACH)
  kChdirSlash,       // chdir("/")
  kRlimit,           // setrlimit(arg)
  kDupFds,           // fds 0-5 and the cgroup directories (6...) in place
  kCloseFds,         // close_range(6 + n_cgroup_fds, ~0)
  kCapsBounding,     // PR_CAPBSET_DROP
  kCapset,           // capset
  kCapsAmbient,      // PR_CAP_AMBIENT_CLEAR_ALL
  kNoNewPrivs,       // PR_SET_NO_NEW_PRIVS
  kSeccomp,          // seccomp(SET_MODE_FILTER)
  kExec,             // execveat(agent fd)
};

// The record a failing child writes to the error pipe. EOF without a record = exec happened.
struct ChildError {
  int32_t step = 0;
  int32_t err = 0;
  int32_t arg = 0;  // which device node, link or rlimit
};

// Device nodes bound from the host's /dev into the sandbox's /dev (paths relative to the root).
struct DevNode {
  const char* host;
  const char* path;
};
inline constexpr DevNode kDevNodes[] = {
    {"/dev/null", "dev/null"},     {"/dev/zero", "dev/zero"},       {"/dev/full", "dev/full"},
    {"/dev/random", "dev/random"}, {"/dev/urandom", "dev/urandom"}, {"/dev/tty", "dev/tty"}};
struct DevLink {
  const char* path;
  const char* target;
};
inline constexpr DevLink kDevLinks[] = {{"dev/fd", "/proc/self/fd"},
                                        {"dev/stdin", "/proc/self/fd/0"},
                                        {"dev/stdout", "/proc/self/fd/1"},
                                        {"dev/stderr", "/proc/self/fd/2"},
                                        {"dev/ptmx", "pts/ptmx"}};

struct ChildRlimit {
  int resource;
  struct rlimit value;
};

// Everything the child needs, prepared by the parent. Pointers stay valid in the child: it
// has a copy of the parent's memory.
struct ChildPlan {
  int go_fd = -1;      // read end of the parent's "go" pipe
  int error_fd = -1;   // write end of the error pipe (close-on-exec)
  int exe_fd = -1;     // the agent binary, for execveat(AT_EMPTY_PATH)
  int listen_fd = -1;  // becomes fd 3 (-1: fd 3 stays closed)
  int log_fd = -1;     // becomes fds 1 and 2 (-1: /dev/null)
  int null_fd = -1;    // host /dev/null: fd 0
  const int* cgroup_fds = nullptr;  // become fds 6, 7, ... (inherited across exec)
  int n_cgroup_fds = 0;
  const char* root_dir = nullptr;
  const char* hostname = nullptr;
  size_t hostname_len = 0;
  bool new_net = true;
  const ChildRlimit* rlimits = nullptr;
  int n_rlimits = 0;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const sock_fprog* seccomp = nullptr;
  CapsPlan caps;
};

// Runs the script and execs the agent; never returns.
[[noreturn]] void RunChildSetup(const ChildPlan& plan);

}  // namespace sbx::runtime
