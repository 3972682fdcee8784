// sandbox_client: typed calls of sandboxd's API (see sandbox_client.h).
#include "client/sandbox_client.h"

#include "spec/spec.h"

namespace sbx::client {
namespace {

// HTTP deadlines: a create may start a template's startup commands (minutes); an exec lasts
// its own timeout plus the time to start and collect it; stop and cleanup wait for processes.
constexpr double kCreateTimeoutS = 600;
constexpr double kExecMarginS = 30;
constexpr double kDefaultTimeoutS = 60;
constexpr double kStopTimeoutS = 120;

Error BadAnswer(const std::string& what, const std::string& key, const std::string& expected) {
  return MakeError(ErrorCode::kInternal, "sandboxd's " + what + " has no " + expected + " '" +
                                             key + "' (is this sandboxd, and of this version?)");
}

// Typed reads of one object. A missing optional field keeps the default; a present field of
// the wrong type is an error either way, so version skew shows instead of zeros.
class Reader {
 public:
  Reader(const OJson& j, std::string what) : j_(j), what_(std::move(what)) {}

  Result<void> Object() const {
    if (!j_.is_object()) return MakeError(ErrorCode::kInternal, "sandboxd's " + what_ +
                                                                   " is not a JSON object");
    return Ok();
  }
  const OJson* Find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  Result<void> Str(const char* key, bool required, std::string* out) const {
    const OJson* v = Find(key);
    if (!v) return required ? Result<void>(BadAnswer(what_, key, "string")) : Ok();
    if (!v->is_string()) return BadAnswer(what_, key, "string");
    *out = v->get<std::string>();
    return Ok();
  }
  template <typename T>
  Result<void> Num(const char* key, bool required, T* out) const {
    const OJson* v = Find(key);
    if (!v) return required ? Result<void>(BadAnswer(what_, key, "number")) : Ok();
    if (!v->is_number()) return BadAnswer(what_, key, "number");
    *out = v->get<T>();
    return Ok();
  }
  template <typename T>
  Result<void> Opt(const char* key, std::optional<T>* out) const {
    if (!Find(key)) return Ok();
    T v{};
    RETURN_IF_ERROR(Num(key, true, &v));
    *out = v;
    return Ok();
  }
  Result<void> Bool(const char* key, bool* out) const {
    const OJson* v = Find(key);
    if (!v) return Ok();
    if (!v->is_boolean()) return BadAnswer(what_, key, "boolean");
    *out = v->get<bool>();
    return Ok();
  }
  Result<void> Env(const char* key, EnvMap* out) const {
    const OJson* v = Find(key);
    if (!v) return Ok();
    if (!v->is_object()) return BadAnswer(what_, key, "object");
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) return BadAnswer(what_, std::string(key) + "." + it.key(), "string");
      (*out)[it.key()] = it->get<std::string>();
    }
    return Ok();
  }
  const std::string& what() const { return what_; }

 private:
  const OJson& j_;
  std::string what_;
};

Result<const OJson*> ArrayField(const OJson& j, const char* key, const std::string& what) {
  if (!j.is_object()) return MakeError(ErrorCode::kInternal, "sandboxd's " + what +
                                                                 " is not a JSON object");
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return BadAnswer(what, key, "array");
  return &*it;
}

std::string SandboxPath(const std::string& id) { return "/v1/sandboxes/" + id; }

nlohmann::json EnvJson(const EnvMap& env) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : env) j[k] = v;
  return j;
}

}  // namespace

