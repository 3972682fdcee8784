// sandbox_client: the guide's E2BSandboxManager as a C++ library -- create, execute, upload,
// download, status, list, stop, cleanup, execution history and lifetime extension -- over
// sandboxd's v1 API (docs/api.md), with typed results.
//
//   sbx::client::SandboxClient sbx({.socket_path = "/run/sandboxd/sandboxd.sock"}, "");
//   auto box = sbx.Create({.template_name = "python", .sandbox_id = "my_sandbox"});
//   auto run = sbx.Execute("my_sandbox", "import sys; print(sys.version)");
//   if (run.ok()) std::cout << run->stdout_data;   // run->status: completed, failed, timeout...
//   (void)sbx.Cleanup("my_sandbox");
//
// The guide's names map as: create_sandbox -> Create, execute_code -> Execute,
// file_handler.upload_file -> Upload, download_files -> Download (one file per call),
// get_execution_history -> History, cleanup_sandbox -> Cleanup; the CLI verbs status and stop
// -> Status / List and Stop; E2B's set_timeout -> ExtendTimeout.
//
// Errors are values: a call the daemon refuses returns an Error with the daemon's code and
// message as sent (not_found, invalid_argument, ...); no daemon is kUnavailable with what to
// do. What user code did is data: an execution that fails or times out is an ExecutionResult
// with that status, not an Error. Every result also keeps the daemon's answer as it came
// (`raw`), for callers that print it or need a field this version does not know.
//
// The parsers (Parse*) are pure functions of the JSON, exposed for tests and for callers that
// got the JSON elsewhere (events, webhooks).
//
// Thread safety: a SandboxClient is used by one thread at a time (as its Client).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/http_client.h"
#include "client/transfer.h"
#include "common/result.h"

namespace sbx::client {

using EnvMap = std::map<std::string, std::string>;

// The guide's create_sandbox(template_name, sandbox_id, custom_env, files) plus the API's
// timeout and metadata.
struct CreateOptions {
  std::string template_name;   // "": the daemon's default template
  std::string sandbox_id;      // "": the daemon generates one
  int64_t timeout_s = 0;       // lifetime; 0: the template's
  EnvMap env;
  OJson metadata = OJson::object();
  // Uploaded after the create, in order, as file_user. When one fails the sandbox is removed
  // again and the Error names the file.
  std::vector<std::pair<std::string, std::string>> files;  // local path, path in the sandbox
  std::string file_user = "user";
};

// A sandbox as GET /v1/sandboxes/{id} shows it.
struct SandboxInfo {
  std::string sandbox_id;
  std::string template_name;
  std::string state;       // creating, running, stopped, error
  std::string created_at;  // RFC 3339
  std::string expires_at;  // RFC 3339; "" when it never expires
  int64_t timeout_s = 0;   // the lifetime last set (create or ExtendTimeout)
  std::string reason;      // why it stopped or failed
  EnvMap env;
  OJson metadata = OJson::object();
  double cpus = 0;
  int64_t memory_limit_bytes = 0;
  int64_t pids_max = 0;
  // Running sandboxes only (status of one sandbox).
  std::optional<double> uptime_seconds;
  std::optional<int64_t> memory_bytes;
  std::optional<int64_t> pids;
  std::optional<double> cpu_seconds;
  // Create only.
  int files_uploaded = 0;
  std::vector<TransferResult> files;
  OJson raw;
};

// The guide's execute_code(sandbox_id, code, language) plus the API's options.
struct ExecuteOptions {
  std::string language = "python";  // python, node, bash, sh
  double timeout_s = 60;
  EnvMap env;
  std::string cwd;   // "": the sandbox user's home
  std::string user;  // "": user; or "root"
};

// The API's ExecResult (POST /v1/sandboxes/{id}/exec).
struct ExecutionResult {
  bool success = false;  // status == "completed"
  std::string execution_id;
  std::string sandbox_id;
  std::string language;
  std::string status;  // completed, failed, timeout, oom, killed, error
  int exit_code = -1;
  int signal = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  double execution_time = 0;  // seconds
  std::string reason;
  OJson raw;
};

// One row of the execution history (GET /v1/executions): the guide's timestamp, command,
// status, exit_code, execution_time and the rest of the record.
struct HistoryEntry {
  std::string execution_id;
  std::string sandbox_id;
  std::string timestamp;  // RFC 3339, when it started
  std::string language;
  std::string command;    // the code
  std::string status;     // running, completed, failed, timeout, oom, killed, error
  int exit_code = -1;
  double execution_time = 0;
  std::string stdout_data;
  std::string stderr_data;
  double cpu_time = 0;
  int64_t peak_memory_bytes = 0;
  OJson raw;
};

struct HistoryQuery {
  int limit = 50;          // 1..1000
  std::string sandbox_id;  // "": every sandbox
  std::string status;      // "": every status
};

struct CleanupResult {
  std::string sandbox_id;
  bool cleaned_up = false;
  OJson raw;
};

// JSON answers -> structs. kInternal naming the field when a required one is missing or has
// the wrong type (an answer from something that is not sandboxd, or a version skew).
Result<SandboxInfo> ParseSandboxInfo(const OJson& j);
Result<std::vector<SandboxInfo>> ParseSandboxList(const OJson& j);  // {"sandboxes": [...]}
Result<ExecutionResult> ParseExecutionResult(const OJson& j);
Result<HistoryEntry> ParseHistoryEntry(const OJson& j);
Result<std::vector<HistoryEntry>> ParseHistory(const OJson& j);  // {"executions": [...]}
Result<CleanupResult> ParseCleanupResult(const OJson& j);

// The request body of a create and of an exec (exposed for tests).
nlohmann::json CreateRequestJson(const CreateOptions& options);
nlohmann::json ExecuteRequestJson(const std::string& code, const ExecuteOptions& options);
// "/v1/executions?limit=50[&sandbox_id=..][&status=..]"
std::string HistoryTarget(const HistoryQuery& query);

class SandboxClient {
 public:
  // Owns a Client for the endpoint.
  SandboxClient(Endpoint endpoint, std::string api_key);
  // Uses the caller's Client, which must outlive this object (the CLI's).
  explicit SandboxClient(Client* client);

