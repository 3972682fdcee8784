// The child set-up script: everything the sandbox init does between clone3 and exec, in order.
// Raw system calls on pre-formatted data only (see child_setup.h for why).
#include "runtime/child_setup.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <iterator>

#include "runtime/seccomp.h"
#include "runtime/syscalls.h"

namespace sbx::runtime {
namespace {

// Reports {step, err, arg} on the error pipe and exits. The pipe is ours alone; a short
// write cannot happen for 12 bytes (< PIPE_BUF).
[[noreturn]] void Fail(int error_fd, ChildStep step, int err, int arg = 0) {
  ChildError rec;
  rec.step = static_cast<int32_t>(step);
  rec.err = err;
  rec.arg = arg;
  ssize_t n;
  do {
    n = ::write(error_fd, &rec, sizeof rec);
  } while (n < 0 && errno == EINTR);
  ::_exit(127);
}

// 0 on success, else errno.
int Sys(long rc) { return rc == 0 ? 0 : errno; }

// Mounts with errno capture; `data` may be null.
int Mount(const char* src, const char* target, const char* type, unsigned long flags,
          const char* data) {
  return Sys(::mount(src, target, type, flags, data));
}

int MkdirIfMissing(const char* path, mode_t mode) {
  if (::mkdir(path, mode) == 0 || errno == EEXIST) return 0;
  return errno;
}

// Kernel layout of struct sigaction for rt_sigaction(2).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// The daemon's handlers and blocked signals must not leak into the sandbox; ignored signals
// would survive exec.
int ResetSignals() {
  KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));  // EINVAL: unsettable
  }
  uint64_t empty = 0;
  return Sys(::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof empty));
}

int WaitForGo(int go_fd) {
  char c;
  ssize_t n;
  do {
    n = ::read(go_fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) return 0;
  return n == 0 ? ECANCELED : errno;  // EOF: the parent gave up on us
}

int LoopbackUp() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof ifr);
  std::memcpy(ifr.ifr_name, "lo", 3);
  int err = Sys(::ioctl(fd, SIOCGIFFLAGS, &ifr));
  if (err == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    err = Sys(::ioctl(fd, SIOCSIFFLAGS, &ifr));
  }
  ::close(fd);
  return err;
}

// /dev: a small tmpfs with the harmless host nodes bound in, the usual links, a private devpts
// instance and /dev/shm. Relative paths: the cwd is the new root.
int SetUpDev(ChildStep* step, int* arg) {
  *step = ChildStep::kMountDev;
  int err = MkdirIfMissing("dev", 0755);
  if (err == 0) {
    err = Mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME,
                "mode=0755,size=64k,nr_inodes=64");
  }
  if (err != 0) return err;
  *step = ChildStep::kDevNode;
  for (int i = 0; i < static_cast<int>(std::size(kDevNodes)); ++i) {
    *arg = i;
    int fd = ::open(kDevNodes[i].path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return errno;
    ::close(fd);
    err = Mount(kDevNodes[i].host, kDevNodes[i].path, nullptr, MS_BIND, nullptr);
    if (err != 0) return err;
  }
  *step = ChildStep::kDevSymlink;
  for (int i = 0; i < static_cast<int>(std::size(kDevLinks)); ++i) {
    *arg = i;
    if (::symlink(kDevLinks[i].target, kDevLinks[i].path) != 0) return errno;
  }
  *arg = 0;
  *step = ChildStep::kMountDevpts;
  err = MkdirIfMissing("dev/pts", 0755);
  if (err == 0) {
    err = Mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5");
  }
  if (err != 0) return err;
  *step = ChildStep::kMountShm;
  err = MkdirIfMissing("dev/shm", 01777);
  if (err == 0) err = Mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  return err;
}

