// Process registry, reaper hand-off, deadlines and process-tree kills.
#include "agent/process_table.h"

#include <dirent.h>
#include <signal.h>

#include <cstdlib>

#include "common/log.h"
#include "common/util.h"

namespace sbx::agent {
namespace {

// The session id (field 6) of /proc/<pid>/stat, or -1.
pid_t SessionOf(const char* pid) {
  auto stat = ReadFile(std::string("/proc/") + pid + "/stat");
  if (!stat.ok()) return -1;
  const std::string& s = stat.value();
  size_t close = s.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return -1;
  // After ") ": state ppid pgrp session
  int field = 0;
  size_t i = close + 2;
  while (i < s.size() && field < 3) {
    if (s[i] == ' ') ++field;
    ++i;
  }
  if (field < 3) return -1;
  return static_cast<pid_t>(std::strtol(s.c_str() + i, nullptr, 10));
}

}  // namespace

ProcessTable::ProcessTable(std::vector<int> cgroup_fds)
    : cgroups_(std::move(cgroup_fds)), deadline_thread_([this] { DeadlineLoop(); }) {}

ProcessTable::~ProcessTable() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  deadline_cv_.notify_all();
  deadline_thread_.join();
}

Result<ProcessTable::Started> ProcessTable::Start(StartParams params) {
  std::string cgroup;
  std::vector<UniqueFd> procs;  // closed once the child has joined (or failed)
  if (cgroups_.enabled()) {
    cgroups_.Sweep();
    ASSIGN_OR_RETURN(ExecCgroups::Created c, cgroups_.Create());
    cgroup = std::move(c.name);
    procs = std::move(c.procs);
    for (const UniqueFd& fd : procs) params.spawn.cgroup_procs.push_back(fd.get());
  }
  std::unique_lock<std::mutex> lk(mu_);
  auto spawned_or = Spawn(params.spawn);
  if (!spawned_or.ok()) {
    lk.unlock();
    if (!cgroup.empty()) cgroups_.Release(cgroup);
    return std::move(spawned_or).error();
  }
  SpawnedProcess spawned = std::move(spawned_or).value();
  auto proc = std::make_shared<Process>(std::move(params.config), std::move(params.tag),
                                        std::move(spawned), cgroup);
  const int sub = proc->Subscribe(/*from_start=*/true);
  running_[proc->pid()] = proc;
  if (params.deadline) {
    deadlines_.emplace(*params.deadline, proc);
    deadline_cv_.notify_all();
  }
  lk.unlock();
  auto reader = proc->StartReader();
  if (!reader.ok()) {
    KillProcess(*proc);  // the reaper will finish the entry
    proc->Unsubscribe(sub);
    return std::move(reader).error();
  }
  return Started{std::move(proc), sub};
}

std::shared_ptr<Process> ProcessTable::Find(const protocol::ProcessSelector& sel,
                                            bool include_ended) {
  std::lock_guard<std::mutex> lk(mu_);
  auto matches = [&](const std::shared_ptr<Process>& p) {
    if (sel.pid) return p->pid() == *sel.pid;
    return sel.tag && p->tag() == sel.tag;
  };
  for (const auto& [pid, p] : running_) {
    if (matches(p)) return p;
  }
  if (include_ended) {
    for (auto it = ended_.rbegin(); it != ended_.rend(); ++it) {
      if (matches(*it)) return *it;
    }
  }
  return nullptr;
}

std::vector<std::shared_ptr<Process>> ProcessTable::ListRunning() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<std::shared_ptr<Process>> out;
  for (const auto& [pid, p] : running_) out.push_back(p);
  return out;
}

void ProcessTable::OnChildExit(pid_t pid, int wait_status) {
  std::shared_ptr<Process> proc;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = running_.find(static_cast<uint32_t>(pid));
    if (it == running_.end()) {
      log::Debug("orphan_reaped", {{"pid", static_cast<int64_t>(pid)}});
      return;
    }
    proc = it->second;
    running_.erase(it);
    ended_.push_back(proc);
    if (ended_.size() > kMaxEnded) ended_.pop_front();
  }
  const auto end = protocol::EndInfoFromWaitStatus(wait_status);
  log::Info("process_exited", {{"pid", static_cast<int64_t>(pid)}, {"status", end.status}});
  proc->OnExit(wait_status);
  // Its background processes, if any, keep the cgroup until they end.
  if (!proc->cgroup().empty()) cgroups_.Release(proc->cgroup());
}

void ProcessTable::KillAll() {
  for (const auto& p : ListRunning()) KillProcess(*p);
}

std::string ProcessTable::KillProcess(const Process& p) {
  if (p.cgroup().empty()) {
    KillTree(static_cast<pid_t>(p.pid()));
    return "killed its session and process group (no execution cgroup: processes that left "
           "both may survive)";
  }
  CgroupKillReport r = cgroups_.Kill(p.cgroup());
  std::string out = "killed all " + std::to_string(r.killed) + " processes of its cgroup";
  if (r.remaining > 0) {
    out = "killed " + std::to_string(r.killed) + " processes of its cgroup, but " +
          std::to_string(r.remaining) + " were still alive 2 s after SIGKILL";
  }
  return out;
}

void ProcessTable::KillTree(pid_t sid) {
  if (sid <= 1) return;
  kill(-sid, SIGKILL);
  // Members that changed process group stay in the session; repeat while new ones appear.
  for (int pass = 0; pass < 8; ++pass) {
    DIR* dir = opendir("/proc");
    if (dir == nullptr) return;
    int found = 0;
    while (dirent* de = readdir(dir)) {
      if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
      if (SessionOf(de->d_name) == sid) {
        kill(static_cast<pid_t>(std::strtol(de->d_name, nullptr, 10)), SIGKILL);
        ++found;
      }
    }
    closedir(dir);
    if (found == 0) return;
  }
}

void ProcessTable::DeadlineLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    if (deadlines_.empty()) {
      deadline_cv_.wait(lk);
      continue;
    }
    auto first = deadlines_.begin();
    if (Process::Clock::now() < first->first) {
      deadline_cv_.wait_until(lk, first->first);
      continue;
    }
    std::shared_ptr<Process> proc = first->second.lock();
    deadlines_.erase(first);
    if (!proc || proc->exited()) continue;
    proc->BeginDeadlineKill();
    lk.unlock();
    std::string report = KillProcess(*proc);
    log::Info("process_deadline_kill", {{"pid", proc->pid()}, {"how", report}});
    proc->EndDeadlineKill(std::move(report));
    lk.lock();
  }
}

}  // namespace sbx::agent
