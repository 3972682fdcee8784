#include "api/routes.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "api/auth_gate.h"
#include "api/exec_routes.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

}  // namespace

std::vector<std::string> Router::SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  for (std::string_view s : PathSegments(path)) parts.emplace_back(s);
  return parts;
}

namespace {

Result<json> ParseBody(const Request& req, bool allow_empty) {
  return ParseJsonBody(req, allow_empty);
}

}  // namespace

std::optional<Response> Router::Admit(Request& req) {
  if (gate_) {
    if (auto denied = gate_(req)) return denied;
  }
  req.admitted = true;
  return std::nullopt;
}

Response Router::Handle(const Request& req) {
  if (!req.admitted) {
    log::Error("api.request_not_admitted", {{"request_id", req.request_id}, {"path", req.path}});
    return ErrorResponse(MakeError(ErrorCode::kInternal, "request reached a route without the gate"));
  }
  Response resp = table_.Dispatch(req);
  if (response_hook_) response_hook_(req, resp);
  return resp;
}

Router::Router(sandbox::SandboxManager* manager, ApiOptions options)
    : manager_(manager), options_(std::move(options)) {
  if (auto added = table_.AddAll(Routes()); !added.ok())
    log::Error("api.route_table", {{"error", added.error().ToString()}});
}

Result<void> Router::AddGroup(std::unique_ptr<RouteGroup> group) {
  RETURN_IF_ERROR(table_.AddAll(group->Routes()));
  groups_.push_back(std::move(group));
  return Ok();
}

// Templates are shared by every tenant: building (which runs package managers as root for
// minutes), rebuilding and removing one are the administrator's (the unix socket), whatever
// key a TCP request carries. Listing and showing them stay open to every key.
constexpr const char* kTemplateRefusal =
    "{method} {path}: template administration (build, rebuild, remove) is the "
    "administrator's; use sbx on the daemon's unix socket";

std::vector<Route> Router::Routes() {
  // A handler of a route on one sandbox: fn(id, req).
  auto on_sandbox = [this](Response (Router::*fn)(const std::string&, const Request&)) {
    return [this, fn](const Request& req, const PathParams& p) { return (this->*fn)(p["id"], req); };
  };
  return {
      {.method = "GET", .pattern = "/health",
       .handler = [this](const Request&, const PathParams&) { return Health(); },
       .access = Access::kKeyless},
      {.method = "GET", .pattern = "/v1/openapi.yaml",
       .handler = [this](const Request& req, const PathParams&) {
         if (options_.openapi_yaml.empty())
           return ErrorResponse(MakeError(ErrorCode::kNotFound,
                                          "no such endpoint: " + req.method + " " + req.path));
         Response r;
         r.content_type = "application/yaml";
         r.body = options_.openapi_yaml;
         return r;
       }},
      {.method = "GET", .pattern = "/v1/templates",
       .handler = [this](const Request&, const PathParams&) { return Templates(); }},
      {.method = "GET", .pattern = "/v1/templates/{name}",
       .handler = [this](const Request&, const PathParams& p) { return GetTemplate(p["name"]); }},
      {.method = "DELETE", .pattern = "/v1/templates/{name}",
       .handler = [this](const Request&, const PathParams& p) { return RemoveTemplate(p["name"]); },
       .access = Access::kAdmin, .refusal = kTemplateRefusal},
      {.method = "POST", .pattern = "/v1/templates/{name}/build",
       .handler = [this](const Request& req, const PathParams& p) { return BuildTemplate(p["name"], req); },
       .access = Access::kAdmin, .refusal = kTemplateRefusal},
      {.method = "GET", .pattern = "/v1/executions",
       .handler = [this](const Request& req, const PathParams&) { return Executions(req); }},
      {.method = "POST", .pattern = "/v1/sandboxes",
       .handler = [this](const Request& req, const PathParams&) { return CreateSandbox(req); }},
      {.method = "GET", .pattern = "/v1/sandboxes",
       .handler = [this](const Request& req, const PathParams&) { return ListSandboxes(req); }},
      {.method = "GET", .pattern = "/v1/sandboxes/{id}", .handler = on_sandbox(&Router::GetSandbox)},
      {.method = "DELETE", .pattern = "/v1/sandboxes/{id}", .handler = on_sandbox(&Router::RemoveSandbox)},
      {.method = "POST", .pattern = "/v1/sandboxes/{id}/stop", .handler = on_sandbox(&Router::StopSandbox)},
      {.method = "POST", .pattern = "/v1/sandboxes/{id}/timeout",
       .handler = on_sandbox(&Router::SetSandboxTimeout)},
      {.method = "POST", .pattern = "/v1/sandboxes/{id}/pause", .handler = on_sandbox(&Router::PauseSandbox)},
      {.method = "POST", .pattern = "/v1/sandboxes/{id}/resume", .handler = on_sandbox(&Router::ResumeSandbox)},
      {.method = "PUT", .pattern = "/v1/sandboxes/{id}/files", .handler = on_sandbox(&Router::PutFile)},
      {.method = "POST", .pattern = "/v1/sandboxes/{id}/files", .handler = on_sandbox(&Router::PutFile)},
      {.method = "GET", .pattern = "/v1/sandboxes/{id}/files", .handler = on_sandbox(&Router::GetFile)},
  };
}

