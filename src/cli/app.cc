// app: global options, CLI11 parsing, dispatch and the no-exceptions boundary (see app.h).
#include "cli/app.h"

#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>

#ifndef SBX_VERSION
#define SBX_VERSION "0.0.0"
#endif

namespace sbx::cli {
namespace {

constexpr char kDescription[] =
    "sbx: command-line client of sandboxd, the self-hosted sandbox daemon.\n"
    "Every command prints one JSON document on stdout.";

constexpr char kFooter[] =
    "Exit status: 0 success; 1 (exec only) the code ran but did not complete -- failed, "
    "timeout, oom, killed; 2 any error: usage, invalid values, API errors, daemon not "
    "running.\nErrors print {\"success\": false, \"error\": \"...\", \"error_code\": \"...\"} on "
    "stdout and one line on stderr. error_code is the daemon's (not_found, already_exists, "
    "invalid_argument, ...) or sbx's own: usage, unavailable (no daemon).\n"
    "Environment: SANDBOXD_SOCKET, SANDBOXD_URL, SANDBOXD_API_KEY (or E2B_API_KEY), "
    "SBX_CACERT.";

constexpr char kVerbList[] = "create, exec, execution, status, stop, cleanup, cp, templates, template, stats, lifecycle, workflow, webhooks, events, keys, history, extend, pause, resume, upload, download";

// Writes what a command streams (output, progress, events) to f as it arrives, unbuffered.
std::function<void(std::string_view)> WriterTo(FILE* f) {
  return [f](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fflush(f);
  };
}

// A streamed execution's output goes straight to sbx's stdout and stderr.
StreamOut TerminalStreams() { return StreamOut{WriterTo(stdout), WriterTo(stderr)}; }

}  // namespace

CommandLine::CommandLine() : app_(std::make_unique<CLI::App>(kDescription, "sbx")) {
  CLI::App& app = *app_;
  app.fallthrough();  // global options are accepted after the verb too
  app.set_version_flag("--version", "sbx " SBX_VERSION);
  app.add_option(
      "--socket", cmd_.global.socket,
      std::string("Unix socket of sandboxd (env SANDBOXD_SOCKET, default ") + kDefaultSocket + ")");
  app.add_option("--url", cmd_.global.url,
                 "Talk TCP to sandboxd at this URL instead, e.g. http://127.0.0.1:8080 "
                 "(env SANDBOXD_URL)");
  app.add_option("--api-key", cmd_.global.api_key,
                 "API key, sent as X-API-Key (env SANDBOXD_API_KEY or E2B_API_KEY)");
  app.add_option("--cacert", cmd_.global.cacert,
                 "With an https:// --url: PEM file of the CA that signed sandboxd's certificate "
                 "(env SBX_CACERT; default: the system's CA store)");
  app.add_flag("--insecure", cmd_.global.insecure,
               "With an https:// --url: do not verify sandboxd's certificate (testing only)");
  CLI::Option* pretty =
      app.add_flag("--pretty", cmd_.global.pretty, "Indent the JSON output by 2 (default)");
  CLI::Option* compact =
      app.add_flag("--compact", cmd_.global.compact, "Print the JSON output on one line");
  pretty->excludes(compact);
  app.footer(kFooter);
  AddCreateCommand(app, cmd_.create);
  AddExecCommand(app, cmd_.exec);
  AddExecutionCommand(app, cmd_.execution);
  AddStatusCommand(app, cmd_.status);
  AddStopCommand(app, cmd_.stop);
  AddCleanupCommand(app, cmd_.cleanup);
  AddCpCommand(app, cmd_.cp);
  AddUploadCommand(app, cmd_.upload);
  AddDownloadCommand(app, cmd_.download);
  AddTemplatesCommand(app);
  AddTemplateCommand(app, cmd_.tmpl);
  AddKeysCommand(app, cmd_.keys);
  AddLifecycleCommand(app, cmd_.lifecycle);
  AddWorkflowCommand(app, cmd_.workflow);
  AddWebhooksCommand(app, cmd_.webhooks);
  AddEventsCommand(app, cmd_.events);
  AddStatsCommand(app, cmd_.stats);
  AddHistoryCommand(app, cmd_.history);
  AddExtendCommand(app, cmd_.extend);
  AddPauseCommand(app, cmd_.pause);
  AddResumeCommand(app, cmd_.resume);
  app.require_subcommand(0, 1);
}

CommandLine::~CommandLine() = default;

ParseResult CommandLine::Parse(const std::vector<std::string>& args) {
  using Kind = ParseResult::Kind;
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
  try {
    app_->parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      // --help, --help-all, --version: plain text on stdout.
      std::ostringstream out, err;
      app_->exit(e, out, err);
      std::string text = out.str() + err.str();
      if (!text.empty() && text.back() != '\n') text += '\n';
      return {Kind::kHelp, text};
    }
    std::string msg = e.what();
    std::vector<CLI::App*> subs = app_->get_subcommands();
    if (!subs.empty())
      msg = subs.front()->get_name() + ": " + msg;
    else if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr)
      msg += std::string(" (commands: ") + kVerbList + ")";
    return {Kind::kUsageError, msg};
  } catch (const std::exception& e) {
    return {Kind::kUsageError, e.what()};
  }

  std::vector<CLI::App*> subs = app_->get_subcommands();
  if (subs.empty())
    return {Kind::kUsageError, std::string("no command given; use one of ") + kVerbList};
  const std::string name = subs.front()->get_name();
  if (name == "create") cmd_.verb = Verb::kCreate;
  if (name == "exec") cmd_.verb = Verb::kExec;
  if (name == "execution") cmd_.verb = Verb::kExecution;
  if (name == "status") cmd_.verb = Verb::kStatus;
  if (name == "stop") cmd_.verb = Verb::kStop;
  if (name == "cleanup") cmd_.verb = Verb::kCleanup;
  if (name == "cp") cmd_.verb = Verb::kCp;
  if (name == "upload") cmd_.verb = Verb::kUpload;
  if (name == "download") cmd_.verb = Verb::kDownload;
  if (name == "templates") cmd_.verb = Verb::kTemplates;
  if (name == "template") cmd_.verb = Verb::kTemplate;
  if (name == "lifecycle") cmd_.verb = Verb::kLifecycle;
  if (name == "workflow") cmd_.verb = Verb::kWorkflow;
  if (name == "webhooks") cmd_.verb = Verb::kWebhooks;
  if (name == "events") cmd_.verb = Verb::kEvents;
  if (name == "stats") cmd_.verb = Verb::kStats;
  if (name == "keys") cmd_.verb = Verb::kKeys;
  if (name == "history") cmd_.verb = Verb::kHistory;
  if (name == "extend") cmd_.verb = Verb::kExtend;
  if (name == "pause") cmd_.verb = Verb::kPause;
  if (name == "resume") cmd_.verb = Verb::kResume;

  if (cmd_.verb == Verb::kExec && !cmd_.exec.code && cmd_.exec.code_file.empty())
    return {Kind::kUsageError,
            "exec: the code to run is missing: give --code \"...\" or "
            "--code-file PATH"};
  if (cmd_.verb == Verb::kCp) {
    Result<CpPlan> plan = ParseCpArgs(cmd_.cp.source, cmd_.cp.dest);
    if (!plan.ok()) return {Kind::kUsageError, plan.error().message};
    cmd_.cp_plan = std::move(plan).value();
  }
  return {Kind::kRun, ""};
}