  Client& http() { return *client_; }

  Result<SandboxInfo> Create(const CreateOptions& options);
  Result<ExecutionResult> Execute(const std::string& sandbox_id, const std::string& code,
                                  const ExecuteOptions& options = {});
  // One file each way, SHA-256 checked at both ends (client/transfer.h).
  Result<TransferResult> Upload(const std::string& sandbox_id, const std::string& local_path,
                                const std::string& remote_path, const std::string& user = "user");
  Result<TransferResult> Download(const std::string& sandbox_id, const std::string& remote_path,
                                  const std::string& local_path,
                                  const std::string& user = "user");
  Result<SandboxInfo> Status(const std::string& sandbox_id);
  Result<std::vector<SandboxInfo>> List(const std::string& state = "");
  Result<SandboxInfo> Stop(const std::string& sandbox_id);
  Result<CleanupResult> Cleanup(const std::string& sandbox_id);
  Result<std::vector<HistoryEntry>> History(const HistoryQuery& query = {});
  // Sets the remaining lifetime to `seconds` from now; returns the sandbox with its new
  // expires_at.
  Result<SandboxInfo> ExtendTimeout(const std::string& sandbox_id, int64_t seconds);

  // The same calls, answering the daemon's JSON as it came (the CLI prints it).
  Result<OJson> StatusJson(const std::string& sandbox_id);
  Result<OJson> ListJson(const std::string& state = "");
  Result<OJson> StopJson(const std::string& sandbox_id);
  Result<OJson> CleanupJson(const std::string& sandbox_id);
  Result<OJson> HistoryJson(const HistoryQuery& query = {});
  Result<OJson> ExtendTimeoutJson(const std::string& sandbox_id, int64_t seconds);
  // POST /v1/sandboxes/{id}/pause and /resume (timeout_s 0: no "timeout" in the body).
  Result<OJson> PauseJson(const std::string& sandbox_id);
  Result<OJson> ResumeJson(const std::string& sandbox_id, int64_t timeout_s);

 private:
  std::unique_ptr<Client> owned_;
  Client* client_;
};

}  // namespace sbx::client