Response Router::Health() {
  return JsonResponse(200, {{"status", "ok"},
                            {"version", options_.version},
                            {"sandboxes_running", manager_->RunningCount()}});
}

Response Router::CreateSandbox(const Request& req) {
  auto body = ParseBody(req, true);
  if (!body.ok()) return ErrorResponse(body.error());
  auto spec = spec::SandboxSpecFromJson(*body);
  if (!spec.ok()) return ErrorResponse(spec.error());
  CreateAdmission admitted = AdmitCreate(options_.create_gate, req, *manager_);
  if (admitted.refused) return std::move(*admitted.refused);
  auto view = manager_->Create(*spec, req.request_id, req.admin ? "" : req.tenant);
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
  auth::Principal who = PrincipalOf(req);
  for (const auto& v : *all)
    if ((state.empty() || v.record.state == state) && auth::CanAccess(who, v.record.tenant))
      list.push_back(v.ToJson());
  return JsonResponse(200, {{"success", true}, {"sandboxes", list}, {"count", list.size()}});
}

Response Router::GetSandbox(const std::string& id, const Request& req) {
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto view = manager_->Get(id);
  if (!view.ok()) return ErrorResponse(view.error());
  json j = view->ToJson();
  if (view->record.state == "running" || view->record.state == "paused") {
    if (auto st = manager_->cgroups().Stats(id); st.ok()) {
      j["memory_bytes"] = st->memory_current;
      j["pids"] = st->pids_current;
      j["cpu_seconds"] = static_cast<double>(st->cpu_usage_ns) / 1e9;
    }
  }
  return JsonResponse(200, j);
}

Response Router::StopSandbox(const std::string& id, const Request& req) {
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto view = manager_->Stop(id, "stopped by request", req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  return JsonResponse(200, view->ToJson());
}

// E2B's limit on a sandbox's lifetime is 24 h (1 h on its free tier); sandboxd allows what a
// create allows (spec: 30 days), so an extension can always restore a create's lifetime.
constexpr int64_t kMaxSandboxTimeoutS = 30 * 86400;

Response Router::SetSandboxTimeout(const std::string& id, const Request& req) {
  auto body = ParseBody(req, false);
  if (!body.ok()) return ErrorResponse(body.error());
  auto invalid = [](const std::string& msg) {
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, msg));
  };
  if (!body->is_object()) return invalid("request: expected a JSON object {\"timeout\": seconds}");
  for (const auto& [key, value] : body->items())
    if (key != "timeout") return invalid("request." + key + ": unknown field (allowed: timeout)");
  auto t = body->find("timeout");
  if (t == body->end()) return invalid("request.timeout: required (seconds from now)");
  // Whole seconds only: 30 and 30.0 are accepted, 1.5 and "30" are not.
  double v = t->is_number() ? t->get<double>() : 0;
  if (!(v >= 1 && v <= static_cast<double>(kMaxSandboxTimeoutS) && std::floor(v) == v))
    return invalid("request.timeout: must be a whole number of seconds from 1 to " +
                   std::to_string(kMaxSandboxTimeoutS));
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto view = manager_->SetTimeout(id, static_cast<int64_t>(v), req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  return JsonResponse(200, view->ToJson());
}

Response Router::RemoveSandbox(const std::string& id, const Request& req) {
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto r = manager_->Remove(id, req.request_id);
  if (!r.ok()) return ErrorResponse(r.error());
  return JsonResponse(200, {{"success", true}, {"sandbox_id", id}, {"cleaned_up", true}});
}

Response Router::Executions(const Request& req) {
  store::ExecutionFilter filter;
  filter.sandbox_id = req.Query("sandbox_id");
  if (!filter.sandbox_id.empty()) {
    if (auto v = spec::ValidateSandboxId(filter.sandbox_id); !v.ok())
      return ErrorResponse(v.error());
  }
  filter.status = req.Query("status");
  if (!filter.status.empty() && filter.status != "running" &&
      !spec::ParseExecStatus(filter.status).ok())
    return ErrorResponse(MakeError(
        ErrorCode::kInvalidArgument,
        "query parameter 'status': unknown status '" + filter.status +
            "' (running, completed, failed, timeout, oom, killed, error)"));
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
  filter.limit = limit;
  // A key sees its tenant's executions only, filtered in the query so that `limit` counts
  // them alone.
  auth::Principal who = PrincipalOf(req);
  if (!who.admin) {
    if (who.tenant.empty())
      return JsonResponse(200, {{"success", true}, {"executions", json::array()}, {"count", 0}});
    filter.tenant = who.tenant;
  }
  auto rows = manager_->History(filter);
  if (!rows.ok()) return ErrorResponse(rows.error());
  json list = json::array();
  for (const auto& r : *rows) {
    if (!auth::CanAccess(who, r.tenant)) continue;
    list.push_back(ExecutionRecordJson(r, r.status != "running"));
  }
  return JsonResponse(200, {{"success", true}, {"executions", list}, {"count", list.size()}});
}

std::optional<Response> Router::CheckTenant(const Request& req, const std::string& id) {
  if (req.admin) return std::nullopt;
  auto view = manager_->Get(id);
  if (!view.ok()) return std::nullopt;  // missing or invalid: the handler says so itself
  if (auth::CanAccess(PrincipalOf(req), view->record.tenant)) return std::nullopt;
  return SandboxNotFound(id);
}

}  // namespace sbx::api
