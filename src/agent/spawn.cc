// fork/exec of user processes: parent half (fds, argv/env arrays, error pipe) and child half.
#include "agent/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sbx::agent {
namespace {

enum ChildStep : int {
  kStepSignals = 1,
  kStepCgroup,
  kStepSetsid,
  kStepStdio,
  kStepPty,
  kStepGroups,
  kStepSetgid,
  kStepSetuid,
  kStepChdir,
  kStepExec,
};

const char* StepName(int step) {
  switch (step) {
    case kStepSignals: return "reset signals";
    case kStepCgroup: return "join the execution cgroup";
    case kStepSetsid: return "setsid";
    case kStepStdio: return "set up stdio";
    case kStepPty: return "open pty";
    case kStepGroups: return "setgroups";
    case kStepSetgid: return "setgid";
    case kStepSetuid: return "setuid";
    case kStepChdir: return "chdir";
    case kStepExec: return "exec";
  }
  return "unknown step";
}

struct ChildError {
  int step;
  int err;
};

[[noreturn]] void ChildFail(int fd, int step) {
  ChildError e{step, errno};
  ssize_t ignored = write(fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

// Everything the child needs, prepared before fork so the child never allocates.
struct ChildPlan {
  std::vector<std::string> candidates;  // executable paths to try in order
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* cwd = nullptr;
  const char* pty_slave = nullptr;
};

std::string EnvValue(const std::vector<std::string>& env, const std::string& key) {
  std::string out;
  for (const auto& kv : env) {
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=') {
      out = kv.substr(key.size() + 1);  // last one wins
    }
  }
  return out;
}

std::vector<std::string> ExecCandidates(const std::string& cmd,
                                        const std::vector<std::string>& env) {
  if (cmd.find('/') != std::string::npos) return {cmd};
  std::string path = EnvValue(env, "PATH");
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    out.push_back(dir + "/" + cmd);
    start = end + 1;
  }
  return out;
}

Result<void> MakePipe(UniqueFd* r, UniqueFd* w) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return SysError("pipe2");
  r->reset(fds[0]);
  w->reset(fds[1]);
  return Ok();
}

Result<void> SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return SysError("fcntl O_NONBLOCK");
  return Ok();
}

void WriteOomScoreAdj() {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: /proc may be absent in a test chroot
  ssize_t ignored = write(fd, "1000", 4);
  (void)ignored;
  close(fd);
}

// The child half. Only async-signal-safe calls from here on.
[[noreturn]] void RunChild(const SpawnSpec& spec, const ChildPlan& plan, int err_fd, int in_fd,
                           int out_fd, int errout_fd) {
  sigset_t all;
  sigemptyset(&all);
  if (sigprocmask(SIG_SETMASK, &all, nullptr) != 0) ChildFail(err_fd, kStepSignals);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  // Before anything else of the child: what it forks from now on is born in the cgroup.
  for (int fd : spec.cgroup_procs) {
    if (write(fd, "0", 1) != 1) ChildFail(err_fd, kStepCgroup);
  }
  if (setsid() < 0) ChildFail(err_fd, kStepSetsid);
  if (plan.pty_slave != nullptr) {
    int slave = open(plan.pty_slave, O_RDWR | O_NOCTTY);
    if (slave < 0) ChildFail(err_fd, kStepPty);
    if (ioctl(slave, TIOCSCTTY, 0) != 0) ChildFail(err_fd, kStepPty);
    for (int target = 0; target < 3; ++target) {
      if (dup2(slave, target) < 0) ChildFail(err_fd, kStepStdio);
    }
    if (slave > 2) close(slave);
  } else {
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(errout_fd, 2) < 0) {
      ChildFail(err_fd, kStepStdio);
    }
  }
  // Nothing but stdio and the error pipe (close-on-exec) may reach the new program.
  syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
  WriteOomScoreAdj();
  if (syscall(SYS_setgroups, spec.groups.size(), spec.groups.data()) != 0) {
    ChildFail(err_fd, kStepGroups);
  }
  if (setresgid(spec.gid, spec.gid, spec.gid) != 0) ChildFail(err_fd, kStepSetgid);
  if (setresuid(spec.uid, spec.uid, spec.uid) != 0) ChildFail(err_fd, kStepSetuid);
  if (chdir(plan.cwd) != 0) ChildFail(err_fd, kStepChdir);
  int exec_errno = ENOENT;
  for (const auto& path : plan.candidates) {
    execve(path.c_str(), plan.argv.data(), plan.envp.data());
    // Like execvp: remember EACCES, keep searching on ENOENT/ENOTDIR, stop on other errors.
    if (errno == EACCES) {
      exec_errno = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      exec_errno = errno;
      break;
    }
  }
  errno = exec_errno;
  ChildFail(err_fd, kStepExec);
}

}  // namespace

