// Incoming webhooks of WorkflowService: GitHub deliveries and token hooks (see workflow.h).
//
// GitHub: the X-Hub-Signature-256 is checked in constant time against the configured secret
// before anything else (401 and nothing started when it does not verify); `ping` is answered;
// an X-GitHub-Delivery id seen before is acknowledged and ignored (stored durably, so a
// redelivery after a restart is still recognised); then every enabled webhook workflow with
// source github whose event, repository (owner/repo, case-insensitive) and branch (from `ref`
// for push, `pull_request.base.ref` for pull_request; a glob) match is started.
#include <fnmatch.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "events/signing.h"
#include "lifecycle/workflow.h"
#include "sandbox/manager.h"
#include "digest/sha256.h"

namespace sbx::lifecycle {

using nlohmann::json;

namespace {

std::string HeaderOf(const std::map<std::string, std::string>& h, const std::string& k) {
  auto it = h.find(k);
  return it == h.end() ? "" : it->second;
}

HookOutcome Answer(int status, std::string message) {
  HookOutcome o;
  o.status = status;
  o.message = std::move(message);
  return o;
}

}  // namespace

HookOutcome WorkflowService::HandleGithubDelivery(const std::map<std::string, std::string>& headers,
                                                  const std::string& body) {
  if (options_.github_secret.empty())
    return Answer(404, "GitHub webhooks are not configured (GITHUB_WEBHOOK_SECRET)");
  if (!events::VerifyGithubSignature(options_.github_secret, body,
                                     HeaderOf(headers, "x-hub-signature-256"))) {
    log::Warn("github_hook_bad_signature", {{"delivery", HeaderOf(headers, "x-github-delivery")}});
    return Answer(401, "signature does not match");
  }
  std::string event = HeaderOf(headers, "x-github-event");
  std::string delivery = HeaderOf(headers, "x-github-delivery");
  if (event == "ping") return Answer(200, "pong");
  if (!delivery.empty()) {
    auto fresh = repo_.RecordHookDelivery("github", delivery, NowUnixMs());
    if (!fresh.ok()) return Answer(500, fresh.error().message);
    if (!*fresh) return Answer(200, "delivery " + delivery + " was already handled");
  }
  json payload = json::parse(body, nullptr, false);
  if (!payload.is_object()) return Answer(400, "body is not a JSON object");
  std::string repository, branch;
  if (payload.contains("repository") && payload["repository"].is_object() &&
      payload["repository"].value("full_name", json()).is_string())
    repository = payload["repository"]["full_name"].get<std::string>();
  if (event == "push" && payload.value("ref", json()).is_string()) {
    std::string ref = payload["ref"].get<std::string>();
    if (ref.rfind("refs/heads/", 0) == 0) branch = ref.substr(11);
  } else if (event == "pull_request" && payload.contains("pull_request") &&
             payload["pull_request"].is_object()) {
    auto base = payload["pull_request"].value("base", json::object());
    if (base.is_object() && base.value("ref", json()).is_string())
      branch = base["ref"].get<std::string>();
  }
  auto all = List("");
  if (!all.ok()) return Answer(500, all.error().message);
  HookOutcome out = Answer(200, "no workflow matches");
  for (const Workflow& wf : *all) {
    const Trigger& t = wf.trigger;
    if (!wf.record.enabled || t.type != "webhook" || t.source != "github") continue;
    if (t.event != "*" && t.event != event) continue;
    if (!t.repository.empty() && strcasecmp(t.repository.c_str(), repository.c_str()) != 0)
      continue;
    if (!t.branch.empty() && (branch.empty() || fnmatch(t.branch.c_str(), branch.c_str(), 0) != 0))
      continue;
    json trigger = {{"type", "webhook"},    {"source", "github"},       {"event", event},
                    {"delivery", delivery}, {"repository", repository}, {"branch", branch}};
    if (payload.value("after", json()).is_string()) trigger["sha"] = payload["after"];
    auto run = StartRun(wf, trigger);
    if (!run.ok()) {
      log::Error("github_hook_run_failed",
                 {{"workflow", wf.record.name}, {"error", run.error().ToString()}});
      continue;
    }
    out.started_runs.push_back(run->id);
  }
  if (!out.started_runs.empty()) {
    out.status = 202;
    out.message = "started " + std::to_string(out.started_runs.size()) + " run(s)";
  }
  log::Info("github_hook", {{"event", event},
                            {"delivery", delivery},
                            {"repository", repository},
                            {"branch", branch},
                            {"runs", static_cast<int64_t>(out.started_runs.size())}});
  return out;
}

HookOutcome WorkflowService::HandleTokenHook(const std::string& token, const std::string& body) {
  if (token.empty()) return Answer(401, "missing hook token");
  auto found = repo_.FindByTokenHash(digest::Sha256Hex(token));
  if (!found.ok()) return Answer(500, found.error().message);
  if (found->empty()) return Answer(401, "unknown hook token");
  json trigger = {{"type", "webhook"}, {"source", "token"}};
  json payload = json::parse(body, nullptr, false);
  if (!payload.is_discarded() && body.size() <= (16u << 10)) trigger["payload"] = payload;
  HookOutcome out = Answer(200, "workflow disabled");
  for (const auto& rec : *found) {
    auto wf = Decode(rec);
    if (!wf.ok() || !rec.enabled) continue;
    auto run = StartRun(*wf, trigger);
    if (!run.ok()) return Answer(500, run.error().message);
    out.started_runs.push_back(run->id);
  }
  if (!out.started_runs.empty()) {
    out.status = 202;
    out.message = "started " + std::to_string(out.started_runs.size()) + " run(s)";
  }
  return out;
}

}  // namespace sbx::lifecycle
