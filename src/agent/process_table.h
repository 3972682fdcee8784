// ProcessTable: the agent's processes by pid. Starts processes (holding its lock across fork
// so the reaper can never see an unregistered pid), receives exit statuses from the reaper
// (statuses of unknown pids, i.e. orphans re-parented to the agent, are discarded), keeps the
// last kMaxEnded ended processes for late Connects, and enforces per-process deadlines with
// one watcher thread that SIGKILLs everything the process started: every process of its
// execution cgroup (ExecCgroups), or without cgroups its group and every process of its
// session.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/exec_cgroup.h"
#include "agent/process.h"
#include "agent/spawn.h"
#include "common/result.h"
#include "protocol/process_messages.h"

namespace sbx::agent {

class ProcessTable {
 public:
  static constexpr size_t kMaxEnded = 256;

  struct StartParams {
    SpawnSpec spawn;
    protocol::ProcessConfig config;  // as requested, for List
    std::optional<std::string> tag;
    std::optional<Process::Clock::time_point> deadline;
  };
  struct Started {
    std::shared_ptr<Process> process;
    int subscription;  // from the very first output byte
  };

  // `cgroup_fds`: the delegated cgroup directories (owned from now on; empty: no cgroups).
  explicit ProcessTable(std::vector<int> cgroup_fds);
  ~ProcessTable();
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  Result<Started> Start(StartParams params);
  // Running processes first; ended ones only when include_ended.
  std::shared_ptr<Process> Find(const protocol::ProcessSelector& selector, bool include_ended);
  std::vector<std::shared_ptr<Process>> ListRunning();
  // From the reaper.
  void OnChildExit(pid_t pid, int wait_status);
  // SIGKILLs every running process tree (shutdown).
  void KillAll();
  // SIGKILLs everything `p` started (its cgroup, else its session and group) and says what
  // happened, for the client ("killed the 3 processes of its cgroup").
  std::string KillProcess(const Process& p);
  // Removes the execution cgroups of ended processes whose background processes are gone.
  void SweepCgroups() { cgroups_.Sweep(); }

  // SIGKILL to the process group `sid` and to every process whose session id is `sid`.
  static void KillTree(pid_t sid);

 private:
  void DeadlineLoop();

  ExecCgroups cgroups_;
  std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Process>> running_;
  std::deque<std::shared_ptr<Process>> ended_;
  std::multimap<Process::Clock::time_point, std::weak_ptr<Process>> deadlines_;
  std::condition_variable deadline_cv_;
  bool stop_ = false;
  std::thread deadline_thread_;
};

}  // namespace sbx::agent