Result<SpawnedProcess> Spawn(const SpawnSpec& spec) {
  SpawnedProcess out;
  ChildPlan plan;
  plan.candidates = ExecCandidates(spec.cmd, spec.env);
  for (const auto& a : spec.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  for (const auto& e : spec.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
  plan.envp.push_back(nullptr);
  plan.cwd = spec.cwd.c_str();

  UniqueFd err_r, err_w, in_r, in_w, out_r, out_w, eout_r, eout_w, devnull;
  std::string slave_name;
  RETURN_IF_ERROR(MakePipe(&err_r, &err_w));
  if (spec.pty) {
    out.pty_master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!out.pty_master) return SysError("posix_openpt /dev/ptmx");
    if (grantpt(out.pty_master.get()) != 0 || unlockpt(out.pty_master.get()) != 0) {
      return SysError("unlockpt");
    }
    char name[128];
    if (ptsname_r(out.pty_master.get(), name, sizeof name) != 0) return SysError("ptsname_r");
    slave_name = name;
    plan.pty_slave = slave_name.c_str();
    RETURN_IF_ERROR(ResizePty(out.pty_master.get(), *spec.pty));
  } else {
    if (spec.stdin_pipe) {
      RETURN_IF_ERROR(MakePipe(&in_r, &in_w));
    } else {
      devnull.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!devnull) return SysError("open /dev/null");
    }
    RETURN_IF_ERROR(MakePipe(&out_r, &out_w));
    RETURN_IF_ERROR(MakePipe(&eout_r, &eout_w));
  }
  const int child_in = spec.stdin_pipe ? in_r.get() : devnull.get();
  if (in_w) RETURN_IF_ERROR(SetNonBlocking(in_w.get()));
  if (out_r) RETURN_IF_ERROR(SetNonBlocking(out_r.get()));
  if (eout_r) RETURN_IF_ERROR(SetNonBlocking(eout_r.get()));
  if (out.pty_master) RETURN_IF_ERROR(SetNonBlocking(out.pty_master.get()));

  pid_t pid = fork();
  if (pid < 0) return SysError("fork");
  if (pid == 0) {
    RunChild(spec, plan, err_w.get(), child_in, out_w.get(), eout_w.get());
  }
  err_w.reset();
  in_r.reset();
  out_w.reset();
  eout_w.reset();
  ChildError ce{};
  ssize_t n;
  do {
    n = read(err_r.get(), &ce, sizeof ce);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof ce)) {
    // The child has exited (127); the reaper collects it as an unknown pid.
    Error e = SysError(std::string(StepName(ce.step)) +
                           (ce.step == kStepChdir ? " '" + spec.cwd + "'"
                            : ce.step == kStepExec ? " '" + spec.cmd + "'"
                                                   : std::string()),
                       ce.err);
    if (ce.step == kStepChdir || ce.step == kStepExec) {
      e.code = (ce.err == EACCES || ce.err == EPERM) ? ErrorCode::kPermissionDenied
                                                     : ErrorCode::kInvalidArgument;
    } else {
      e.code = ErrorCode::kInternal;
    }
    return e;
  }
  out.pid = pid;
  out.stdin_w = std::move(in_w);
  out.stdout_r = std::move(out_r);
  out.stderr_r = std::move(eout_r);
  return out;
}

Result<void> ResizePty(int master_fd, const protocol::PtySize& size) {
  struct winsize ws {};
  ws.ws_col = static_cast<unsigned short>(size.cols);
  ws.ws_row = static_cast<unsigned short>(size.rows);
  if (ioctl(master_fd, TIOCSWINSZ, &ws) != 0) return SysError("ioctl TIOCSWINSZ");
  return Ok();
}

}  // namespace sbx::agent