Result<Connection> ResolveConnection(const GlobalArgs& global, const EnvLookup& env) {
  auto get = [&env](const char* name) -> std::string {
    const char* v = env ? env(name) : nullptr;
    return v ? std::string(v) : std::string();
  };
  if (!global.socket.empty() && !global.url.empty())
    return MakeError(ErrorCode::kInvalidArgument, "give --socket or --url, not both");
  Connection c;
  std::string url = global.url;
  std::string socket = global.socket;
  if (url.empty() && socket.empty()) {
    url = get("SANDBOXD_URL");
    if (url.empty()) socket = get("SANDBOXD_SOCKET");
    if (url.empty() && socket.empty()) socket = kDefaultSocket;
  }
  if (!url.empty()) {
    if (url.find("://") == std::string::npos) url = "http://" + url;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      return MakeError(
          ErrorCode::kInvalidArgument,
          "--url '" + url + "': expected http://HOST:PORT or https://HOST:PORT, e.g. "
          "http://127.0.0.1:8080");
    while (url.back() == '/') url.pop_back();
    c.endpoint.base_url = url;
  } else {
    c.endpoint.socket_path = socket;
  }
  // TLS options only mean something with https://; a flag given for another endpoint is a
  // mistake worth saying, the environment variable is simply not used there.
  bool https = c.endpoint.base_url.rfind("https://", 0) == 0;
  if (!https && (!global.cacert.empty() || global.insecure))
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(global.insecure ? "--insecure" : "--cacert") +
                         " needs an https:// --url (or SANDBOXD_URL)");
  if (https) {
    c.endpoint.ca_cert = global.cacert.empty() ? get("SBX_CACERT") : global.cacert;
    c.endpoint.insecure = global.insecure;
  }
  c.api_key = global.api_key;
  if (c.api_key.empty()) c.api_key = get("SANDBOXD_API_KEY");
  if (c.api_key.empty()) c.api_key = get("E2B_API_KEY");
  return c;
}

