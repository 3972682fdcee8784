// exec: `sbx exec` -- POST /v1/sandboxes/{id}/exec and print the ExecResult as the daemon sent
// it. The exit status tells a script what happened without parsing: 0 the code completed,
// 1 it ran and failed (non-zero exit, timeout, oom, killed, could not start), 2 sbx could not
// run it at all (bad flags, unknown sandbox, no daemon).
//
// --stream asks for NDJSON events and writes the code's stdout and stderr to sbx's own as they
// arrive, with the same exit status and no JSON. It is never chosen by itself (on a terminal
// or not), so what a command prints does not depend on where it runs. --background prints
// {"execution_id": ...} at once; `sbx execution` (execution.cc) waits, streams, kills.
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
      "Wall-clock limit in seconds; every process the code started is killed at expiry (default: 60)");
  sub->add_option("--env,-e", args.env, "Environment variable NAME=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(FormCheck(ParseEnvAssignment, "--env", "NAME=VALUE"));
  sub->add_option("--cwd", args.cwd, "Working directory in the sandbox (default: the home)");
  sub->add_option("--user", args.user, "Run as 'user' (default) or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  CLI::Option* stream = sub->add_flag(
      "--stream", args.stream,
      "Write the code's stdout and stderr here as they arrive instead of the JSON result "
      "(exit status as without it)");
  CLI::Option* background = sub->add_flag(
      "--background", args.background,
      "Start it and print its execution_id at once (see `sbx execution`)");
  stream->excludes(background);
  CLI::Option* stdin_text = sub->add_option_function<std::string>(
      "--stdin", [&args](const std::string& v) { args.stdin_text = v; },
      "Text for the code's standard input (then end-of-file)");
  CLI::Option* stdin_file = sub->add_option(
      "--stdin-file", args.stdin_file,
      "The code's standard input from this local file ('-': sbx's standard input)");
  stdin_text->excludes(stdin_file);
  sub->add_flag("--stdin-open", args.stdin_open,
                "Keep the code's stdin open after --stdin, for `sbx execution input`");
  sub->footer(
      "Prints the ExecResult: {\"success\", \"sandbox_id\", \"execution_id\", \"status\", "
      "\"exit_code\", \"stdout\", \"stderr\", \"execution_time\", ...}.\n"
      "Exit status: 0 when status is \"completed\"; 1 when the code ran but did not complete "
      "(failed, timeout, oom, killed, error: the JSON says why); 2 when sbx could not run it "
      "(usage, unknown sandbox, API error, daemon not running).\n"
      "--stream: the output as it arrives, no JSON; a status other than completed is told on "
      "stderr. --background: prints {\"success\", \"execution_id\", \"status\": \"running\"}.");
  return sub;
}

Result<std::string> ReadAllStdin() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return MakeError(ErrorCode::kInternal, "reading standard input failed");
  return text;
}

Result<std::string> LoadCode(const ExecArgs& args) {
  if (args.code) return *args.code;
  if (args.code_file == "-") return ReadAllStdin();
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
  // How to run it (not part of the ExecRequest spec/ checks).
  if (args.stdin_text) req["stdin"] = *args.stdin_text;
  if (args.stdin_open) req["stdin_open"] = true;
  if (args.stream) req["stream"] = true;
  if (args.background) {
    req["background"] = true;
    plan.http_timeout_s = kDefaultTimeoutS;
  }
  plan.request = std::move(req);
  return plan;
}

int ExecExitCode(const OJson& result) {
  std::string status = StringField(result, "status");
  Result<spec::ExecStatus> st = spec::ParseExecStatus(status);
  if (!st.ok()) return kExitError;
  return *st == spec::ExecStatus::kCompleted ? kExitOk : kExitCodeFailed;
}

Outcome RunExec(Client& client, const ExecArgs& args, const StreamOut& io) {
  if (args.code_file == "-" && args.stdin_file == "-")
    return UsageOutcome("exec: --code-file - and --stdin-file - both want sbx's standard input");
  Result<std::string> code = LoadCode(args);
  if (!code.ok()) return ErrorOutcome(code.error());
  Result<ExecPlan> plan = PlanExec(args, *code);
  if (!plan.ok()) return ErrorOutcome(plan.error());
  if (!args.stdin_file.empty()) {
    Result<std::string> input = args.stdin_file == "-" ? ReadAllStdin() : ReadFile(args.stdin_file);
    if (!input.ok())
      return FailureOutcome("invalid_argument",
                            "--stdin-file: cannot read '" + args.stdin_file + "'");
    plan->request["stdin"] = *input;
  }
  const std::string target = "/v1/sandboxes/" + plan->sandbox_id + "/exec";
  if (args.stream) {
    HttpRequest req;
    req.method = "POST";
    req.target = target;
    req.content_type = "application/json";
    req.body = plan->request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.timeout_s = plan->http_timeout_s;
    req.stall_timeout_s = 60;  // the daemon sends a keep-alive line every 15 s
    std::string execution_id;
    Result<OJson> result = ReadExecStream(client, std::move(req), io, &execution_id);
    return StreamedOutcome(result, execution_id);
  }
  Result<OJson> result = client.CallJson("POST", target, plan->request, plan->http_timeout_s);
  if (!result.ok()) return ErrorOutcome(result.error());
  if (args.background) return SuccessOutcome(*result);
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
