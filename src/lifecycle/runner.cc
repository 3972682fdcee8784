// LifecycleRunner: the run's steps, retries, timeout, monitor and cleanup (see runner.h).
#include "lifecycle/runner.h"

#include <algorithm>

#include "common/log.h"
#include "common/util.h"

namespace sbx::lifecycle {

using events::EventType;
using nlohmann::json;

struct LifecycleRunner::Active {
  std::mutex mu;
  std::condition_variable cv;
  bool cancelled = false;
  bool finished = false;  // stops the monitor
  std::string workflow_id;
  json samples = json::array();
  int64_t dropped_samples = 0;
};

namespace {

std::string Keep(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n); }

}  // namespace

json RunToJson(const store::LifecycleRunRecord& r) {
  auto parse = [](const std::string& t, json def) {
    json j = json::parse(t, nullptr, false);
    return j.is_discarded() ? def : j;
  };
  json j = {{"id", r.id},
            {"sandbox_id", r.sandbox_id},
            {"tenant", r.tenant},
            {"workflow_id", r.workflow_id},
            {"state", r.state},
            {"error", r.error},
            {"sandbox_removed", r.sandbox_removed},
            {"started_at", ToRfc3339(r.started_at_ms)},
            {"trigger", parse(r.trigger_json, json::object())},
            {"config", parse(r.config_json, json::object())},
            {"scripts", parse(r.scripts_json, json::array())},
            {"samples", parse(r.samples_json, json::array())}};
  if (r.finished_at_ms) {
    j["finished_at"] = ToRfc3339(r.finished_at_ms);
    j["duration_s"] = static_cast<double>(r.finished_at_ms - r.started_at_ms) / 1000.0;
  }
  return j;
}

LifecycleRunner::LifecycleRunner(sandbox::SandboxManager* manager, events::EventBus* bus,
                                 store::Store* store, RunnerOptions options)
    : manager_(manager), bus_(bus), repo_(store), options_(options) {}

LifecycleRunner::~LifecycleRunner() { Shutdown(); }

void LifecycleRunner::Shutdown() {
  std::vector<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [id, a] : active_) {
      std::lock_guard<std::mutex> al(a->mu);
      a->cancelled = true;
      a->cv.notify_all();
    }
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

void LifecycleRunner::Publish(EventType type, const std::string& sandbox_id,
                              const LifecycleConfig& config, const RunContext& ctx, json data) {
  if (!ctx.workflow_name.empty()) data["workflow"] = ctx.workflow_name;
  events::Event e{type, sandbox_id, ctx.tenant, std::move(data), config.enable_webhooks};
  auto r = bus_->Publish(e);
  if (!r.ok())
    log::Error("lifecycle_event_failed",
               {{"type", events::EventTypeName(type)}, {"error", r.error().ToString()}});
}

bool LifecycleRunner::SleepCancellable(Active& a, int64_t ms) {
  std::unique_lock<std::mutex> lock(a.mu);
  a.cv.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(ms, 0)),
                [&] { return a.cancelled; });
  return !a.cancelled;
}

Result<store::LifecycleRunRecord> LifecycleRunner::Prepare(const LifecycleConfig& config,
                                                           const RunContext& ctx) {
  if (!manager_->templates().templates.count(config.template_name))
    return MakeError(ErrorCode::kNotFound,
                     "lifecycle.template: unknown template '" + config.template_name + "'");
  if (!config.sandbox_id.empty() && manager_->Get(config.sandbox_id).ok())
    return MakeError(ErrorCode::kAlreadyExists,
                     "lifecycle.sandbox_id: sandbox '" + config.sandbox_id + "' already exists");
  store::LifecycleRunRecord rec;
  rec.id = "run_" + RandomHex(6);
  rec.sandbox_id = config.sandbox_id.empty() ? "lc_" + RandomHex(5) : config.sandbox_id;
  rec.tenant = ctx.tenant;
  rec.workflow_id = ctx.workflow_id;
  rec.trigger_json = ctx.trigger.dump();
  rec.state = "running";
  LifecycleConfig stored = config;
  stored.sandbox_id = rec.sandbox_id;
  rec.config_json = ToJson(stored).dump();
  rec.started_at_ms = NowUnixMs();
  RETURN_IF_ERROR(repo_.Insert(rec));
  return rec;
}

