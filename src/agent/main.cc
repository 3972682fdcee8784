// sbx-agent: PID 1 of every sandbox. Serves the envd protocol on an inherited listening unix
// socket, runs user processes and file operations, and does init's duties: reaps every child
// (orphans included), exits cleanly on SIGTERM/SIGINT, ignores SIGPIPE.
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

int Run(int argc, char** argv) {
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
  signal(SIGPIPE, SIG_IGN);
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
    table.SweepCgroups();
  }
}

}  // namespace
}  // namespace sbx::agent

int main(int argc, char** argv) { return sbx::agent::Run(argc, argv); }
