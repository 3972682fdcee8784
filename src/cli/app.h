// app: sbx's command line as a whole -- global options, the verbs, parsing with CLI11 and
// dispatching to the verb files (commands.h). Nothing here throws: CLI11 and nlohmann
// exceptions are caught at this boundary and become usage / internal errors printed as JSON.
//
// Global options may come before or after the verb:
//   --socket PATH   (env SANDBOXD_SOCKET, default /run/sandboxd/sandboxd.sock)
//   --url URL       (env SANDBOXD_URL; TCP instead of the socket)
//   --api-key KEY   (env SANDBOXD_API_KEY, then E2B_API_KEY; sent as X-API-Key)
//   --cacert FILE   (env SBX_CACERT; with an https:// URL: the CA to verify sandboxd with)
//   --insecure      (with an https:// URL: no certificate check; never from the environment)
//   --pretty / --compact  (JSON indented by 2, the default / on one line)
// A flag beats an environment variable; --socket and --url together are a usage error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "client/http_client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/result.h"

namespace sbx::cli {

enum class Verb { kNone, kCreate, kExec, kExecution, kStatus, kStop, kCleanup, kCp, kTemplates, kTemplate, kStats,
                  kLifecycle, kWorkflow, kWebhooks, kEvents, kKeys, kHistory, kExtend,
                  kUpload, kDownload, kPause, kResume };

struct GlobalArgs {
  std::string socket;
  std::string url;
  std::string api_key;
  std::string cacert;
  bool insecure = false;
  bool pretty = false;
  bool compact = false;
};

struct ParsedCommand {
  Verb verb = Verb::kNone;
  GlobalArgs global;
  CreateArgs create;
  ExecArgs exec;
  ExecutionArgs execution;
  StatusArgs status;
  IdArgs stop;
  IdArgs cleanup;
  CpArgs cp;
  TemplateArgs tmpl;
  LifecycleArgs lifecycle;
  WorkflowArgs workflow;
  WebhooksArgs webhooks;
  EventsArgs events;
  StatsArgs stats;
  KeysArgs keys;
  HistoryArgs history;
  ExtendArgs extend;
  IdArgs pause;
  ResumeArgs resume;
  CpPlan cp_plan;  // from cp's SOURCE and DEST
  UploadArgs upload;
  DownloadArgs download;
};

struct ParseResult {
  enum class Kind { kRun, kHelp, kUsageError };
  Kind kind = Kind::kRun;
  std::string text;  // kHelp: the text for stdout; kUsageError: the message
};

// Owns the CLI11 app and the storage its options write to. Parse once.
class CommandLine {
 public:
  CommandLine();
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // args without the program name.
  ParseResult Parse(const std::vector<std::string>& args);
  const ParsedCommand& command() const { return cmd_; }

 private:
  std::unique_ptr<CLI::App> app_;
  ParsedCommand cmd_;
};

// The environment, injectable for tests (std::getenv in production).
using EnvLookup = std::function<const char*(const char*)>;

struct Connection {
  Endpoint endpoint;
  std::string api_key;
};
// Where to connect and with which key, from the flags and the environment.
Result<Connection> ResolveConnection(const GlobalArgs& global, const EnvLookup& env);

// Runs a parsed command against the daemon.
Outcome Dispatch(const ParsedCommand& cmd, Client& client);

// The whole program: parses, runs, fills *out and *err, returns the exit status.
int RunCli(const std::vector<std::string>& args, const EnvLookup& env, std::string* out,
           std::string* err);

}  // namespace sbx::cli
