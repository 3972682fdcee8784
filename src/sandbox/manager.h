// sandbox: the decisions. SandboxManager owns the sandboxes of one daemon: their state machine
// (creating -> running -> stopped -> removed, plus error), the orchestration of create, exec,
// file transfer, stop and cleanup over the runtime (kernel side), the store (what survives a
// crash) and the agent client (what runs inside).
//
// Thread safety: every public method may be called from any thread. A global mutex guards the
// map of sandboxes and the id-range slots; each sandbox has its own mutex that serialises its
// state transitions (create, stop, remove). Executions and file transfers do not hold it while
// they run, so a sandbox serves many of them at once, and stop interrupts them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agentclient/agent_client.h"
#include "common/result.h"
#include "runtime/cgroup.h"
#include "runtime/runtime.h"
#include "spec/spec.h"
#include "store/store.h"

namespace sbx::sandbox {

struct ManagerOptions {
  std::string state_dir;              // owned by the daemon, mode 0700
  std::string agent_path;             // the static sbx-agent binary
  spec::TemplatesConfig templates;
  std::string default_template = "python";
  size_t output_cap_bytes = 1 << 20;  // per stream, per execution
  int supervise_interval_ms = 250;    // how often lifetimes and dead inits are checked
};

// What the API shows of a sandbox.
struct SandboxView {
  store::SandboxRecord record;
  nlohmann::json ToJson() const;
};

struct FileResult {
  std::string path;
  int64_t size = 0;
  std::string sha256;
};

struct ExecOutcome {
  std::string execution_id;
  spec::ExecResult result;
};

class SandboxManager {
 public:
  SandboxManager(ManagerOptions options, store::Store* store,
                 std::unique_ptr<runtime::CgroupDriver> cgroups);
  ~SandboxManager();
  SandboxManager(const SandboxManager&) = delete;
  SandboxManager& operator=(const SandboxManager&) = delete;

  // Builds the host base layer, reconciles the database with what is really there (leftover
  // mounts, cgroups, processes and directories of a previous run are removed; sandboxes that
  // were running are marked stopped with the reason) and starts the supervisor.
  Result<void> Start();
  // Removes every sandbox (processes, mounts, cgroups, directories) and stops the supervisor.
  void Shutdown();

  Result<SandboxView> Create(const spec::SandboxSpec& spec, const std::string& request_id);
  Result<SandboxView> Get(const std::string& id);
  Result<std::vector<SandboxView>> List();
  Result<ExecOutcome> Exec(const std::string& id, const spec::ExecRequest& request,
                           const std::string& request_id);
  // Runs argv directly (no interpreter), with req's env, cwd, user and timeout; recorded in
  // history with language "argv". Used by the benchmarks and startup commands.
  Result<ExecOutcome> ExecArgv(const std::string& id, std::vector<std::string> argv,
                               const spec::ExecRequest& req, const std::string& request_id);
  Result<SandboxView> Stop(const std::string& id, const std::string& reason,
                           const std::string& request_id);
  Result<void> Remove(const std::string& id, const std::string& request_id);

  Result<FileResult> WriteFile(const std::string& id, const std::string& path,
                               const std::string& data, const std::string& user);
  Result<std::string> ReadFile(const std::string& id, const std::string& path,
                               const std::string& user);

  // Most recent executions first; all sandboxes when sandbox_id is empty.
  Result<std::vector<store::ExecutionRecord>> History(const std::string& sandbox_id, int limit) {
    return store_->ListExecutions(sandbox_id, limit);
  }

  const spec::TemplatesConfig& templates() const { return options_.templates; }
  const runtime::CgroupDriver& cgroups() const { return *cgroups_; }
  size_t RunningCount();

 private:
  struct Live;

  Result<std::shared_ptr<Live>> Find(const std::string& id);
  Result<std::shared_ptr<Live>> FindRunning(const std::string& id);
  std::string SandboxDir(const std::string& id) const;
  std::string SocketPath(int64_t slot) const;
  Result<ExecOutcome> Run(const std::string& id, std::vector<std::string> argv,
                          const spec::ExecRequest& req, const std::string& language,
                          const std::string& request_id);
  Result<void> Launch(Live& live, const spec::Template& tpl, const spec::SandboxSpec& spec);
  // Tears down the running parts (processes, cgroup, mounts, socket) of a sandbox; keeps files.
  void TearDownLocked(Live& live);
  void Supervise();
  void ReconcileAtStart();

  ManagerOptions options_;
  store::Store* store_;
  std::unique_ptr<runtime::CgroupDriver> cgroups_;
  std::vector<runtime::BindMount> host_base_binds_;
  std::string host_base_dir_;

  std::mutex mu_;  // guards sandboxes_, used_slots_
  std::map<std::string, std::shared_ptr<Live>> sandboxes_;
  std::set<int64_t> used_slots_;

  std::mutex supervisor_mu_;
  std::condition_variable supervisor_cv_;
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;
};

// sha256 of data, lowercase hex.
std::string Sha256Hex(std::string_view data);
// Maps a Go ProcessState signal string ("signal: killed") to a signal number, 0 if none.
int SignalFromStatus(std::string_view status);

}  // namespace sbx::sandbox
