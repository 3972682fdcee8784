#include "api/routes.h"

#include <vector>

#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

Result<json> ParseBody(const Request& req, bool allow_empty) {
  if (req.body.empty()) {
    if (allow_empty) return json::object();
    return MakeError(ErrorCode::kInvalidArgument, "request body: expected a JSON object, got nothing");
  }
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return MakeError(ErrorCode::kInvalidArgument, "request body: malformed JSON");
  if (!j.is_object())
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("request body: expected a JSON object, got ") + j.type_name());
  return j;
}

json TemplateJson(const spec::Template& t) {
  char mem[32];
  if (t.memory_bytes % (1LL << 30) == 0)
    std::snprintf(mem, sizeof mem, "%lldGB", static_cast<long long>(t.memory_bytes >> 30));
  else
    std::snprintf(mem, sizeof mem, "%lldMB", static_cast<long long>(t.memory_bytes >> 20));
  return json{{"template", t.key},          {"name", t.name},
              {"base_image", t.base_image}, {"cpus", t.cpus},
              {"memory", mem},              {"memory_bytes", t.memory_bytes},
              {"timeout", t.timeout_s},     {"environment", t.environment},
              {"packages", t.packages},     {"python_packages", t.python_packages},
              {"npm_packages", t.npm_packages}, {"startup", t.startup},
              {"features", t.features},     {"pids_max", t.pids_max}};
}

Response MethodNotAllowed(const Request& req) {
  return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                 "method " + req.method + " is not allowed on " + req.path));
}

}  // namespace

Response Router::Handle(const Request& req) {
  std::vector<std::string> p = SplitPath(req.path);
  const std::string& m = req.method;
  if (p.size() == 1 && p[0] == "health") return m == "GET" ? Health() : MethodNotAllowed(req);
  if (p.size() >= 2 && p[0] == "v1") {
    if (p.size() == 2 && p[1] == "templates") return m == "GET" ? Templates() : MethodNotAllowed(req);
    if (p.size() == 2 && p[1] == "executions")
      return m == "GET" ? Executions(req) : MethodNotAllowed(req);
    if (p[1] == "sandboxes") {
      if (p.size() == 2) {
        if (m == "POST") return CreateSandbox(req);
        if (m == "GET") return ListSandboxes(req);
        return MethodNotAllowed(req);
      }
      const std::string& id = p[2];
      if (p.size() == 3) {
        if (m == "GET") return GetSandbox(id);
        if (m == "DELETE") return RemoveSandbox(id, req);
        return MethodNotAllowed(req);
      }
      if (p.size() == 4 && p[3] == "exec") return m == "POST" ? ExecIn(id, req) : MethodNotAllowed(req);
      if (p.size() == 4 && p[3] == "stop") return m == "POST" ? StopSandbox(id, req) : MethodNotAllowed(req);
      if (p.size() == 4 && p[3] == "files") {
        if (m == "PUT" || m == "POST") return PutFile(id, req);
        if (m == "GET") return GetFile(id, req);
        return MethodNotAllowed(req);
      }
    }
  }
  return ErrorResponse(MakeError(ErrorCode::kNotFound, "no such endpoint: " + m + " " + req.path));
}

Response Router::Health() {
  return JsonResponse(200, {{"status", "ok"},
                            {"version", options_.version},
                            {"sandboxes_running", manager_->RunningCount()}});
}

Response Router::Templates() {
  json list = json::array();
  for (const auto& [k, t] : manager_->templates().templates) list.push_back(TemplateJson(t));
  return JsonResponse(200, {{"success", true}, {"templates", list}});
}

