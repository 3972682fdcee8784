// exec: `sbx exec` -- POST /v1/sandboxes/{id}/exec and print the ExecResult as the daemon sent
// it. The exit status tells a script what happened without parsing: 0 the code completed,
// 1 it ran and failed (non-zero exit, timeout, oom, killed, could not start), 2 sbx could not
// run it at all (bad flags, unknown sandbox, no daemon).
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "common/util.h"
#include "spec/spec.h"

namespace sbx::cli {

CLI::App* AddExecCommand(CLI::App& app, ExecArgs& args) {
  CLI::App* sub = app.add_subcommand("exec", "Run code in a sandbox");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "Sandbox to run in")->required();
  sub->add_option("--language,-l", args.language, "python, node, bash or sh (default: python)");
  CLI::Option* code = sub->add_option_function<std::string>(
      "--code,-c", [&args](const std::string& v) { args.code = v; },
      "The code, passed to the interpreter as one argument (python3 -c CODE)");
  CLI::Option* file = sub->add_option("--code-file", args.code_file,
                                      "Read the code from this local file ('-': standard input)");
  code->excludes(file);
  sub->add_option_function<double>(
      "--timeout", [&args](const double& v) { args.timeout = v; },
      "Wall-clock limit in seconds; the whole process tree is killed at expiry (default: 60)");
  sub->add_option("--env,-e", args.env, "Environment variable NAME=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(FormCheck(ParseEnvAssignment, "--env", "NAME=VALUE"));
  sub->add_option("--cwd", args.cwd, "Working directory in the sandbox (default: the home)");
  sub->add_option("--user", args.user, "Run as 'user' (default) or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  sub->footer(
      "Prints the ExecResult: {\"success\", \"sandbox_id\", \"execution_id\", \"status\", "
      "\"exit_code\", \"stdout\", \"stderr\", \"execution_time\", ...}.\n"
      "Exit status: 0 when status is \"completed\"; 1 when the code ran but did not complete "
      "(failed, timeout, oom, killed, error: the JSON says why); 2 when sbx could not run it "
      "(usage, unknown sandbox, API error, daemon not running).");
  return sub;
}

Result<std::string> LoadCode(const ExecArgs& args) {
  if (args.code) return *args.code;
  if (args.code_file == "-") {
    std::string code((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::cin.bad())
      return MakeError(ErrorCode::kInternal, "reading the code from stdin failed");
    return code;
  }
  if (!args.code_file.empty()) {
    Result<std::string> text = ReadFile(args.code_file);
    if (!text.ok()) {
      Error e = std::move(text).error();
      e.message = "--code-file: cannot read '" + args.code_file + "'";
      return e;
    }
    return text;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "exec needs the code to run: --code \"...\" or --code-file PATH");
}

Result<ExecPlan> PlanExec(const ExecArgs& args, const std::string& code) {
  ExecPlan plan;
  RETURN_IF_ERROR(spec::ValidateSandboxId(args.sandbox_id));
  plan.sandbox_id = args.sandbox_id;
  nlohmann::json req = nlohmann::json::object();
  req["language"] = args.language;
  req["code"] = code;
  if (args.timeout) req["timeout"] = SecondsJson(*args.timeout);
  ASSIGN_OR_RETURN(spec::Env env, ParseEnvFlags(args.env));
  if (!env.empty()) req["env"] = env;
  if (!args.cwd.empty()) req["cwd"] = args.cwd;
  if (!args.user.empty()) req["user"] = args.user;
  // The daemon's own validator: same rules, same messages.
  Result<spec::ExecRequest> checked = spec::ExecRequestFromJson(req);
  if (!checked.ok()) {
    Error e = AsFlagError(std::move(checked).error());
    if (!args.code && !args.code_file.empty() && e.message.rfind("--code:", 0) == 0)
      e.message = "--code-file '" + args.code_file + "':" + e.message.substr(7);
    return e;
  }
  // Send the canonical language name ("py" -> "python").
  req["language"] = spec::LanguageName(checked->language);
  plan.http_timeout_s = checked->timeout_s + kExecTimeoutMarginS;
  plan.request = std::move(req);
  return plan;
}

int ExecExitCode(const OJson& result) {
  std::string status = StringField(result, "status");
  Result<spec::ExecStatus> st = spec::ParseExecStatus(status);
  if (!st.ok()) return kExitError;
  return *st == spec::ExecStatus::kCompleted ? kExitOk : kExitCodeFailed;
}

Outcome RunExec(Client& client, const ExecArgs& args) {
  Result<std::string> code = LoadCode(args);
  if (!code.ok()) return ErrorOutcome(code.error());
  Result<ExecPlan> plan = PlanExec(args, *code);
  if (!plan.ok()) return ErrorOutcome(plan.error());
  Result<OJson> result = client.CallJson("POST", "/v1/sandboxes/" + plan->sandbox_id + "/exec",
                                         plan->request, plan->http_timeout_s);
  if (!result.ok()) return ErrorOutcome(result.error());
  Outcome out;
  out.body = std::move(result).value();
  out.exit_code = ExecExitCode(out.body);
  if (out.exit_code == kExitError) {
    return FailureOutcome(
        "internal",
        "sandboxd answered exec without a known status: " +
            out.body.dump(-1, ' ', false, OJson::error_handler_t::replace).substr(0, 300));
  }
  return out;
}

}  // namespace sbx::cli
