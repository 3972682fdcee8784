// commands: the verbs of sbx. Each verb has its own file (create.cc, exec.cc, ...) with
//   Add<Verb>Command  registers its flags on the CLI11 app, filling <Verb>Args,
//   Plan<Verb>        turns the args into the HTTP request (pure; validated with spec/),
//   Run<Verb>         talks to the daemon and returns the Outcome to print.
// Errors found in Plan are values of the daemon's codes (invalid_argument ...); forms that do
// not parse at all (--env FOO, --file x) are rejected by CLI11 as usage errors.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "client/http_client.h"
#include "client/batch.h"
#include "client/transfer.h"
#include "cli/output.h"
#include "common/result.h"

namespace sbx::cli {

// The CLI is built on the client library (src/client); its names are used unqualified here.
using client::Client;
using client::Endpoint;
using client::ErrorCodeFromHttpStatus;
using client::ErrorCodeFromName;
using client::ErrorFromHttp;
using client::HttpRequest;
using client::HttpResponse;
using client::kDefaultSocket;
using client::Sink;
using client::Source;
using client::TransportError;
using client::CheckReadableFile;
using client::DownloadFile;
using client::Sha256;
using client::Sha256Hex;
using client::TransferResult;
using client::UploadFile;

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
  bool stream = false;      // --stream: the code's output to the terminal as it arrives
  bool background = false;  // --background: start it and print its execution id
  std::optional<std::string> stdin_text;  // --stdin TEXT
  std::string stdin_file;                 // --stdin-file PATH ("-": standard input)
  bool stdin_open = false;  // --stdin-open: keep stdin open for `sbx execution input`
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
// All of sbx's standard input.
Result<std::string> ReadAllStdin();
// Exit status for an ExecResult: 0 completed, 1 other statuses, 2 not an ExecResult.
int ExecExitCode(const OJson& result);
// Where a streamed execution's output goes as it arrives (the terminal in the program).
struct StreamOut {
  std::function<void(std::string_view)> out;  // the code's stdout
  std::function<void(std::string_view)> err;  // the code's stderr, and sbx's notes
};
// With --stream the output goes to `io` and the Outcome has a null body (nothing more is
// printed on stdout; a status other than completed is told on stderr).
Outcome RunExec(Client& client, const ExecArgs& args, const StreamOut& io = {});

// ---- execution (execution.cc): executions by id, GET/POST /v1/executions/{id}/... ----
struct ExecutionArgs {
  std::string action;  // show, wait, stream, kill, input
  std::string id;
  std::optional<double> timeout;  // wait: give up after this many seconds (default: none)
  std::string signal = "SIGKILL";
  std::optional<std::string> data;  // input
  std::string data_file;            // input: from a local file ("-": standard input)
  bool eof = false;                 // input: close stdin afterwards
};
CLI::App* AddExecutionCommand(CLI::App& app, ExecutionArgs& args);
Outcome RunExecution(Client& client, const ExecutionArgs& args, const StreamOut& io);
// Reads the NDJSON events of an execution (POST .../exec with "stream", GET .../stream),
// writing its output to `io` as it arrives. Returns the result event (without "type");
// *execution_id is set from the start event.
Result<OJson> ReadExecStream(Client& client, HttpRequest req, const StreamOut& io,
                             std::string* execution_id);
// The Outcome of a streamed execution's result (see RunExec).
Outcome StreamedOutcome(const Result<OJson>& result, const std::string& execution_id);

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

// ---- pause, resume ----
CLI::App* AddPauseCommand(CLI::App& app, IdArgs& args);
Outcome RunPause(Client& client, const IdArgs& args);
struct ResumeArgs {
  std::string sandbox_id;
  int64_t timeout_s = 0;  // 0: no --timeout
};
CLI::App* AddResumeCommand(CLI::App& app, ResumeArgs& args);
Outcome RunResume(Client& client, const ResumeArgs& args);

// ---- history, extend ----
struct HistoryArgs {
  int limit = 50;
  std::string sandbox_id;
  std::string status;
};
CLI::App* AddHistoryCommand(CLI::App& app, HistoryArgs& args);
// One record of GET /v1/executions with the guide's fields first (timestamp, command, status,
// exit_code, execution_time), then the others as the daemon sent them.
OJson HistoryRecordJson(const OJson& record);
Outcome RunHistory(Client& client, const HistoryArgs& args);
struct ExtendArgs {
  std::string sandbox_id;
  int64_t timeout_s = 0;
};
CLI::App* AddExtendCommand(CLI::App& app, ExtendArgs& args);
Outcome RunExtend(Client& client, const ExtendArgs& args);

// ---- template ----
struct TemplateArgs {
  std::string action;  // list, show, build, rm
  std::string name;
  bool force = false;
};
// Where build progress lines go as they arrive (stderr in the program).
using ProgressOut = std::function<void(std::string_view line)>;
CLI::App* AddTemplateCommand(CLI::App& app, TemplateArgs& args);
Outcome RunTemplate(Client& client, const TemplateArgs& args, const ProgressOut& progress);

// ---- keys (docs/auth.md; unix socket only) ----
struct KeysArgs {
  std::string action;  // create, list, revoke, rotate
  std::string id;
  std::string tenant;
  std::string name;
  std::optional<int> ttl_days;
  std::string format;  // create: sbx or e2b
  std::optional<int> overlap_hours;
};
CLI::App* AddKeysCommand(CLI::App& app, KeysArgs& args);
Outcome RunKeys(Client& client, const KeysArgs& args);

// ---- stats ----
struct StatsArgs {
  bool no_stream = false;
  bool json = false;
  double interval_s = 1;
};
CLI::App* AddStatsCommand(CLI::App& app, StatsArgs& args);
// The docker-stats-like table of GET /v1/stats (one row per sandbox, then the host).
std::string FormatStatsTable(const OJson& overview);
std::string FormatBytes(double bytes);  // "512MiB", "1.50GiB"
// Prints through `write` (stdout) and returns an Outcome with a null body, except with
// --json --no-stream, which returns the one JSON document as every other command does.
// (ProgressOut is declared above, with the template verb.)
Outcome RunStats(Client& client, const StatsArgs& args, const ProgressOut& write);
struct CpArgs {
  std::string source;
  std::string dest;
  std::string user = "user";
};
CLI::App* AddCpCommand(CLI::App& app, CpArgs& args);
// A download into an existing local directory goes to DIR/<base name of the remote path>.
std::string ResolveDownloadPath(const CpPlan& plan);
Outcome RunCp(Client& client, const CpPlan& plan, const std::string& user);

// ---- upload, download (upload.cc, download.cc): batches of files (client/batch.h) ----
struct UploadArgs {
  std::string sandbox_id;
  std::vector<std::string> locals;
  std::string to;  // directory in the sandbox; "": the user's home
  std::string user = "user";
};
CLI::App* AddUploadCommand(CLI::App& app, UploadArgs& args);
Outcome RunUpload(Client& client, const UploadArgs& args);
struct DownloadArgs {
  std::string sandbox_id;
  std::vector<std::string> remotes;
  std::string to = ".";  // local directory
  std::string user = "user";
};
CLI::App* AddDownloadCommand(CLI::App& app, DownloadArgs& args);
Outcome RunDownload(Client& client, const DownloadArgs& args);
// What upload and download print: {"success", "sandbox_id", "batch", "compressed", "count",
// "files", "directories", "skipped", "transferred_size"}.
OJson BatchResultJson(const client::BatchResult& r);

// ---- lifecycle, workflow, webhooks, events (docs/events.md) ----
struct LifecycleArgs {
  std::string action;  // create, status, list
  std::string run_id;
  std::string sandbox_id;
  std::string template_name = "python";
  std::optional<double> timeout, retry_delay, monitor_interval;
  std::optional<int> max_retries;
  std::string cleanup_on_error;  // "", true, false
  bool no_webhooks = false;
  std::string language = "python";  // of every --script
  std::vector<std::string> scripts;
  std::vector<std::string> script_files;
  std::vector<std::string> env;
  std::vector<std::string> files;
  bool detach = false;  // create: print the run at once instead of waiting for its end
  std::string state;
  int limit = 20;
};
CLI::App* AddLifecycleCommand(CLI::App& app, LifecycleArgs& args);
// The body of POST /v1/lifecycles (reads --script-file and --file).
Result<nlohmann::json> PlanLifecycle(const LifecycleArgs& args);
Outcome RunLifecycle(Client& client, const LifecycleArgs& args);

struct WorkflowArgs {
  std::string action;  // create, list, show, run, history, rm
  std::string name;
  std::string trigger = "manual";
  std::string cron, source, event, repository, branch;
  std::string template_name;
  std::string language = "python";
  std::vector<std::string> scripts;
  std::optional<double> timeout, retry_delay;
  std::optional<int> max_retries;
  bool wait = false;  // run: wait for the run's end
  int limit = 20;
};
CLI::App* AddWorkflowCommand(CLI::App& app, WorkflowArgs& args);
Result<nlohmann::json> PlanWorkflowCreate(const WorkflowArgs& args);
Outcome RunWorkflow(Client& client, const WorkflowArgs& args);

struct WebhooksArgs {
  std::string action;  // create, list, show, rm, enable, disable, deliveries, redeliver, stats
  std::string id;
  std::string kind = "generic";
  std::string url, secret, repository, token, api_base, description;
  std::vector<std::string> events;
  std::string state;
  int64_t delivery_id = 0;
  int limit = 50;
};
CLI::App* AddWebhooksCommand(CLI::App& app, WebhooksArgs& args);
Result<nlohmann::json> PlanWebhookCreate(const WebhooksArgs& args);
Outcome RunWebhooks(Client& client, const WebhooksArgs& args);

struct EventsArgs {
  std::string type;
  std::string sandbox_id;
  std::optional<int64_t> since_id;  // list: after this id; --follow: resume after it
  int limit = 50;
  bool follow = false;  // stream live events, one JSON line each on stdout
  int max_events = 0;   // --follow: end after this many (0: until interrupted)
};
CLI::App* AddEventsCommand(CLI::App& app, EventsArgs& args);
// `out` receives each streamed event as a line (stdout in the program).
Outcome RunEvents(Client& client, const EventsArgs& args, const ProgressOut& out);

}  // namespace sbx::cli