Result<store::LifecycleRunRecord> LifecycleRunner::Start(const LifecycleConfig& config,
                                                         RunContext ctx) {
  auto active = std::make_shared<Active>();
  active->workflow_id = ctx.workflow_id;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  // Join runs that have finished.
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  ASSIGN_OR_RETURN(auto rec, Prepare(config, ctx));
  active_[rec.id] = active;
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back(Worker{std::thread([this, rec, config, ctx, active, done] {
                              Execute(rec, config, ctx, active);
                              done->store(true);
                            }),
                            done});
  return rec;
}

Result<store::LifecycleRunRecord> LifecycleRunner::Run(const LifecycleConfig& config,
                                                       RunContext ctx) {
  auto active = std::make_shared<Active>();
  active->workflow_id = ctx.workflow_id;
  store::LifecycleRunRecord rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
    ASSIGN_OR_RETURN(rec, Prepare(config, ctx));
    active_[rec.id] = active;
  }
  return Execute(std::move(rec), config, ctx, active);
}

store::LifecycleRunRecord LifecycleRunner::Execute(store::LifecycleRunRecord rec,
                                                   const LifecycleConfig& config,
                                                   const RunContext& ctx,
                                                   std::shared_ptr<Active> active) {
  const std::string& id = rec.sandbox_id;
  const int64_t deadline_ms = rec.started_at_ms + config.timeout_s * 1000;
  auto save = [&] {
    {
      std::lock_guard<std::mutex> lock(active->mu);
      rec.samples_json = active->samples.dump();
    }
    auto r = repo_.Update(rec);
    if (!r.ok())
      log::Error("lifecycle_save_failed", {{"run_id", rec.id}, {"error", r.error().ToString()}});
  };
  log::Info("lifecycle_start",
            {{"run_id", rec.id}, {"sandbox_id", id}, {"request_id", ctx.request_id}});
  if (!ctx.workflow_id.empty())
    Publish(EventType::kWorkflowStarted, id, config, ctx,
            {{"run_id", rec.id}, {"workflow_id", ctx.workflow_id}, {"trigger", ctx.trigger}});

  std::string outcome = "failed";  // succeeded | failed | timeout | interrupted
  bool created = false;
  std::thread monitor;
  json scripts = json::array();
  [&] {
    spec::SandboxSpec spec;
    spec.id = id;
    spec.template_name = config.template_name;
    spec.env = config.environment;
    spec.timeout_s = config.timeout_s;
    spec.metadata = {{"lifecycle_run", rec.id}};
    if (!ctx.workflow_name.empty()) spec.metadata["workflow"] = ctx.workflow_name;
    auto sb = manager_->Create(spec, ctx.request_id, ctx.tenant);
    if (ctx.on_created) ctx.on_created();
    if (!sb.ok()) {
      rec.error = "create sandbox: " + sb.error().ToString();
      return;
    }
    created = true;
    Publish(EventType::kSandboxCreated, id, config, ctx,
            {{"run_id", rec.id}, {"template", config.template_name}});
    if (config.monitor_interval_s > 0)
      monitor = std::thread(
          [this, id, config, ctx, rid = rec.id, active] { Monitor(id, config, ctx, rid, active); });
    for (const auto& f : config.files) {
      auto w = manager_->WriteFile(id, f.path, f.content, "user");
      if (!w.ok()) {
        rec.error = "upload " + f.path + ": " + w.error().ToString();
        return;
      }
    }
    for (size_t i = 0; i < config.scripts.size(); ++i) {
      const Script& script = config.scripts[i];
      json sj = {{"index", i},
                 {"language", spec::LanguageName(script.language)},
                 {"status", "running"},
                 {"attempts", json::array()}};
      scripts.push_back(sj);
      bool ok = false;
      for (int attempt = 1; attempt <= 1 + config.max_retries; ++attempt) {
        int64_t left_ms = deadline_ms - NowUnixMs();
        if (left_ms <= 0) {
          outcome = "timeout";
          break;
        }
        spec::ExecRequest req;
        req.language = script.language;
        req.code = script.code;
        req.env = config.environment;
        double left_s = static_cast<double>(left_ms) / 1000.0;
        req.timeout_s = script.timeout_s > 0 ? std::min(script.timeout_s, left_s) : left_s;
        Publish(EventType::kExecutionStarted, id, config, ctx,
                {{"run_id", rec.id}, {"script", i}, {"attempt", attempt}});
        int64_t started = NowUnixMs();
        auto out = manager_->Exec(id, req, ctx.request_id);
        json aj = {{"attempt", attempt}, {"started_at", ToRfc3339(started)}};
        std::string status;
        if (out.ok()) {
          const auto& r = out->result;
          status = spec::ExecStatusName(r.status);
          aj["execution_id"] = out->execution_id;
          aj["status"] = status;
          aj["exit_code"] = r.exit_code;
          aj["stdout"] = Keep(r.stdout_data, options_.output_keep_bytes);
          aj["stderr"] = Keep(r.stderr_data, options_.output_keep_bytes);
          aj["execution_time"] = r.execution_time;
          if (!r.reason.empty()) aj["reason"] = r.reason;
          ok = r.success();
        } else {
          status = "error";
          aj["status"] = status;
          aj["exit_code"] = -1;
          aj["reason"] = out.error().ToString();
        }
        scripts[i]["attempts"].push_back(aj);
        rec.scripts_json = scripts.dump();
        save();
        json ev = {{"run_id", rec.id},
                   {"script", i},
                   {"attempt", attempt},
                   {"status", status},
                   {"exit_code", aj["exit_code"]}};
        if (aj.contains("execution_id")) ev["execution_id"] = aj["execution_id"];
        Publish(ok ? EventType::kExecutionComplete : EventType::kExecutionFailed, id, config, ctx,
                ev);
        if (ok) break;
        if (NowUnixMs() >= deadline_ms) {
          outcome = "timeout";
          break;
        }
        if (attempt == 1 + config.max_retries) break;
        int64_t wait = static_cast<int64_t>(config.retry_delay_s * 1000);
        if (NowUnixMs() + wait >= deadline_ms) {  // the retry could not start in time
          SleepCancellable(*active, deadline_ms - NowUnixMs());
          outcome = "timeout";
          break;
        }
        if (!SleepCancellable(*active, wait)) {
          outcome = "interrupted";
          break;
        }
      }
      scripts[i]["status"] = ok ? "succeeded" : outcome == "timeout" ? "timeout" : "failed";
      rec.scripts_json = scripts.dump();
      if (!ok) {
        if (outcome == "failed")
          rec.error = "script " + std::to_string(i) + " failed after " +
                      std::to_string(scripts[i]["attempts"].size()) + " attempt(s)";
        else if (outcome == "timeout")
          rec.error = "timeout: the run took longer than " + std::to_string(config.timeout_s) + "s";
        else
          rec.error = "cancelled: the daemon is shutting down";
        return;
      }
      std::lock_guard<std::mutex> lock(active->mu);
      if (active->cancelled) {
        outcome = "interrupted";
        rec.error = "cancelled: the daemon is shutting down";
        return;
      }
    }
    outcome = "succeeded";
  }();

  rec.state = outcome;
  json end = {{"run_id", rec.id}, {"status", outcome}};
  if (!rec.error.empty()) end["error"] = rec.error;
  if (outcome == "succeeded")
    Publish(EventType::kOnCompletion, id, config, ctx, end);
  else if (outcome == "timeout")
    Publish(EventType::kOnTimeout, id, config, ctx, end);
  else
    Publish(EventType::kOnError, id, config, ctx, end);

  {
    std::lock_guard<std::mutex> lock(active->mu);
    active->finished = true;
    active->cv.notify_all();
  }
  if (monitor.joinable()) monitor.join();

  bool remove =
      created && (ctx.remove_sandbox || (outcome != "succeeded" && config.cleanup_on_error));
  if (remove) {
    auto r = manager_->Remove(id, ctx.request_id);
    if (r.ok()) {
      rec.sandbox_removed = true;
      Publish(EventType::kOnCleanup, id, config, ctx, {{"run_id", rec.id}, {"reason", outcome}});
    } else {
      log::Warn("lifecycle_cleanup_failed",
                {{"run_id", rec.id}, {"sandbox_id", id}, {"error", r.error().ToString()}});
    }
  }
  rec.finished_at_ms = NowUnixMs();
  save();
  if (!ctx.workflow_id.empty())
    Publish(EventType::kWorkflowFinished, id, config, ctx,
            {{"run_id", rec.id}, {"workflow_id", ctx.workflow_id}, {"status", outcome}});
  log::Info("lifecycle_end", {{"run_id", rec.id},
                              {"sandbox_id", id},
                              {"state", outcome},
                              {"duration_ms", rec.finished_at_ms - rec.started_at_ms}});
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(rec.id);
  }
  return rec;
}

