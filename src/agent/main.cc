// sbx-agent: PID 1 of every sandbox. Serves the envd protocol on an inherited listening unix
// socket, runs user processes and file operations, and does init's duties: reaps every child
// (orphans included), exits cleanly on SIGTERM/SIGINT, ignores SIGPIPE.
//
// Guarding itself against the sandbox (docs/security.md, "The agent"): before anything else it
// makes itself not dumpable, so no process of the sandbox, not even its root with the same uid,
// passes the kernel's ptrace access check on it: no /proc/1/{fd,mem,environ,...}, no
// pidfd_getfd of its fds. Its stdout and stderr are a pipe to the daemon; it never waits on
// them (non-blocking; a line that does not fit is dropped and counted) and outlives a reader
// that goes away (SIGPIPE ignored, EPIPE dropped).
//
// Threads: the main thread owns signals (all are blocked everywhere and taken with
// sigtimedwait) and is the reaper; one thread accepts; one per connection; one reader per
// process; one deadline watcher.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "agent/config.h"
#include "agent/http_server.h"
#include "agent/process_table.h"
#include "agent/router.h"
#include "common/log.h"

extern char** environ;

namespace sbx::agent {
namespace {

void ReapAll(ProcessTable& table) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: children left but none exited; -1/ECHILD: none at all
    table.OnChildExit(pid, status);
  }
}

// Our stdout and stderr: when they are a pipe (the daemon's reader), writes must never block
// the agent. A tty or file (a developer running the agent by hand) is left as it is.
void MakeLogNonBlocking() {
  for (int fd : {1, 2}) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) continue;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  }
}

// fs.suid_dumpable = 1 would make the agent dumpable again at its first credential change
// (each file operation switches fsuid). Said once; the host's administrator must fix it.
void WarnIfSuidDumpable() {
  int fd = open("/proc/sys/fs/suid_dumpable", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char c = 0;
  ssize_t n = read(fd, &c, 1);
  close(fd);
  if (n == 1 && c == '1')
    log::Warn("suid_dumpable_is_1", {{"effect", "the agent becomes dumpable after a setfsuid"},
                                     {"fix", "sysctl fs.suid_dumpable=0"}});
}

// Tells the daemon how many lines were dropped since the last report, once they can be
// written again. The report's own failures are not counted as lost lines.
class DropReporter {
 public:
  void Tick() {
    uint64_t lost = log::DroppedLines() - own_;
    if (lost == reported_) return;
    if (log::Write(log::Level::kWarn, "log_lines_dropped",
                   {{"count", lost - reported_}, {"total", lost}})) {
      reported_ = lost;
    } else {
      ++own_;
    }
  }

 private:
  uint64_t reported_ = 0;
  uint64_t own_ = 0;
};

int Run(int argc, char** argv) {
  // First of all, before any thread or child exists: not dumpable (see the top of this file).
  // Without it, refuse to serve rather than run open to the sandbox's root.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    std::fprintf(stderr, "sbx-agent: prctl(PR_SET_DUMPABLE, 0) failed: errno %d\n", errno);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  // the log pipe's reader (the daemon) may go away
  MakeLogNonBlocking();
  log::SetComponent("agent");
  auto cfg = ParseFlags(argc, argv, environ);
  if (!cfg.ok()) {
    std::fprintf(stderr, "sbx-agent: %s\n%s", cfg.error().message.c_str(), Usage().c_str());
    return 2;
  }
  AgentConfig& config = cfg.value();
  log::Level level;
  if (!log::ParseLevel(config.log_level, &level)) {
    std::fprintf(stderr, "sbx-agent: bad --log-level '%s'\n", config.log_level.c_str());
    return 2;
  }
  log::SetLevel(level);

  // User processes must never inherit the listening socket.
  const int lfd = config.listen_fd;
  int accepting = 0;
  socklen_t len = sizeof accepting;
  if (fcntl(lfd, F_SETFD, FD_CLOEXEC) != 0 ||
      getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
    log::Error("bad_listen_fd", {{"fd", lfd}, {"errno", errno}});
    return 2;
  }
  // Nor the delegated cgroup directories.
  for (int fd : config.cgroup_fds) {
    struct stat st;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
      log::Error("bad_cgroup_fd", {{"fd", fd}, {"errno", errno}});
      return 2;
    }
  }

  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created below
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1);  // act as init outside a pid namespace

  ProcessTable table(config.cgroup_fds);
  Router router(config, table);
  std::thread([&] {
    auto r = Serve(lfd, router);
    log::Error("serve_failed", {{"error", r.ok() ? "" : r.error().ToString()}});
    kill(getpid(), SIGTERM);
  }).detach();
  log::Info("agent_started", {{"pid", static_cast<int64_t>(getpid())},
                              {"listen_fd", lfd},
                              {"cgroup_fds", static_cast<int64_t>(config.cgroup_fds.size())},
                              {"default_user", config.default_user}});
  WarnIfSuidDumpable();

  DropReporter drops;
  while (true) {
    timespec timeout{1, 0};
    siginfo_t info{};
    int sig = sigtimedwait(&set, &info, &timeout);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
      log::Info("agent_stopping", {{"signal", sig}});
      table.KillAll();
      ReapAll(table);
      std::fflush(nullptr);
      std::_Exit(0);  // detached threads may be mid-request: do not run destructors
    }
    // SIGCHLD, a timeout (catch-up for coalesced signals) or SIGHUP: reap, and remove the
    // cgroups of executions whose background processes have ended.
    ReapAll(table);
    drops.Tick();
    table.SweepCgroups();
  }
}

}  // namespace
}  // namespace sbx::agent

int main(int argc, char** argv) { return sbx::agent::Run(argc, argv); }
