// LifecycleRunner: runs a LifecycleConfig against the real SandboxManager and records it.
//
// A run: create the sandbox (lifetime = the config's timeout) -> upload the files -> run the
// scripts in order, each up to 1 + max_retries times with retry_delay between attempts ->
// on_completion, on_error or on_timeout -> remove the sandbox if the run failed and
// cleanup_on_error is set (or always, for workflow runs: RunContext::remove_sandbox). The
// overall timeout bounds everything: an attempt gets at most the time that is left. Every
// monitor_interval a monitor thread samples the sandbox's cgroup (memory, CPU, pids), stores the
// samples with the run and publishes on_alert (once per metric and run) when memory or CPU
// crosses the templates' alert thresholds.
//
// Every step publishes an event on the bus (always: they are the run's log, streamed and
// queried); enable_webhooks = false only keeps them from being sent to webhooks. The run record
// (store::LifecycleRunRecord) is written after every attempt, so `status` shows progress.
//
// Thread safety: every public method may be called from any thread. Start() runs each run on a
// thread of its own; Shutdown() (and the destructor) cancel running runs at their next step or
// retry wait and join them. The manager, bus and store must outlive the runner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event_bus.h"
#include "lifecycle/config.h"
#include "sandbox/manager.h"
#include "store/lifecycles.h"
#include "store/store.h"

namespace sbx::lifecycle {

struct RunnerOptions {
  spec::AlertThresholds alerts;         // from templates.json "monitoring"
  size_t output_keep_bytes = 64 << 10;  // stdout/stderr kept per attempt in the run record
  size_t max_samples = 1000;            // monitor samples kept per run (later ones dropped)
};

// Who started a run, for workflows and the record.
struct RunContext {
  std::string tenant;
  std::string workflow_id;  // "" for a plain lifecycle
  std::string workflow_name;
  nlohmann::json trigger = {{"type", "manual"}};
  bool remove_sandbox = false;  // remove the sandbox at the end whatever the outcome
  std::string request_id;
  // Called once the run's sandbox is created (or its create failed): releases the starter's
  // create slot (docs/auth.md, "Concurrency caps"). May be empty.
  std::function<void()> on_created;
};

// The API's view of a run: id, sandbox_id, workflow_id, state, error, sandbox_removed,
// started_at, finished_at, duration_s, trigger, config, scripts (every attempt) and samples.
nlohmann::json RunToJson(const store::LifecycleRunRecord& r);

class LifecycleRunner {
 public:
  LifecycleRunner(sandbox::SandboxManager* manager, events::EventBus* bus, store::Store* store,
                  RunnerOptions options = {});
  ~LifecycleRunner();
  LifecycleRunner(const LifecycleRunner&) = delete;
  LifecycleRunner& operator=(const LifecycleRunner&) = delete;

  // Records the run (state running) and runs it on its own thread; returns the record at once.
  // kNotFound for an unknown template, kAlreadyExists when the sandbox id is taken.
  Result<store::LifecycleRunRecord> Start(const LifecycleConfig& config, RunContext ctx);
  // Runs on the calling thread and returns the final record.
  Result<store::LifecycleRunRecord> Run(const LifecycleConfig& config, RunContext ctx);

  Result<store::LifecycleRunRecord> Get(const std::string& run_id);
  Result<std::vector<store::LifecycleRunRecord>> List(const store::RunFilter& f);
  // True while a run of this workflow is in progress in this process.
  bool WorkflowRunning(const std::string& workflow_id);

  // At daemon start: runs left `running` by a previous process become `interrupted`, with an
  // on_error event each. Returns how many.
  Result<int> RecoverInterrupted();
  void Shutdown();

 private:
  struct Active;
  Result<store::LifecycleRunRecord> Prepare(const LifecycleConfig& config, const RunContext& ctx);
  store::LifecycleRunRecord Execute(store::LifecycleRunRecord rec, const LifecycleConfig& config,
                                    const RunContext& ctx, std::shared_ptr<Active> active);
  void Monitor(const std::string& sandbox_id, const LifecycleConfig& config, const RunContext& ctx,
               const std::string& run_id, std::shared_ptr<Active> active);
  void Publish(events::EventType type, const std::string& sandbox_id, const LifecycleConfig& config,
               const RunContext& ctx, nlohmann::json data);
  // Sleeps up to ms; false if the run was cancelled meanwhile.
  bool SleepCancellable(Active& a, int64_t ms);

  sandbox::SandboxManager* manager_;
  events::EventBus* bus_;
  store::LifecycleRepo repo_;
  RunnerOptions options_;

  std::mutex mu_;                                          // guards active_, threads_, stopping_
  std::map<std::string, std::shared_ptr<Active>> active_;  // by run id
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;  // finished ones are joined at the next Start
  bool stopping_ = false;
};

}  // namespace sbx::lifecycle