void LifecycleRunner::Monitor(const std::string& sandbox_id, const LifecycleConfig& config,
                              const RunContext& ctx, const std::string& run_id,
                              std::shared_ptr<Active> active) {
  const auto interval = std::chrono::milliseconds(
      std::max<int64_t>(static_cast<int64_t>(config.monitor_interval_s * 1000), 100));
  double cpus = 1;
  auto it = manager_->templates().templates.find(config.template_name);
  if (it != manager_->templates().templates.end() && it->second.cpus > 0) cpus = it->second.cpus;
  int64_t t0 = NowUnixMs();
  int64_t prev_cpu = -1, prev_ms = 0;
  bool mem_alerted = false, cpu_alerted = false;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(active->mu);
      if (active->cv.wait_for(lock, interval,
                              [&] { return active->finished || active->cancelled; }))
        return;
    }
    auto st = manager_->cgroups().Stats(sandbox_id);
    if (!st.ok()) continue;
    int64_t now = NowUnixMs();
    json s = {{"t", ToRfc3339(now)},
              {"elapsed_ms", now - t0},
              {"memory_bytes", st->memory_current},
              {"memory_peak_bytes", st->memory_peak},
              {"cpu_usage_ns", st->cpu_usage_ns},
              {"pids", st->pids_current}};
    double mem_pct = -1, cpu_pct = -1;
    if (st->memory_limit > 0) {
      mem_pct =
          100.0 * static_cast<double>(st->memory_current) / static_cast<double>(st->memory_limit);
      s["memory_percent"] = mem_pct;
    }
    if (prev_cpu >= 0 && now > prev_ms) {
      cpu_pct = 100.0 * static_cast<double>(st->cpu_usage_ns - prev_cpu) /
                (static_cast<double>(now - prev_ms) * 1e6 * cpus);
      s["cpu_percent"] = cpu_pct;
    }
    prev_cpu = st->cpu_usage_ns;
    prev_ms = now;
    {
      std::lock_guard<std::mutex> lock(active->mu);
      if (active->samples.size() < options_.max_samples)
        active->samples.push_back(s);
      else
        ++active->dropped_samples;
    }
    if (!mem_alerted && mem_pct >= options_.alerts.memory_usage_percent) {
      mem_alerted = true;
      Publish(EventType::kOnAlert, sandbox_id, config, ctx,
              {{"run_id", run_id},
               {"metric", "memory_percent"},
               {"value", mem_pct},
               {"threshold", options_.alerts.memory_usage_percent}});
    }
    if (!cpu_alerted && cpu_pct >= options_.alerts.cpu_usage_percent) {
      cpu_alerted = true;
      Publish(EventType::kOnAlert, sandbox_id, config, ctx,
              {{"run_id", run_id},
               {"metric", "cpu_percent"},
               {"value", cpu_pct},
               {"threshold", options_.alerts.cpu_usage_percent}});
    }
  }
}

