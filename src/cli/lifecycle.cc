// lifecycle: `sbx lifecycle create ... --script CODE [--script CODE]...` (POST /v1/lifecycles,
// then waits for the run's end unless --detach), `sbx lifecycle status (--run-id ID |
// --sandbox-id ID)`, `sbx lifecycle list [--state S]` (docs/events.md).
#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "common/util.h"

namespace sbx::cli {
namespace {

std::string Base64(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

// Polls a run until it is no longer `running`; the final run JSON. Shared with workflow.cc.
Result<OJson> WaitForRun(Client& client, const std::string& run_id) {
  for (;;) {
    ASSIGN_OR_RETURN(OJson run, client.CallJson("GET", "/v1/lifecycles/" + PercentEncode(run_id),
                                                nullptr, kDefaultTimeoutS));
    if (StringField(run, "state") != "running") return run;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// A finished run as the command's outcome: success and exit 0 when it succeeded, exit 1 when
// it ran but failed (as exec does for code that did not complete).
Outcome RunOutcome(const OJson& run) {
  bool ok = StringField(run, "state") == "succeeded" || StringField(run, "state") == "running";
  Outcome o;
  o.body = WithSuccessFirst(run, ok);
  o.body["success"] = ok;  // the daemon's answer to GET says true: the request succeeded
  if (!ok) {
    o.exit_code = kExitCodeFailed;
    o.stderr_line = "sbx: lifecycle run " + StringField(run, "id") + " ended " +
                    StringField(run, "state") + ": " + StringField(run, "error");
  }
  return o;
}

CLI::App* AddLifecycleCommand(CLI::App& app, LifecycleArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "lifecycle", "Run scripts in a fresh sandbox with retries, timeout, monitoring, cleanup");
  sub->require_subcommand(1, 1);
  CLI::App* create = sub->add_subcommand(
      "create", "Create a sandbox, upload files, run the scripts in order; waits for the end");
  create->add_option("--sandbox-id,--id", args.sandbox_id, "Sandbox id (default: generated)");
  create->add_option("--template", args.template_name, "Template (default python)");
  create->add_option("--timeout", args.timeout, "Seconds for the whole run (default 300)");
  create->add_option("--max-retries", args.max_retries, "Retries of a failing script (default 3)");
  create->add_option("--retry-delay", args.retry_delay, "Seconds between attempts (default 5)");
  create->add_option("--monitor-interval", args.monitor_interval,
                     "Seconds between monitor samples (default 5, 0: off)");
  create->add_option("--cleanup-on-error", args.cleanup_on_error,
                     "Remove the sandbox when the run fails (default true)")
      ->check(CLI::IsMember({"true", "false"}));
  create->add_flag("--no-webhooks", args.no_webhooks, "Store and stream the events, send none");
  create->add_option("--language", args.language, "Language of the scripts (default python)");
  create->add_option("--script", args.scripts, "Code of a script (repeat, in order)");
  create->add_option("--script-file", args.script_files, "A file holding a script (after --script)");
  create->add_option("--env", args.env, "NAME=VALUE for the sandbox and scripts (repeat)");
  create->add_option("--file", args.files, "LOCAL:/REMOTE file to upload first (repeat)");
  create->add_flag("--detach", args.detach, "Print the started run at once, do not wait");
  create->callback([&args] { args.action = "create"; });
  CLI::App* status = sub->add_subcommand("status", "One run: state, every attempt, samples");
  status->add_option("--run-id,run_id", args.run_id, "The run (run_...)");
  status->add_option("--sandbox-id,--id", args.sandbox_id, "The newest run of this sandbox");
  status->callback([&args] { args.action = "status"; });
  CLI::App* list = sub->add_subcommand("list", "Runs, newest first");
  list->add_option("--state", args.state, "running, succeeded, failed, timeout, interrupted");
  list->add_option("--sandbox-id,--id", args.sandbox_id, "Only runs of this sandbox");
  list->add_option("--limit", args.limit, "At most this many (default 20)");
  list->callback([&args] { args.action = "list"; });
  return sub;
}

Result<nlohmann::json> PlanLifecycle(const LifecycleArgs& args) {
  nlohmann::json j = {{"template", args.template_name}};
  if (!args.sandbox_id.empty()) {
    RETURN_IF_ERROR(spec::ValidateSandboxId(args.sandbox_id));
    j["sandbox_id"] = args.sandbox_id;
  }
  if (args.timeout) j["timeout"] = SecondsJson(*args.timeout);
  if (args.max_retries) j["max_retries"] = *args.max_retries;
  if (args.retry_delay) j["retry_delay"] = SecondsJson(*args.retry_delay);
  if (args.monitor_interval) j["monitor_interval"] = SecondsJson(*args.monitor_interval);
  if (!args.cleanup_on_error.empty()) j["cleanup_on_error"] = args.cleanup_on_error == "true";
  if (args.no_webhooks) j["enable_webhooks"] = false;
  ASSIGN_OR_RETURN(spec::Env env, ParseEnvFlags(args.env));
  if (!env.empty()) j["environment"] = env;
  nlohmann::json scripts = nlohmann::json::array();
  for (const auto& code : args.scripts)
    scripts.push_back({{"language", args.language}, {"code", code}});
  for (const auto& path : args.script_files) {
    auto code = ReadFile(path);
    if (!code.ok())
      return MakeError(ErrorCode::kInvalidArgument, "--script-file " + path + ": " +
                                                        code.error().message);
    scripts.push_back({{"language", args.language}, {"code", *code}});
  }
  if (scripts.empty())
    return MakeError(ErrorCode::kInvalidArgument, "give at least one --script or --script-file");
  j["scripts"] = scripts;
  if (!args.files.empty()) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : args.files) {
      ASSIGN_OR_RETURN(FileMapping m, ParseFileMapping(f));
      auto data = ReadFile(m.local);
      if (!data.ok())
        return MakeError(ErrorCode::kInvalidArgument, "--file " + m.local + ": " +
                                                          data.error().message);
      files.push_back({{"path", m.remote}, {"content_base64", Base64(*data)}});
    }
    j["files"] = files;
  }
  return j;
}

Outcome RunLifecycle(Client& client, const LifecycleArgs& args) {
  if (args.action == "create") {
    auto body = PlanLifecycle(args);
    if (!body.ok()) return ErrorOutcome(body.error());
    auto run = client.CallJson("POST", "/v1/lifecycles", *body, kDefaultTimeoutS);
    if (!run.ok()) return ErrorOutcome(run.error());
    if (args.detach) return SuccessOutcome(*run);
    auto done = WaitForRun(client, StringField(*run, "id"));
    if (!done.ok()) return ErrorOutcome(done.error());
    return RunOutcome(*done);
  }
  if (args.action == "status") {
    if (!args.run_id.empty()) {
      auto r = client.CallJson("GET", "/v1/lifecycles/" + PercentEncode(args.run_id), nullptr,
                               kDefaultTimeoutS);
      if (!r.ok()) return ErrorOutcome(r.error());
      return SuccessOutcome(*r);
    }
    if (args.sandbox_id.empty())
      return UsageOutcome("lifecycle status: give --run-id ID or --sandbox-id ID");
    auto r = client.CallJson("GET", "/v1/lifecycles?limit=1&sandbox_id=" +
                                        PercentEncode(args.sandbox_id), nullptr, kDefaultTimeoutS);
    if (!r.ok()) return ErrorOutcome(r.error());
    if (!r->contains("runs") || (*r)["runs"].empty())
      return ErrorOutcome(MakeError(ErrorCode::kNotFound,
                                    "no lifecycle run of sandbox '" + args.sandbox_id + "'"));
    return SuccessOutcome((*r)["runs"][0]);
  }
  std::string target = "/v1/lifecycles?limit=" + std::to_string(args.limit);
  if (!args.state.empty()) target += "&state=" + PercentEncode(args.state);
  if (!args.sandbox_id.empty()) target += "&sandbox_id=" + PercentEncode(args.sandbox_id);
  auto r = client.CallJson("GET", target, nullptr, kDefaultTimeoutS);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