Result<SandboxInfo> ParseSandboxInfo(const OJson& j) {
  Reader r(j, "sandbox");
  RETURN_IF_ERROR(r.Object());
  SandboxInfo s;
  RETURN_IF_ERROR(r.Str("sandbox_id", true, &s.sandbox_id));
  RETURN_IF_ERROR(r.Str("template", false, &s.template_name));
  RETURN_IF_ERROR(r.Str("state", true, &s.state));
  RETURN_IF_ERROR(r.Str("created_at", false, &s.created_at));
  RETURN_IF_ERROR(r.Str("expires_at", false, &s.expires_at));
  RETURN_IF_ERROR(r.Num("timeout", false, &s.timeout_s));
  RETURN_IF_ERROR(r.Str("reason", false, &s.reason));
  RETURN_IF_ERROR(r.Env("env", &s.env));
  if (const OJson* m = r.Find("metadata")) s.metadata = *m;
  if (const OJson* l = r.Find("limits")) {
    Reader lr(*l, "sandbox limits");
    RETURN_IF_ERROR(lr.Object());
    RETURN_IF_ERROR(lr.Num("cpus", false, &s.cpus));
    RETURN_IF_ERROR(lr.Num("memory_bytes", false, &s.memory_limit_bytes));
    RETURN_IF_ERROR(lr.Num("pids_max", false, &s.pids_max));
  }
  RETURN_IF_ERROR(r.Opt("uptime_seconds", &s.uptime_seconds));
  RETURN_IF_ERROR(r.Opt("memory_bytes", &s.memory_bytes));
  RETURN_IF_ERROR(r.Opt("pids", &s.pids));
  RETURN_IF_ERROR(r.Opt("cpu_seconds", &s.cpu_seconds));
  RETURN_IF_ERROR(r.Num("files_uploaded", false, &s.files_uploaded));
  s.raw = j;
  return s;
}

Result<std::vector<SandboxInfo>> ParseSandboxList(const OJson& j) {
  ASSIGN_OR_RETURN(const OJson* list, ArrayField(j, "sandboxes", "sandbox list"));
  std::vector<SandboxInfo> out;
  for (const OJson& item : *list) {
    ASSIGN_OR_RETURN(SandboxInfo s, ParseSandboxInfo(item));
    out.push_back(std::move(s));
  }
  return out;
}

Result<ExecutionResult> ParseExecutionResult(const OJson& j) {
  Reader r(j, "execution result");
  RETURN_IF_ERROR(r.Object());
  ExecutionResult e;
  RETURN_IF_ERROR(r.Str("status", true, &e.status));
  RETURN_IF_ERROR(r.Num("exit_code", true, &e.exit_code));
  RETURN_IF_ERROR(r.Str("execution_id", false, &e.execution_id));
  RETURN_IF_ERROR(r.Str("sandbox_id", false, &e.sandbox_id));
  RETURN_IF_ERROR(r.Str("language", false, &e.language));
  RETURN_IF_ERROR(r.Num("signal", false, &e.signal));
  RETURN_IF_ERROR(r.Str("stdout", false, &e.stdout_data));
  RETURN_IF_ERROR(r.Str("stderr", false, &e.stderr_data));
  RETURN_IF_ERROR(r.Bool("stdout_truncated", &e.stdout_truncated));
  RETURN_IF_ERROR(r.Bool("stderr_truncated", &e.stderr_truncated));
  RETURN_IF_ERROR(r.Num("execution_time", false, &e.execution_time));
  RETURN_IF_ERROR(r.Str("reason", false, &e.reason));
  // `success` is derived from the status (as the daemon derives it), not trusted separately.
  e.success = e.status == "completed";
  e.raw = j;
  return e;
}

Result<HistoryEntry> ParseHistoryEntry(const OJson& j) {
  Reader r(j, "execution record");
  RETURN_IF_ERROR(r.Object());
  HistoryEntry h;
  RETURN_IF_ERROR(r.Str("execution_id", true, &h.execution_id));
  RETURN_IF_ERROR(r.Str("sandbox_id", true, &h.sandbox_id));
  RETURN_IF_ERROR(r.Str("timestamp", true, &h.timestamp));
  RETURN_IF_ERROR(r.Str("status", true, &h.status));
  RETURN_IF_ERROR(r.Str("language", false, &h.language));
  RETURN_IF_ERROR(r.Str("command", false, &h.command));
  RETURN_IF_ERROR(r.Num("exit_code", false, &h.exit_code));
  RETURN_IF_ERROR(r.Num("execution_time", false, &h.execution_time));
  RETURN_IF_ERROR(r.Str("stdout", false, &h.stdout_data));
  RETURN_IF_ERROR(r.Str("stderr", false, &h.stderr_data));
  RETURN_IF_ERROR(r.Num("cpu_time", false, &h.cpu_time));
  RETURN_IF_ERROR(r.Num("peak_memory_bytes", false, &h.peak_memory_bytes));
  h.raw = j;
  return h;
}