Result<store::LifecycleRunRecord> LifecycleRunner::Get(const std::string& run_id) {
  ASSIGN_OR_RETURN(auto r, repo_.Get(run_id));
  if (!r) return MakeError(ErrorCode::kNotFound, "lifecycle run '" + run_id + "' does not exist");
  return *r;
}

Result<std::vector<store::LifecycleRunRecord>> LifecycleRunner::List(const store::RunFilter& f) {
  return repo_.List(f);
}

bool LifecycleRunner::WorkflowRunning(const std::string& workflow_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, a] : active_)
    if (a->workflow_id == workflow_id) return true;
  return false;
}

Result<int> LifecycleRunner::RecoverInterrupted() {
  ASSIGN_OR_RETURN(auto runs, repo_.MarkInterrupted(
                                  "interrupted: the daemon stopped during the run", NowUnixMs()));
  for (const auto& r : runs) {
    auto cfg = LifecycleConfigFromJson(json::parse(r.config_json, nullptr, false));
    LifecycleConfig c = cfg.ok() ? *cfg : LifecycleConfig{};
    RunContext ctx;
    ctx.tenant = r.tenant;
    Publish(EventType::kOnError, r.sandbox_id, c, ctx,
            {{"run_id", r.id}, {"status", "interrupted"}, {"error", r.error}});
  }
  return static_cast<int>(runs.size());
}

}  // namespace sbx::lifecycle