Response Router::CreateSandbox(const Request& req) {
  auto body = ParseBody(req, true);
  if (!body.ok()) return ErrorResponse(body.error());
  auto spec = spec::SandboxSpecFromJson(*body);
  if (!spec.ok()) return ErrorResponse(spec.error());
  auto view = manager_->Create(*spec, req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  json j = view->ToJson();
  j["files_uploaded"] = 0;
  return JsonResponse(201, j);
}

Response Router::ListSandboxes(const Request& req) {
  auto all = manager_->List();
  if (!all.ok()) return ErrorResponse(all.error());
  std::string state = req.Query("state");
  json list = json::array();
  for (const auto& v : *all)
    if (state.empty() || v.record.state == state) list.push_back(v.ToJson());
  return JsonResponse(200, {{"success", true}, {"sandboxes", list}, {"count", list.size()}});
}

Response Router::GetSandbox(const std::string& id) {
  auto view = manager_->Get(id);
  if (!view.ok()) return ErrorResponse(view.error());
  json j = view->ToJson();
  if (view->record.state == "running") {
    if (auto st = manager_->cgroups().Stats(id); st.ok()) {
      j["memory_bytes"] = st->memory_current;
      j["pids"] = st->pids_current;
      j["cpu_seconds"] = static_cast<double>(st->cpu_usage_ns) / 1e9;
    }
  }
  return JsonResponse(200, j);
}

Response Router::ExecIn(const std::string& id, const Request& req) {
  auto body = ParseBody(req, false);
  if (!body.ok()) return ErrorResponse(body.error());
  auto er = spec::ExecRequestFromJson(*body);
  if (!er.ok()) return ErrorResponse(er.error());
  auto out = manager_->Exec(id, *er, req.request_id);
  if (!out.ok()) return ErrorResponse(out.error());
  json j = spec::ToJson(out->result);
  j["sandbox_id"] = id;
  j["execution_id"] = out->execution_id;
  j["language"] = spec::LanguageName(er->language);
  return JsonResponse(200, j);
}

Response Router::StopSandbox(const std::string& id, const Request& req) {
  auto view = manager_->Stop(id, "stopped by request", req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  return JsonResponse(200, view->ToJson());
}

Response Router::RemoveSandbox(const std::string& id, const Request& req) {
  auto r = manager_->Remove(id, req.request_id);
  if (!r.ok()) return ErrorResponse(r.error());
  return JsonResponse(200, {{"success", true}, {"sandbox_id", id}, {"cleaned_up", true}});
}

Response Router::PutFile(const std::string& id, const Request& req) {
  std::string path = req.Query("path");
  if (path.empty())
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "query parameter 'path' is required"));
  if (req.body.size() > options_.max_file_bytes)
    return JsonResponse(413, {{"success", false},
                              {"error", {{"code", "resource_exhausted"},
                                         {"message", "file of " + std::to_string(req.body.size()) +
                                                         " bytes exceeds the limit of " +
                                                         std::to_string(options_.max_file_bytes)}}}});
  std::string user = req.Query("user", "user");
  auto r = manager_->WriteFile(id, path, req.body, user);
  if (!r.ok()) return ErrorResponse(r.error());
  std::string sent = req.Header("x-content-sha256");
  if (!sent.empty() && sent != r->sha256)
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "sha256 mismatch: client sent " + sent + ", received " + r->sha256));
  return JsonResponse(200, {{"success", true}, {"sandbox_id", id}, {"path", r->path},
                            {"size", r->size}, {"hash", r->sha256}});
}

Response Router::GetFile(const std::string& id, const Request& req) {
  std::string path = req.Query("path");
  if (path.empty())
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "query parameter 'path' is required"));
  auto data = manager_->ReadFile(id, path, req.Query("user", "user"));
  if (!data.ok()) return ErrorResponse(data.error());
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers.push_back({"X-Content-SHA256", sandbox::Sha256Hex(*data)});
  r.body = std::move(*data);
  return r;
}

Response Router::Executions(const Request& req) {
  std::string sandbox_id = req.Query("sandbox_id");
  if (!sandbox_id.empty()) {
    if (auto v = spec::ValidateSandboxId(sandbox_id); !v.ok()) return ErrorResponse(v.error());
  }
  std::string limit_s = req.Query("limit", "50");
  int limit = 0;
  for (char c : limit_s) {
    if (c < '0' || c > '9' || limit > 100000) {
      limit = -1;
      break;
    }
    limit = limit * 10 + (c - '0');
  }
  if (limit <= 0 || limit > 1000)
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "query parameter 'limit' must be an integer from 1 to 1000"));
  auto rows = manager_->History(sandbox_id, limit);
  if (!rows.ok()) return ErrorResponse(rows.error());
  json list = json::array();
  for (const auto& r : *rows) {
    list.push_back({{"execution_id", r.id}, {"sandbox_id", r.sandbox_id},
                    {"timestamp", ToRfc3339(r.started_at_ms)}, {"language", r.language},
                    {"command", r.code}, {"status", r.status}, {"exit_code", r.exit_code},
                    {"execution_time", r.duration_s}, {"stdout", r.stdout_data},
                    {"stderr", r.stderr_data}, {"stdout_truncated", r.stdout_truncated},
                    {"stderr_truncated", r.stderr_truncated},
                    {"cpu_time", static_cast<double>(r.cpu_ns) / 1e9},
                    {"peak_memory_bytes", r.peak_memory_bytes}});
  }
  return JsonResponse(200, {{"success", true}, {"executions", list}, {"count", list.size()}});
}

}  // namespace sbx::api