Outcome Dispatch(const ParsedCommand& cmd, Client& client) {
  switch (cmd.verb) {
    case Verb::kCreate: {
      Result<CreatePlan> plan = PlanCreate(cmd.create);
      if (!plan.ok()) return ErrorOutcome(plan.error());
      return RunCreate(client, *plan);
    }
    case Verb::kExec:
      return RunExec(client, cmd.exec, TerminalStreams());
    case Verb::kExecution:
      return RunExecution(client, cmd.execution, TerminalStreams());
    case Verb::kStatus:
      return RunStatus(client, cmd.status);
    case Verb::kStop:
      return RunStop(client, cmd.stop);
    case Verb::kCleanup:
      return RunCleanup(client, cmd.cleanup);
    case Verb::kCp:
      return RunCp(client, cmd.cp_plan, cmd.cp.user);
    case Verb::kUpload:
      return RunUpload(client, cmd.upload);
    case Verb::kDownload:
      return RunDownload(client, cmd.download);
    case Verb::kTemplates:
      return RunTemplates(client);
    case Verb::kTemplate:
      return RunTemplate(client, cmd.tmpl, WriterTo(stderr));
    case Verb::kStats:
      return RunStats(client, cmd.stats, WriterTo(stdout));
    case Verb::kLifecycle:
      return RunLifecycle(client, cmd.lifecycle);
    case Verb::kKeys:
      return RunKeys(client, cmd.keys);
    case Verb::kWorkflow:
      return RunWorkflow(client, cmd.workflow);
    case Verb::kWebhooks:
      return RunWebhooks(client, cmd.webhooks);
    case Verb::kEvents:
      return RunEvents(client, cmd.events, WriterTo(stdout));
    case Verb::kHistory:
      return RunHistory(client, cmd.history);
    case Verb::kExtend:
      return RunExtend(client, cmd.extend);
    case Verb::kPause:
      return RunPause(client, cmd.pause);
    case Verb::kResume:
      return RunResume(client, cmd.resume);
    case Verb::kNone:
      break;
  }
  return UsageOutcome(std::string("no command given; use one of ") + kVerbList);
}

int RunCli(const std::vector<std::string>& args, const EnvLookup& env, std::string* out,
           std::string* err) {
  bool pretty = true;
  Outcome o;
  try {
    CommandLine cl;
    ParseResult parsed = cl.Parse(args);
    const ParsedCommand& cmd = cl.command();
    pretty = !cmd.global.compact;
    if (parsed.kind == ParseResult::Kind::kHelp) {
      *out = parsed.text;
      return kExitOk;
    }
    if (parsed.kind == ParseResult::Kind::kUsageError) {
      o = UsageOutcome(parsed.text);
    } else {
      Result<Connection> conn = ResolveConnection(cmd.global, env);
      if (!conn.ok()) {
        o = UsageOutcome(conn.error().message);
      } else {
        Client client(conn->endpoint, conn->api_key);
        o = Dispatch(cmd, client);
        if (StringField(o.body, "error_code") == "unauthenticated" && conn->api_key.empty()) {
          std::string hint = " (no API key was sent: pass --api-key or set SANDBOXD_API_KEY)";
          o.body["error"] = StringField(o.body, "error") + hint;
          o.stderr_line += hint;
        }
      }
    }
  } catch (const std::exception& e) {
    o = FailureOutcome("internal", std::string("sbx failed unexpectedly: ") + e.what());
  } catch (...) {
    o = FailureOutcome("internal", "sbx failed unexpectedly");
  }
  // A null body: the command printed its own output (sbx stats' table, sbx exec --stream).
  if (!o.body.is_null()) *out = Render(o.body, pretty);
  if (!o.stderr_line.empty()) *err = o.stderr_line + "\n";
  return o.exit_code;
}

}  // namespace sbx::cli
