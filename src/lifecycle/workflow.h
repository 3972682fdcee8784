// Workflows: a name, a trigger, a lifecycle configuration and a run history (the lifecycle
// runs started for it). WorkflowService creates, lists and runs them, runs the cron scheduler
// (scheduler.cc) and answers incoming webhooks (hooks.cc).
//
// Triggers (JSON `trigger`, an object, or a string with the other keys beside it):
//   {"type": "manual"}
//   {"type": "schedule", "cron": "*/15 * * * *"}                      (UTC; cron.h)
//   {"type": "webhook", "source": "github", "event": "push", "repository": "octo/demo",
//    "branch": "main"}     event defaults to push; repository and branch "" match any; branch
//                          may be a glob ("release/*")
//   {"type": "webhook", "source": "token"}  a Zapier or generic hook: POST with the token that
//                          Create returns once (stored as a sha256)
// Create body: {"name", "trigger", "lifecycle": LifecycleConfig} or, for the CLI's
// `--template python`, "template" (and "scripts", "timeout") at the top level.
//
// A workflow run is a lifecycle run with workflow_id set; its sandbox gets a fresh id each run
// and is always removed at the end (the outputs are in the run record). Scripts see the
// trigger as JSON in $SBX_TRIGGER.
//
// Thread safety: every public method may be called from any thread. The store, runner and bus
// must outlive the service; Stop() joins the scheduler.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event_bus.h"
#include "lifecycle/config.h"
#include "lifecycle/runner.h"
#include "store/lifecycles.h"
#include "store/workflows.h"

namespace sbx::lifecycle {

struct Trigger {
  std::string type = "manual";  // manual | schedule | webhook
  std::string cron;             // schedule
  std::string source;           // webhook: github | token
  std::string event = "push";   // github
  std::string repository;       // github: owner/repo, "" any
  std::string branch;           // github: name or glob, "" any
};
Result<Trigger> TriggerFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const Trigger& t);

struct Workflow {
  store::WorkflowRecord record;
  Trigger trigger;
  LifecycleConfig config;
  nlohmann::json ToJson() const;  // never contains the hook token
};

struct CreatedWorkflow {
  Workflow workflow;
  std::string hook_token;  // for a token webhook: shown once; else ""
};

// The answer to an incoming webhook, as the api should send it.
struct HookOutcome {
  int status = 200;  // 200 handled (nothing started), 202 runs started, 400, 401, 404
  std::string message;
  std::vector<std::string> started_runs;
  nlohmann::json ToJson() const;
};

struct WorkflowOptions {
  std::string github_secret;  // GITHUB_WEBHOOK_SECRET; "" : /v1/hooks/github answers 404
  int scheduler_tick_ms = 1000;
};

class WorkflowService {
 public:
  WorkflowService(store::Store* store, LifecycleRunner* runner, events::EventBus* bus,
                  WorkflowOptions options);
  ~WorkflowService();
  WorkflowService(const WorkflowService&) = delete;
  WorkflowService& operator=(const WorkflowService&) = delete;

  Result<CreatedWorkflow> Create(const nlohmann::json& body, const std::string& tenant);
  Result<std::vector<Workflow>> List(const std::string& tenant);
  Result<Workflow> Get(const std::string& name);
  Result<void> Delete(const std::string& name);
  // Starts a run now (asynchronously); `trigger` is recorded with it.
  Result<store::LifecycleRunRecord> Run(const std::string& name,
                                        nlohmann::json trigger = {{"type", "manual"}});
  // Newest first.
  Result<std::vector<store::LifecycleRunRecord>> History(const std::string& name, int limit);

  // Scheduler (scheduler.cc). Start handles runs missed while the daemon was down at once,
  // then ticks every scheduler_tick_ms.
  Result<void> StartScheduler();
  void Stop();
  // One scheduler pass at now_ms: the runs it started. Public for tests.
  std::vector<std::string> TickSchedules(int64_t now_ms);

  // Incoming webhooks (hooks.cc). Headers with lowercase names.
  HookOutcome HandleGithubDelivery(const std::map<std::string, std::string>& headers,
                                   const std::string& body);
  HookOutcome HandleTokenHook(const std::string& token, const std::string& body);

 private:
  Result<Workflow> Decode(const store::WorkflowRecord& r);
  Result<store::LifecycleRunRecord> StartRun(const Workflow& wf, nlohmann::json trigger);

  store::WorkflowRepo repo_;
  store::LifecycleRepo runs_;
  LifecycleRunner* runner_;
  events::EventBus* bus_;
  WorkflowOptions options_;

  std::mutex mu_;  // guards stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread scheduler_;
};

}  // namespace sbx::lifecycle
