// Workflow JSON, creation, listing and manual runs (see workflow.h).
#include "lifecycle/workflow.h"

#include <regex>
#include <set>

#include "common/log.h"
#include "common/util.h"
#include "lifecycle/cron.h"
#include "sandbox/manager.h"
#include "digest/sha256.h"

namespace sbx::lifecycle {

using nlohmann::json;

namespace {

Error Bad(const std::string& field, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "workflow." + field + ": " + why);
}

Result<std::string> Str(const json& j, const char* key) {
  if (!j.contains(key)) return std::string();
  if (!j[key].is_string()) return Bad(std::string("trigger.") + key, "must be a string");
  return j[key].get<std::string>();
}

constexpr size_t kMaxTriggerEnvBytes = 32 << 10;

}  // namespace

Result<Trigger> TriggerFromJson(const json& j) {
  if (!j.is_object()) return Bad("trigger", "must be an object or a trigger type");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "type" && it.key() != "cron" && it.key() != "source" && it.key() != "event" &&
        it.key() != "repository" && it.key() != "branch")
      return Bad("trigger." + it.key(), "unknown field");
  Trigger t;
  ASSIGN_OR_RETURN(t.type, Str(j, "type"));
  if (t.type.empty()) t.type = "manual";
  ASSIGN_OR_RETURN(t.cron, Str(j, "cron"));
  ASSIGN_OR_RETURN(t.source, Str(j, "source"));
  ASSIGN_OR_RETURN(std::string event, Str(j, "event"));
  if (!event.empty()) t.event = event;
  ASSIGN_OR_RETURN(t.repository, Str(j, "repository"));
  ASSIGN_OR_RETURN(t.branch, Str(j, "branch"));
  if (t.type == "manual") {
    if (!t.cron.empty() || !t.source.empty()) return Bad("trigger", "manual takes no options");
  } else if (t.type == "schedule") {
    if (t.cron.empty()) return Bad("trigger.cron", "is required for a schedule trigger");
    auto c = CronExpr::Parse(t.cron);
    if (!c.ok()) return Bad("trigger.cron", c.error().message);
  } else if (t.type == "webhook") {
    if (t.source.empty()) t.source = "github";
    if (t.source != "github" && t.source != "token" && t.source != "zapier")
      return Bad("trigger.source", "must be github or token (zapier is a token hook)");
    if (t.source == "zapier") t.source = "token";
    if (t.source == "github" && !t.repository.empty() &&
        !std::regex_match(t.repository, std::regex("[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")))
      return Bad("trigger.repository", "must be owner/repo");
  } else {
    return Bad("trigger.type", "'" + t.type + "' is not one of manual, schedule, webhook");
  }
  return t;
}

json ToJson(const Trigger& t) {
  json j = {{"type", t.type}};
  if (t.type == "schedule") j["cron"] = t.cron;
  if (t.type == "webhook") {
    j["source"] = t.source;
    if (t.source == "github") {
      j["event"] = t.event;
      j["repository"] = t.repository;
      j["branch"] = t.branch;
    }
  }
  return j;
}

json Workflow::ToJson() const {
  json j = {{"id", record.id},
            {"name", record.name},
            {"tenant", record.tenant},
            {"trigger", lifecycle::ToJson(trigger)},
            {"lifecycle", lifecycle::ToJson(config)},
            {"enabled", record.enabled},
            {"created_at", ToRfc3339(record.created_at_ms)}};
  if (trigger.type == "schedule") {
    auto c = CronExpr::Parse(trigger.cron);
    if (c.ok()) {
      auto next = c->Next(std::max(record.schedule_cursor_ms, NowUnixMs()) / 1000);
      if (next) j["next_run_at"] = ToRfc3339(*next * 1000);
    }
  }
  return j;
}

json HookOutcome::ToJson() const {
  return {{"status", status}, {"message", message}, {"started_runs", started_runs}};
}

WorkflowService::WorkflowService(store::Store* store, LifecycleRunner* runner,
                                 events::EventBus* bus, WorkflowOptions options)
    : repo_(store), runs_(store), runner_(runner), bus_(bus), options_(std::move(options)) {}

WorkflowService::~WorkflowService() { Stop(); }