Result<std::vector<HistoryEntry>> ParseHistory(const OJson& j) {
  ASSIGN_OR_RETURN(const OJson* list, ArrayField(j, "executions", "execution history"));
  std::vector<HistoryEntry> out;
  for (const OJson& item : *list) {
    ASSIGN_OR_RETURN(HistoryEntry h, ParseHistoryEntry(item));
    out.push_back(std::move(h));
  }
  return out;
}

Result<CleanupResult> ParseCleanupResult(const OJson& j) {
  Reader r(j, "cleanup answer");
  RETURN_IF_ERROR(r.Object());
  CleanupResult c;
  RETURN_IF_ERROR(r.Str("sandbox_id", true, &c.sandbox_id));
  RETURN_IF_ERROR(r.Bool("cleaned_up", &c.cleaned_up));
  c.raw = j;
  return c;
}

nlohmann::json CreateRequestJson(const CreateOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  if (!o.template_name.empty()) j["template"] = o.template_name;
  if (!o.sandbox_id.empty()) j["sandbox_id"] = o.sandbox_id;
  if (!o.env.empty()) j["env"] = EnvJson(o.env);
  if (o.timeout_s > 0) j["timeout"] = o.timeout_s;
  if (o.metadata.is_object() && !o.metadata.empty())
    j["metadata"] = nlohmann::json::parse(o.metadata.dump());
  return j;
}

nlohmann::json ExecuteRequestJson(const std::string& code, const ExecuteOptions& o) {
  nlohmann::json j{{"language", o.language}, {"code", code}, {"timeout", o.timeout_s}};
  if (!o.env.empty()) j["env"] = EnvJson(o.env);
  if (!o.cwd.empty()) j["cwd"] = o.cwd;
  if (!o.user.empty()) j["user"] = o.user;
  return j;
}

std::string HistoryTarget(const HistoryQuery& q) {
  std::string t = "/v1/executions?limit=" + std::to_string(q.limit);
  if (!q.sandbox_id.empty()) t += "&sandbox_id=" + PercentEncode(q.sandbox_id);
  if (!q.status.empty()) t += "&status=" + PercentEncode(q.status);
  return t;
}

SandboxClient::SandboxClient(Endpoint endpoint, std::string api_key)
    : owned_(std::make_unique<Client>(std::move(endpoint), std::move(api_key))),
      client_(owned_.get()) {}

SandboxClient::SandboxClient(Client* client) : client_(client) {}

Result<SandboxInfo> SandboxClient::Create(const CreateOptions& options) {
  if (!options.sandbox_id.empty()) RETURN_IF_ERROR(spec::ValidateSandboxId(options.sandbox_id));
  // Unreadable local files are found before anything is created.
  for (const auto& [local, remote] : options.files) RETURN_IF_ERROR(CheckReadableFile(local));
  ASSIGN_OR_RETURN(OJson created, client_->CallJson("POST", "/v1/sandboxes",
                                                    CreateRequestJson(options), kCreateTimeoutS));
  ASSIGN_OR_RETURN(SandboxInfo info, ParseSandboxInfo(created));
  for (const auto& [local, remote] : options.files) {
    Result<TransferResult> up = UploadFile(*client_, info.sandbox_id, local, remote,
                                           options.file_user);
    if (up.ok()) {
      info.files.push_back(std::move(up).value());
      continue;
    }
    Error err = std::move(up).error();
    std::string msg = "uploading '" + local + "' to " + remote + " in sandbox '" +
                      info.sandbox_id + "' failed: " + err.ToString();
    Result<OJson> removed =
        client_->CallJson("DELETE", SandboxPath(info.sandbox_id), nullptr, kStopTimeoutS);
    msg += removed.ok() ? "; the sandbox was removed again"
                        : "; removing the sandbox failed too (" + removed.error().ToString() + ")";
    return MakeError(err.code, msg);
  }
  info.files_uploaded = static_cast<int>(info.files.size());
  info.raw["files_uploaded"] = info.files_uploaded;
  return info;
}

Result<ExecutionResult> SandboxClient::Execute(const std::string& sandbox_id,
                                               const std::string& code,
                                               const ExecuteOptions& options) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  ASSIGN_OR_RETURN(OJson j, client_->CallJson("POST", SandboxPath(sandbox_id) + "/exec",
                                              ExecuteRequestJson(code, options),
                                              options.timeout_s + kExecMarginS));
  return ParseExecutionResult(j);
}

