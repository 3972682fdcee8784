// workflow: `sbx workflow create --name N --trigger manual|schedule|webhook [--cron EXPR]
// [--source github|token] [--event E] [--repository O/R] [--branch B] [--template T]
// [--script CODE]...`, `list`, `show NAME`, `run NAME [--wait]`, `history NAME`, `rm NAME`
// over /v1/workflows (docs/events.md).
#include "cli/commands.h"

namespace sbx::cli {

Result<OJson> WaitForRun(Client& client, const std::string& run_id);  // lifecycle.cc
Outcome RunOutcome(const OJson& run);                                 // lifecycle.cc

CLI::App* AddWorkflowCommand(CLI::App& app, WorkflowArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "workflow", "Named lifecycles started by hand, on a cron schedule or by a webhook");
  sub->require_subcommand(1, 1);
  CLI::App* create = sub->add_subcommand("create", "Create a workflow");
  create->add_option("name,--name", args.name, "Name: [a-z0-9][a-z0-9_-]{0,63}")->required();
  create->add_option("--trigger", args.trigger, "manual (default), schedule or webhook")
      ->check(CLI::IsMember({"manual", "schedule", "webhook"}));
  create->add_option("--cron", args.cron, "schedule: 5-field cron expression, UTC");
  create->add_option("--source", args.source, "webhook: github (default) or token (Zapier, ...)");
  create->add_option("--event", args.event, "github: event name (default push, * any)");
  create->add_option("--repository", args.repository, "github: owner/repo (default any)");
  create->add_option("--branch", args.branch, "github: branch or glob (default any)");
  create->add_option("--template", args.template_name, "Template (default python)");
  create->add_option("--language", args.language, "Language of the scripts (default python)");
  create->add_option("--script", args.scripts, "Code of a script (repeat, in order)");
  create->add_option("--timeout", args.timeout, "Seconds for a whole run (default 300)");
  create->add_option("--max-retries", args.max_retries, "Retries of a failing script (default 3)");
  create->add_option("--retry-delay", args.retry_delay, "Seconds between attempts (default 5)");
  create->callback([&args] { args.action = "create"; });
  sub->add_subcommand("list", "Workflows")->callback([&args] { args.action = "list"; });
  for (auto [verb, help] : {std::pair{"show", "One workflow"},
                            std::pair{"run", "Start a run now"},
                            std::pair{"history", "Runs of a workflow, newest first"},
                            std::pair{"rm", "Delete a workflow (its runs stay)"}}) {
    CLI::App* c = sub->add_subcommand(verb, help);
    c->add_option("name,--name", args.name, "Workflow name")->required();
    std::string v = verb;
    if (v == "run") c->add_flag("--wait", args.wait, "Wait for the run's end");
    if (v == "history") c->add_option("--limit", args.limit, "At most this many (default 20)");
    c->callback([&args, v] { args.action = v; });
  }
  return sub;
}

Result<nlohmann::json> PlanWorkflowCreate(const WorkflowArgs& args) {
  nlohmann::json trigger = {{"type", args.trigger}};
  if (!args.cron.empty()) trigger["cron"] = args.cron;
  if (!args.source.empty()) trigger["source"] = args.source;
  if (!args.event.empty()) trigger["event"] = args.event;
  if (!args.repository.empty()) trigger["repository"] = args.repository;
  if (!args.branch.empty()) trigger["branch"] = args.branch;
  nlohmann::json lc = nlohmann::json::object();
  if (!args.template_name.empty()) lc["template"] = args.template_name;
  if (args.timeout) lc["timeout"] = SecondsJson(*args.timeout);
  if (args.max_retries) lc["max_retries"] = *args.max_retries;
  if (args.retry_delay) lc["retry_delay"] = SecondsJson(*args.retry_delay);
  nlohmann::json scripts = nlohmann::json::array();
  for (const auto& code : args.scripts)
    scripts.push_back({{"language", args.language}, {"code", code}});
  lc["scripts"] = scripts;
  return nlohmann::json{{"name", args.name}, {"trigger", trigger}, {"lifecycle", lc}};
}

Outcome RunWorkflow(Client& client, const WorkflowArgs& args) {
  std::string base = "/v1/workflows/" + PercentEncode(args.name);
  Result<OJson> r = MakeError(ErrorCode::kInvalidArgument, "workflow: unknown action");
  if (args.action == "create") {
    auto body = PlanWorkflowCreate(args);
    if (!body.ok()) return ErrorOutcome(body.error());
    r = client.CallJson("POST", "/v1/workflows", *body, kDefaultTimeoutS);
  } else if (args.action == "list") {
    r = client.CallJson("GET", "/v1/workflows", nullptr, kDefaultTimeoutS);
  } else if (args.action == "show") {
    r = client.CallJson("GET", base, nullptr, kDefaultTimeoutS);
  } else if (args.action == "rm") {
    r = client.CallJson("DELETE", base, nullptr, kDefaultTimeoutS);
  } else if (args.action == "history") {
    r = client.CallJson("GET", base + "/runs?limit=" + std::to_string(args.limit), nullptr,
                        kDefaultTimeoutS);
  } else if (args.action == "run") {
    r = client.CallJson("POST", base + "/run", nlohmann::json::object(), kDefaultTimeoutS);
    if (r.ok() && args.wait) {
      auto done = WaitForRun(client, StringField(*r, "id"));
      if (!done.ok()) return ErrorOutcome(done.error());
      return RunOutcome(*done);
    }
  }
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
