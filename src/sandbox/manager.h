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
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agentclient/agent_client.h"
#include "common/result.h"
#include "runtime/cgroup.h"
#include "runtime/runtime.h"
#include "sandbox/agent_logs.h"
#include "sandbox/executions.h"
#include "spec/spec.h"
#include "store/store.h"
#include "templates/builder.h"
#include "templates/store.h"

namespace sbx::sandbox {

struct ManagerOptions {
  std::string state_dir;              // owned by the daemon, mode 0700
  std::string agent_path;             // the static sbx-agent binary
  spec::TemplatesConfig templates;
  std::string default_template = "python";
  size_t output_cap_bytes = 1 << 20;  // per stream, per execution
  int supervise_interval_ms = 250;    // how often lifetimes and dead inits are checked
  templates::BuildOptions build;      // mirror, pip index, npm registry for template builds
  // Host ids of the sandboxes (the daemon acquires them, src/idrange): slot s maps uid and gid
  // 0..65535 to id_base + s * 65536; id_slots slots.
  uint32_t id_base = 0x10000000;
  int64_t id_slots = 1024;
  double startup_timeout_s = 120;     // per `startup` command of a template
  // Each sandbox's writable layer on a file system of its own, of the template's `disk` size
  // and `inodes` count (runtime/disk.h); false: on the state directory's file system, unlimited.
  bool disk_quota = true;
  // Monitoring hooks (the daemon maps them to src/monitor's metrics); each may be empty and
  // must be cheap. on_create: template, "ok" or the error code name, seconds. on_exec:
  // language, ExecResult status, seconds. on_removed: a sandbox was deleted.
  std::function<void(const std::string&, const std::string&, double)> on_create;
  std::function<void(const std::string&, const std::string&, double)> on_exec;
  std::function<void(const std::string&)> on_removed;
  // Sandbox events for the event bus (docs/events.md), called without the manager's locks:
  // sandbox_created, execution_started, execution_complete / execution_failed, on_timeout
  // (lifetime expired), on_cleanup (removed). Must not call back into the manager.
  std::function<void(const std::string& type, const std::string& sandbox_id,
                     const std::string& tenant, nlohmann::json data)>
      on_event;
};

// A template as the API shows it: its definition and the state of its root filesystem.
struct TemplateView {
  spec::Template definition;
  bool host = false;          // baseImage "host": runs on the host base, nothing to build
  std::string wanted_hash;    // the hash of the definition as it is now ("" for host)
  std::optional<templates::VersionInfo> current;  // the built version serving new sandboxes
  // Built, and built from the definition as it is now.
  bool up_to_date() const { return host || (current && current->hash == wanted_hash); }
};

// What the API shows of a sandbox.
struct SandboxView {
  store::SandboxRecord record;
  nlohmann::json ToJson() const;
};

// What Resume did: resumed is false when the sandbox was already running (E2B's connect
// answers 200 then, 201 when it resumed it).
struct ResumeOutcome {
  SandboxView view;
  bool resumed = false;
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

// The stdin of an execution: `data` is written once the process starts, then stdin is closed
// unless keep_open (input then comes from SendExecutionInput). With neither, stdin is
// /dev/null, so a program that reads it sees end-of-file at once.
struct ExecStdin {
  std::optional<std::string> data;
  bool keep_open = false;
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

  // `tenant`: whose sandbox it is (the API key's tenant; "" for the administrator). Required of
  // every caller, so that no path (a lifecycle, a workflow) can create a sandbox that its
  // tenant cannot see and that escapes the tenant's caps.
  Result<SandboxView> Create(const spec::SandboxSpec& spec, const std::string& request_id,
                             const std::string& tenant);
  Result<SandboxView> Get(const std::string& id);
  Result<std::vector<SandboxView>> List();
  // Exec is StartExec and waiting for the end.
  Result<ExecOutcome> Exec(const std::string& id, const spec::ExecRequest& request,
                           const std::string& request_id);
  // Executions (exec.cc, executions.h): StartExec runs the code on a thread of its own and
  // returns at once; the Execution streams its output to watchers and keeps it for
  // re-streaming for a while after the end. Every execution is recorded in history when it
  // starts (status "running") and when it ends, whoever watches it. It ends by itself, at its
  // timeout, when killed, or when its sandbox stops.
  Result<std::shared_ptr<Execution>> StartExec(const std::string& id,
                                               const spec::ExecRequest& request,
                                               const ExecStdin& stdin_spec,
                                               const std::string& request_id);
  // An execution kept in memory (running, or finished recently), or nullptr.
  std::shared_ptr<Execution> FindExecution(const std::string& execution_id) {
    return executions_.Find(execution_id);
  }
  // The history row of an execution (nullopt: none).
  Result<std::optional<store::ExecutionRecord>> LoadExecution(const std::string& execution_id) {
    return store_->GetExecution(execution_id);
  }
  // Sends SIGKILL (9) or SIGTERM (15) to a running execution's process group. kNotFound for an
  // unknown id, kFailedPrecondition when it has finished.
  Result<void> KillExecution(const std::string& execution_id, int sig,
                             const std::string& request_id);
  // Writes `data` to the stdin of a running execution, then closes it when `eof`.
  Result<void> SendExecutionInput(const std::string& execution_id, const std::string& data,
                                  bool eof);
  // Runs argv directly (no interpreter), with req's env, cwd, user and timeout; recorded in
  // history with language "argv". Used by the benchmarks and startup commands.
  Result<ExecOutcome> ExecArgv(const std::string& id, std::vector<std::string> argv,
                               const spec::ExecRequest& req, const std::string& request_id);
  Result<SandboxView> Stop(const std::string& id, const std::string& reason,
                           const std::string& request_id);
  Result<void> Remove(const std::string& id, const std::string& request_id);
  // Sets the remaining lifetime of a running sandbox to `seconds` from now (E2B's
  // POST /sandboxes/{id}/timeout): `timeout` becomes seconds and `expires_at` now + seconds,
  // stored, so a restarted daemon keeps it. kFailedPrecondition when not running.
  Result<SandboxView> SetTimeout(const std::string& id, int64_t seconds,
                                 const std::string& request_id);