Result<CreatedWorkflow> WorkflowService::Create(const json& body, const std::string& tenant) {
  if (!body.is_object()) return Bad("body", "must be a JSON object");
  static const std::set<std::string> kTop = {"name",    "trigger",    "lifecycle", "template",
                                             "scripts", "timeout",    "cron",      "source",
                                             "event",   "repository", "branch",    "enabled"};
  for (auto it = body.begin(); it != body.end(); ++it)
    if (!kTop.count(it.key())) return Bad(it.key(), "unknown field");
  CreatedWorkflow out;
  Workflow& wf = out.workflow;
  if (!body.contains("name") || !body["name"].is_string() ||
      !std::regex_match(body["name"].get<std::string>(), std::regex("[a-z0-9][a-z0-9_-]{0,63}")))
    return Bad("name", "is required: [a-z0-9][a-z0-9_-]{0,63}");
  wf.record.name = body["name"].get<std::string>();
  json trig = body.contains("trigger") ? body["trigger"] : json("manual");
  if (trig.is_string()) {
    json t = {{"type", trig}};
    for (const char* k : {"cron", "source", "event", "repository", "branch"})
      if (body.contains(k)) t[k] = body[k];
    trig = t;
  } else {
    for (const char* k : {"cron", "source", "event", "repository", "branch"})
      if (body.contains(k)) return Bad(k, "belongs inside trigger");
  }
  ASSIGN_OR_RETURN(wf.trigger, TriggerFromJson(trig));
  json lc = body.contains("lifecycle") ? body["lifecycle"] : json::object();
  if (!lc.is_object()) return Bad("lifecycle", "must be an object");
  for (const char* k : {"template", "scripts", "timeout"}) {
    if (!body.contains(k)) continue;
    if (lc.contains(k)) return Bad(k, "given twice (top level and lifecycle)");
    lc[k] = body[k];
  }
  ASSIGN_OR_RETURN(wf.config, LifecycleConfigFromJson(lc));
  if (!wf.config.sandbox_id.empty())
    return Bad("lifecycle.sandbox_id", "workflow runs get a fresh sandbox id each run");
  if (body.contains("enabled")) {
    if (!body["enabled"].is_boolean()) return Bad("enabled", "must be true or false");
    wf.record.enabled = body["enabled"].get<bool>();
  }
  wf.record.id = "wf_" + RandomHex(6);
  wf.record.tenant = tenant;
  wf.record.trigger_json = ToJson(wf.trigger).dump();
  wf.record.config_json = ToJson(wf.config).dump();
  wf.record.created_at_ms = NowUnixMs();
  wf.record.schedule_cursor_ms = wf.record.created_at_ms;  // no runs for times before creation
  if (wf.trigger.type == "webhook" && wf.trigger.source == "token") {
    out.hook_token = "hook_" + RandomHex(20);
    wf.record.hook_token_hash = digest::Sha256Hex(out.hook_token);
  }
  RETURN_IF_ERROR(repo_.Insert(wf.record));
  log::Info("workflow_created", {{"workflow", wf.record.name}, {"trigger", wf.trigger.type}});
  return out;
}

Result<Workflow> WorkflowService::Decode(const store::WorkflowRecord& r) {
  Workflow wf;
  wf.record = r;
  auto t = TriggerFromJson(json::parse(r.trigger_json, nullptr, false));
  auto c = LifecycleConfigFromJson(json::parse(r.config_json, nullptr, false));
  if (!t.ok() || !c.ok())
    return MakeError(ErrorCode::kInternal, "workflow '" + r.name + "' is stored damaged");
  wf.trigger = *t;
  wf.config = *c;
  return wf;
}

Result<std::vector<Workflow>> WorkflowService::List(const std::string& tenant) {
  ASSIGN_OR_RETURN(auto recs, repo_.List(tenant));
  std::vector<Workflow> out;
  for (const auto& r : recs) {
    ASSIGN_OR_RETURN(Workflow wf, Decode(r));
    out.push_back(std::move(wf));
  }
  return out;
}

Result<Workflow> WorkflowService::Get(const std::string& name) {
  ASSIGN_OR_RETURN(auto r, repo_.GetByName(name));
  if (!r) return MakeError(ErrorCode::kNotFound, "workflow '" + name + "' does not exist");
  return Decode(*r);
}

Result<void> WorkflowService::Delete(const std::string& name) { return repo_.Delete(name); }

Result<store::LifecycleRunRecord> WorkflowService::StartRun(const Workflow& wf, json trigger) {
  LifecycleConfig config = wf.config;
  std::string env = trigger.dump();
  if (env.size() <= kMaxTriggerEnvBytes) config.environment["SBX_TRIGGER"] = env;
  RunContext ctx;
  ctx.tenant = wf.record.tenant;
  ctx.workflow_id = wf.record.id;
  ctx.workflow_name = wf.record.name;
  ctx.trigger = std::move(trigger);
  ctx.remove_sandbox = true;
  ctx.request_id = "wf_" + wf.record.name;
  return runner_->Start(config, std::move(ctx));
}

Result<store::LifecycleRunRecord> WorkflowService::Run(const std::string& name, json trigger) {
  ASSIGN_OR_RETURN(Workflow wf, Get(name));
  return StartRun(wf, std::move(trigger));
}

Result<std::vector<store::LifecycleRunRecord>> WorkflowService::History(const std::string& name,
                                                                        int limit) {
  ASSIGN_OR_RETURN(Workflow wf, Get(name));
  store::RunFilter f;
  f.workflow_id = wf.record.id;
  f.limit = limit;
  return runs_.List(f);
}

}  // namespace sbx::lifecycle
