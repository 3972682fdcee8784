// commands: the verbs of sbx. Each verb has its own file (create.cc, exec.cc, ...) with
//   Add<Verb>Command  registers its flags on the CLI11 app, filling <Verb>Args,
//   Plan<Verb>        turns the args into the HTTP request (pure; validated with spec/),
//   Run<Verb>         talks to the daemon and returns the Outcome to print.
// Errors found in Plan are values of the daemon's codes (invalid_argument ...); forms that do
// not parse at all (--env FOO, --file x) are rejected by CLI11 as usage errors.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/output.h"
#include "common/result.h"

namespace sbx::cli {

// HTTP timeouts. Creating may start a template (image, packages, startup): allow 10 minutes.
inline constexpr double kCreateTimeoutS = 600;
inline constexpr double kExecTimeoutMarginS = 30;
inline constexpr double kDefaultTimeoutS = 60;

// A CLI11 check that runs one of the args.h parsers on each value; its message becomes a usage
// error.
// CLI11 names the flag itself, so a leading "<flag> " of the message is dropped.
template <typename Parser>
CLI::Validator FormCheck(Parser parser, std::string flag, std::string description) {
  return CLI::Validator(
      [parser, flag](std::string& value) -> std::string {
        auto r = parser(value);
        if (r.ok()) return std::string();
        std::string msg = r.error().message;
        for (const std::string& prefix : {flag + ": ", flag + " "})
          if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
        return msg;
      },
      std::move(description));
}

// A number of seconds as JSON: an integer when it is one (300, not 300.0).
nlohmann::json SecondsJson(double s);

// Rewrites spec/'s "request.timeout: ..." as "--timeout: ..." so messages name the flag.
Error AsFlagError(Error e);

// ---- create ----
struct CreateArgs {
  std::string template_name;
  std::string sandbox_id;
  std::vector<std::string> env;
  std::vector<std::string> files;
  std::optional<double> timeout;
  std::string file_user = "user";
};
struct CreatePlan {
  nlohmann::json request;  // body of POST /v1/sandboxes
  std::vector<FileMapping> files;
  std::string file_user;
};
CLI::App* AddCreateCommand(CLI::App& app, CreateArgs& args);
Result<CreatePlan> PlanCreate(const CreateArgs& args);
Outcome RunCreate(Client& client, const CreatePlan& plan);

// ---- exec ----
struct ExecArgs {
  std::string sandbox_id;
  std::string language = "python";
  std::optional<std::string> code;
  std::string code_file;  // "-": standard input
  std::optional<double> timeout;
  std::vector<std::string> env;
  std::string cwd;
  std::string user;
};
struct ExecPlan {
  std::string sandbox_id;
  nlohmann::json request;  // body of POST /v1/sandboxes/{id}/exec
  double http_timeout_s = 0;
};
CLI::App* AddExecCommand(CLI::App& app, ExecArgs& args);
// `code` is the code to run (from --code, or read from --code-file by the caller).
Result<ExecPlan> PlanExec(const ExecArgs& args, const std::string& code);
// Reads --code-file (or standard input for "-") or takes --code.
Result<std::string> LoadCode(const ExecArgs& args);
// Exit status for an ExecResult: 0 completed, 1 other statuses, 2 not an ExecResult.
int ExecExitCode(const OJson& result);
Outcome RunExec(Client& client, const ExecArgs& args);

// ---- status, templates ----
struct StatusArgs {
  std::string sandbox_id;  // empty: all sandboxes
  std::string state;       // list filter
};
CLI::App* AddStatusCommand(CLI::App& app, StatusArgs& args);
Result<std::string> PlanStatus(const StatusArgs& args);  // the GET target
Outcome RunStatus(Client& client, const StatusArgs& args);
CLI::App* AddTemplatesCommand(CLI::App& app);
Outcome RunTemplates(Client& client);

// ---- stop, cleanup ----
struct IdArgs {
  std::string sandbox_id;
};
CLI::App* AddStopCommand(CLI::App& app, IdArgs& args);
Outcome RunStop(Client& client, const IdArgs& args);
CLI::App* AddCleanupCommand(CLI::App& app, IdArgs& args);
Outcome RunCleanup(Client& client, const IdArgs& args);

// ---- cp ----
struct CpArgs {
  std::string source;
  std::string dest;
  std::string user = "user";
};
CLI::App* AddCpCommand(CLI::App& app, CpArgs& args);
// A download into an existing local directory goes to DIR/<base name of the remote path>.
std::string ResolveDownloadPath(const CpPlan& plan);
Outcome RunCp(Client& client, const CpPlan& plan, const std::string& user);

}  // namespace sbx::cli