  // Pause and resume (pause.cc). Pause freezes every process of a running sandbox (cgroup
  // freezer, the agent included), keeps its memory and files, stops its lifetime clock and
  // records state "paused" and paused_at. kAlreadyExists (409) when already paused,
  // kFailedPrecondition (409) naming the state when not running, kDeadlineExceeded when the
  // kernel could not freeze every task in time (the sandbox is left running).
  Result<SandboxView> Pause(const std::string& id, const std::string& request_id);
  // Thaws a paused sandbox: expires_at moves forward by the time it was paused and, when
  // extend_timeout_s > 0, to at least now + extend_timeout_s (never shorter). A sandbox paused
  // because its lifetime ended gets its timeout again when extend_timeout_s is 0. Already
  // running: resumed = false, nothing changes. kFailedPrecondition for any other state.
  Result<ResumeOutcome> Resume(const std::string& id, int64_t extend_timeout_s,
                               const std::string& request_id);

  // `mode`: permission bits (0-0777) the agent gives the file; none: its default (0644).
  Result<FileResult> WriteFile(const std::string& id, const std::string& path,
                               const std::string& data, const std::string& user,
                               std::optional<uint32_t> mode = std::nullopt);
  // Opens a file for reading through the agent: its size first, then its content in pieces
  // (agentclient::FileStream), so a download never holds the whole file.
  Result<std::unique_ptr<agentclient::FileStream>> OpenFile(const std::string& id,
                                                            const std::string& path,
                                                            const std::string& user);
  // filesystem.Filesystem/<method> (Stat, ListDir, MakeDir) in a running sandbox as `user`:
  // the agent's response JSON. Paths are resolved by the agent inside the sandbox. For the
  // batch file routes (fs_calls.cc).
  Result<nlohmann::json> FilesystemCall(const std::string& id, const std::string& method,
                                        const nlohmann::json& body, const std::string& user);

  // Most recent executions first; all sandboxes when sandbox_id is empty.
  Result<std::vector<store::ExecutionRecord>> History(const std::string& sandbox_id, int limit) {
    return store_->ListExecutions(sandbox_id, limit);
  }
  Result<std::vector<store::ExecutionRecord>> History(const store::ExecutionFilter& filter) {
    return store_->ListExecutions(filter);
  }

  // The templates.json in force. A reference stays valid for the manager's whole life (a
  // reload installs a new config and keeps the old ones).
  const spec::TemplatesConfig& templates() const { return *templates_.load(); }
  // Installs a new templates.json (SIGHUP): new creates and builds use it; running sandboxes
  // keep what they were created with. Refused when the default template would be missing.
  Result<void> ReloadTemplates(spec::TemplatesConfig config);

  // Templates (template_layer.cc). Build runs on the calling thread and reports progress
  // through `progress`; builds of one template are serialised, a failed build leaves the
  // previous version serving. Remove deletes the built versions of a template (its definition
  // stays); kFailedPrecondition while a sandbox uses one.
  Result<std::vector<TemplateView>> ListTemplates();
  Result<TemplateView> GetTemplate(const std::string& name);
  Result<templates::BuildResult> BuildTemplate(const std::string& name,
                                               const templates::ProgressFn& progress, bool force);
  Result<void> RemoveTemplate(const std::string& name);
  const runtime::CgroupDriver& cgroups() const { return *cgroups_; }
  size_t RunningCount();