Result<TransferResult> SandboxClient::Upload(const std::string& sandbox_id,
                                             const std::string& local_path,
                                             const std::string& remote_path,
                                             const std::string& user) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return UploadFile(*client_, sandbox_id, local_path, remote_path, user);
}

Result<TransferResult> SandboxClient::Download(const std::string& sandbox_id,
                                               const std::string& remote_path,
                                               const std::string& local_path,
                                               const std::string& user) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return DownloadFile(*client_, sandbox_id, remote_path, local_path, user);
}

Result<OJson> SandboxClient::StatusJson(const std::string& sandbox_id) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return client_->CallJson("GET", SandboxPath(sandbox_id), nullptr, kDefaultTimeoutS);
}

Result<OJson> SandboxClient::ListJson(const std::string& state) {
  std::string target = "/v1/sandboxes";
  if (!state.empty()) target += "?state=" + PercentEncode(state);
  return client_->CallJson("GET", target, nullptr, kDefaultTimeoutS);
}

Result<OJson> SandboxClient::StopJson(const std::string& sandbox_id) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return client_->CallJson("POST", SandboxPath(sandbox_id) + "/stop", nullptr, kStopTimeoutS);
}

Result<OJson> SandboxClient::CleanupJson(const std::string& sandbox_id) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return client_->CallJson("DELETE", SandboxPath(sandbox_id), nullptr, kStopTimeoutS);
}

Result<OJson> SandboxClient::HistoryJson(const HistoryQuery& query) {
  if (!query.sandbox_id.empty()) RETURN_IF_ERROR(spec::ValidateSandboxId(query.sandbox_id));
  return client_->CallJson("GET", HistoryTarget(query), nullptr, kDefaultTimeoutS);
}

Result<OJson> SandboxClient::ExtendTimeoutJson(const std::string& sandbox_id, int64_t seconds) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return client_->CallJson("POST", SandboxPath(sandbox_id) + "/timeout",
                           nlohmann::json{{"timeout", seconds}}, kDefaultTimeoutS);
}

Result<OJson> SandboxClient::PauseJson(const std::string& sandbox_id) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  return client_->CallJson("POST", SandboxPath(sandbox_id) + "/pause", nullptr, kDefaultTimeoutS);
}

Result<OJson> SandboxClient::ResumeJson(const std::string& sandbox_id, int64_t timeout_s) {
  RETURN_IF_ERROR(spec::ValidateSandboxId(sandbox_id));
  nlohmann::json body = nlohmann::json::object();
  if (timeout_s > 0) body["timeout"] = timeout_s;
  return client_->CallJson("POST", SandboxPath(sandbox_id) + "/resume", body, kDefaultTimeoutS);
}

Result<SandboxInfo> SandboxClient::Status(const std::string& sandbox_id) {
  ASSIGN_OR_RETURN(OJson j, StatusJson(sandbox_id));
  return ParseSandboxInfo(j);
}

Result<std::vector<SandboxInfo>> SandboxClient::List(const std::string& state) {
  ASSIGN_OR_RETURN(OJson j, ListJson(state));
  return ParseSandboxList(j);
}

Result<SandboxInfo> SandboxClient::Stop(const std::string& sandbox_id) {
  ASSIGN_OR_RETURN(OJson j, StopJson(sandbox_id));
  return ParseSandboxInfo(j);
}

Result<CleanupResult> SandboxClient::Cleanup(const std::string& sandbox_id) {
  ASSIGN_OR_RETURN(OJson j, CleanupJson(sandbox_id));
  return ParseCleanupResult(j);
}

Result<std::vector<HistoryEntry>> SandboxClient::History(const HistoryQuery& query) {
  ASSIGN_OR_RETURN(OJson j, HistoryJson(query));
  return ParseHistory(j);
}

Result<SandboxInfo> SandboxClient::ExtendTimeout(const std::string& sandbox_id,
                                                 int64_t seconds) {
  ASSIGN_OR_RETURN(OJson j, ExtendTimeoutJson(sandbox_id, seconds));
  return ParseSandboxInfo(j);
}

}  // namespace sbx::client