// Fds of the agent: 0 = /dev/null, 1 and 2 = log, 3 = listening socket (inherited across
// exec), 4 = error pipe and 5 = agent binary (both close-on-exec), 6... = the delegated cgroup
// directories (inherited); everything else closed. Sources are first moved above kHighFd so
// that no dup2 clobbers a source still needed.
constexpr int kHighFd = 16;
int ArrangeFds(const ChildPlan& p, int* error_fd) {
  int log = p.log_fd >= 0 ? p.log_fd : p.null_fd;
  int hi_null = ::fcntl(p.null_fd, F_DUPFD_CLOEXEC, kHighFd);
  int hi_log = ::fcntl(log, F_DUPFD_CLOEXEC, kHighFd);
  int hi_err = ::fcntl(p.error_fd, F_DUPFD_CLOEXEC, kHighFd);
  int hi_exe = ::fcntl(p.exe_fd, F_DUPFD_CLOEXEC, kHighFd);
  int hi_listen = p.listen_fd >= 0 ? ::fcntl(p.listen_fd, F_DUPFD_CLOEXEC, kHighFd) : -2;
  if (hi_null < 0 || hi_log < 0 || hi_err < 0 || hi_exe < 0 || hi_listen == -1) return errno;
  int hi_cgroup[8];
  if (p.n_cgroup_fds > static_cast<int>(std::size(hi_cgroup))) return EINVAL;
  for (int i = 0; i < p.n_cgroup_fds; ++i) {
    hi_cgroup[i] = ::fcntl(p.cgroup_fds[i], F_DUPFD_CLOEXEC, kHighFd);
    if (hi_cgroup[i] < 0) return errno;
  }
  *error_fd = hi_err;
  if (::dup3(hi_err, 4, O_CLOEXEC) < 0) return errno;
  *error_fd = 4;
  if (::dup3(hi_exe, 5, O_CLOEXEC) < 0) return errno;
  if (::dup2(hi_null, 0) < 0 || ::dup2(hi_log, 1) < 0 || ::dup2(hi_log, 2) < 0) return errno;
  if (hi_listen >= 0) {
    if (::dup2(hi_listen, 3) < 0 || ::fcntl(3, F_SETFD, 0) != 0) return errno;
  } else {
    ::close(3);
  }
  for (int i = 0; i < p.n_cgroup_fds; ++i) {
    if (::dup2(hi_cgroup[i], 6 + i) < 0) return errno;  // dup2 clears close-on-exec
  }
  return 0;
}

}  // namespace

[[noreturn]] void RunChildSetup(const ChildPlan& p) {
  int efd = p.error_fd;
  auto check = [&efd](ChildStep step, int err, int arg = 0) {
    if (err != 0) Fail(efd, step, err, arg);
  };
  ChildStep step = ChildStep::kNone;
  int arg = 0;

  check(ChildStep::kResetSignals, ResetSignals());
  // The parent writes our id maps and cgroup membership, then says go.
  check(ChildStep::kWaitGo, WaitForGo(p.go_fd));
  check(ChildStep::kUnshareCgroup, Sys(sys::Unshare(CLONE_NEWCGROUP)));
  // Mounts: nothing propagates back to the host; the root becomes an unlocked mount of ours.
  check(ChildStep::kMakeRootPrivate, Mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
  if (p.new_net) check(ChildStep::kLoopbackUp, LoopbackUp());
  // Still with the daemon's (unmapped) uid: it owns the 0700 directories above the root.
  check(ChildStep::kBindRoot, Mount(p.root_dir, p.root_dir, nullptr, MS_BIND | MS_REC, nullptr));
  check(ChildStep::kChdirRoot, Sys(::chdir(p.root_dir)));
  check(ChildStep::kSetGid, Sys(sys::SetResGid(0, 0, 0)));
  check(ChildStep::kSetGroups, Sys(sys::SetGroups(0, nullptr)));
  check(ChildStep::kSetUid, Sys(sys::SetResUid(0, 0, 0)));
  check(ChildStep::kMountProc, MkdirIfMissing("proc", 0555));
  check(ChildStep::kMountProc,
        Mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  int err = SetUpDev(&step, &arg);
  check(step, err, arg);
  check(ChildStep::kSetHostname, Sys(::syscall(SYS_sethostname, p.hostname, p.hostname_len)));
  check(ChildStep::kPivotRoot, Sys(sys::PivotRoot(".", ".")));
  check(ChildStep::kUmountOldRoot, Sys(::umount2(".", MNT_DETACH)));
  check(ChildStep::kChdirSlash, Sys(::chdir("/")));
  // /tmp is the upper layer's own directory: it survives stop. No tmpfs over it.
  for (int i = 0; i < p.n_rlimits; ++i) {
    check(ChildStep::kRlimit,
          Sys(::syscall(SYS_prlimit64, 0, p.rlimits[i].resource, &p.rlimits[i].value, nullptr)), i);
  }
  check(ChildStep::kDupFds, ArrangeFds(p, &efd));
  check(ChildStep::kCloseFds, Sys(sys::CloseRange(6 + p.n_cgroup_fds, ~0U, 0)));
  CapsStep caps_step = CapsStep::kNone;
  err = ApplyCaps(p.caps, &caps_step);
  if (err != 0) {
    Fail(efd,
         caps_step == CapsStep::kBoundingDrop ? ChildStep::kCapsBounding
         : caps_step == CapsStep::kCapset     ? ChildStep::kCapset
                                              : ChildStep::kCapsAmbient,
         err);
  }
  check(ChildStep::kNoNewPrivs, Sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
  check(ChildStep::kSeccomp, InstallSeccompProgram(p.seccomp));  // last: it may deny the above
  sys::Execveat(5, "", p.argv, p.envp, AT_EMPTY_PATH);
  Fail(efd, ChildStep::kExec, errno);
}

}  // namespace sbx::runtime