  // For the resource monitor (monitor_targets.cc). Both read only the in-memory map and skip
  // (or count as "creating") a sandbox whose mutex is busy, so they never wait on a create,
  // stop or remove in progress.
  struct MonitorTarget {
    std::string id;
    std::string tenant;
    std::string upper_dir;  // <state>/sandboxes/<id>/upper
    double cpus = 1;
    int64_t memory_limit_bytes = 0;
    std::optional<runtime::DiskStats> disk;  // its own file system (nullopt: no disk quota)
    int64_t started_at_ms = 0;
    std::optional<runtime::CgroupStats> stats;  // nullopt: could not be read
  };
  std::vector<MonitorTarget> MonitorTargets();  // running sandboxes
  // For the E2B gateway (gateway_targets.cc): what it needs to route and authorise a request
  // to a sandbox. Read under the sandbox's lock; nullopt for an unknown (or malformed) id.
  struct GatewayTarget {
    std::string id;
    std::string state;
    std::string tenant;
    int64_t created_at_ms = 0;
    std::string agent_socket;  // the agent's unix socket (host side)
    bool public_traffic = true;  // false: its ports need E2B's traffic access token
    bool auto_resume = false;    // a request to it while paused resumes it (E2B's autoResume)
  };
  std::optional<GatewayTarget> FindGatewayTarget(const std::string& id);
  std::vector<GatewayTarget> RunningGatewayTargets();  // skips sandboxes whose lock is busy
  std::map<std::string, int64_t> StateCounts();  // sandboxes by state

 private:
  struct Live;

  // Create without the on_create observation around it.
  Result<SandboxView> CreateUnobserved(const spec::SandboxSpec& spec, const std::string& request_id,
                                       const std::string& tenant);

  Result<std::shared_ptr<Live>> Find(const std::string& id);
  Result<std::shared_ptr<Live>> FindRunning(const std::string& id);
  // kFailedPrecondition naming the state and why, unless running; live.mu held.
  static Result<void> CheckRunningLocked(const Live& live);
  std::string SandboxDir(const std::string& id) const;
  std::string SocketPath(int64_t slot) const;
  // exec.cc: starts argv as an execution (the thread runs RunJob).
  struct ExecJob;
  Result<std::shared_ptr<Execution>> StartJob(const std::string& id,
                                              std::vector<std::string> argv,
                                              const spec::ExecRequest& req,
                                              const std::string& language,
                                              const ExecStdin& stdin_spec,
                                              const std::string& request_id,
                                              const std::string& code_file);
  void RunJob(const std::shared_ptr<Execution>& ex, const ExecJob& job);
  Result<void> Launch(Live& live, const spec::Template& tpl, const spec::SandboxSpec& spec);
  // The template's limits as this daemon applies them (no disk quota with --disk-quota off).
  spec::Limits LimitsOf(const spec::Template& tpl) const;
  std::string DiskBlankDir() const { return options_.state_dir + "/disk-blanks"; }
  // The lower layer of a new sandbox: the host base (with its /usr bind) for "host" templates,
  // else the template's current built version, pinned by a lease stored in `live`.
  Result<void> ChooseLowerLayer(Live& live, const spec::Template& tpl, std::string* lower_dir,
                                std::vector<runtime::BindMount>* binds);
  // Runs the template's `startup` commands in the new sandbox (before it is reported ready).
  Result<void> RunStartup(Live& live, const spec::Template& tpl);
  // Writes <sandbox_dir>/lower ("name/version", nothing for the host base) for RepinLowerLayer.
  Result<void> RecordLowerLayer(const Live& live, const std::string& sandbox_dir);
  // After a restart: pins the template version a kept sandbox was created on.
  void RepinLowerLayer(Live& live);
  // After a restart: adopts the recorded init (pid + start time) and checks its agent (a
  // paused one's is frozen: it is kept frozen instead, and not asked anything).
  Result<void> Reattach(Live& live);
  // pause.cc: freezes a running sandbox and records it paused; live.mu held.
  Result<void> PauseLocked(Live& live, const std::string& request_id);
  // kFailedPrecondition (PausedError) when the sandbox is paused (for the calls that reach a
  // running execution's agent without FindRunning); Ok for anything else.
  Result<void> CheckNotPaused(const std::string& sandbox_id);
  // Tears down the running parts (processes, cgroup, mounts, socket) of a sandbox; keeps files.
  void TearDownLocked(Live& live);
  // Tears down and records the sandbox stopped with `reason`; live.mu held by the caller.
  Result<void> StopLocked(Live& live, const std::string& reason, const std::string& request_id);
  void Supervise();
  void ReconcileAtStart();

  ManagerOptions options_;
  store::Store* store_;
  std::unique_ptr<runtime::CgroupDriver> cgroups_;
  std::vector<runtime::BindMount> host_base_binds_;
  std::mutex templates_mu_;  // guards template_configs_ (appends only)
  std::list<spec::TemplatesConfig> template_configs_;
  std::atomic<const spec::TemplatesConfig*> templates_{nullptr};
  std::unique_ptr<templates::TemplateStore> template_store_;
  std::unique_ptr<templates::Builder> builder_;
  std::string host_base_dir_;

  std::mutex mu_;  // guards sandboxes_, used_slots_
  std::map<std::string, std::shared_ptr<Live>> sandboxes_;
  std::set<int64_t> used_slots_;

  std::mutex supervisor_mu_;
  std::condition_variable supervisor_cv_;
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;
  ExecutionRegistry executions_;  // joined in Shutdown, after the sandboxes are gone
  AgentLogs agent_logs_;          // the agents' stdout and stderr, relayed into our log
};

// Maps a Go ProcessState signal string ("signal: killed") to a signal number, 0 if none.
int SignalFromStatus(std::string_view status);

}  // namespace sbx::sandbox
