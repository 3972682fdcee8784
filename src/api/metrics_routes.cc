#include "api/metrics_routes.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "common/util.h"
#include "spec/spec.h"

namespace sbx::api {
namespace {

using nlohmann::json;

Response AdminOnly(const Request& req) {
  return ErrorResponse(MakeError(ErrorCode::kPermissionDenied,
                                 req.path + " is only available to the administrator"));
}

}  // namespace

Result<int64_t> ParseUnixSecondsParam(const Request& req, const std::string& name, int64_t def_ms) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return def_ms;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  double s = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || errno != 0 || !std::isfinite(s) || s < 0 || s > 1e11)
    return MakeError(ErrorCode::kInvalidArgument,
                     "query parameter '" + name + "' must be unix seconds, got '" + v + "'");
  return static_cast<int64_t>(std::llround(s * 1000.0));
}

std::optional<Response> MetricsRoutes::Handle(const Request& req,
                                              const std::vector<std::string>& p) {
  const bool get = req.method == "GET";
  if (p.size() == 1 && p[0] == "metrics") return get ? Prometheus(req) : MethodNotAllowed(req);
  // E2B's path: GET /sandboxes/{id}/metrics
  if (p.size() == 3 && p[0] == "sandboxes" && p[2] == "metrics")
    return get ? SandboxSeries(req, p[1]) : MethodNotAllowed(req);
  if (p.empty() || p[0] != "v1") return std::nullopt;
  if (p.size() == 2 && p[1] == "stats") return get ? Stats(req) : MethodNotAllowed(req);
  if (p.size() >= 3 && p.size() <= 4 && p[1] == "host" && p[2] == "metrics") {
    std::string view = p.size() == 4 ? p[3] : "";
    if (!view.empty() && view != "capture" && view != "summary") return std::nullopt;
    return get ? Host(req, view) : MethodNotAllowed(req);
  }
  if ((p.size() == 4 || p.size() == 5) && p[1] == "sandboxes" && p[3] == "metrics") {
    if (p.size() == 4) return get ? SandboxSeries(req, p[2]) : MethodNotAllowed(req);
    if (p[4] == "capture") return get ? SandboxCapture(req, p[2]) : MethodNotAllowed(req);
    if (p[4] == "summary") return get ? SandboxSummary(req, p[2]) : MethodNotAllowed(req);
  }
  return std::nullopt;
}

std::optional<Response> MetricsRoutes::CheckVisible(const Request& req, const std::string& id) {
  if (auto v = spec::ValidateSandboxId(id); !v.ok()) return ErrorResponse(v.error());
  auto view = manager_->Get(id);
  if (!view.ok()) return ErrorResponse(view.error());
  if (!req.tenant.empty() && view->record.tenant != req.tenant)
    return ErrorResponse(MakeError(ErrorCode::kNotFound, "sandbox '" + id + "' does not exist"));
  return std::nullopt;
}

Response MetricsRoutes::Prometheus(const Request& req) {
  if (!req.tenant.empty()) return AdminOnly(req);
  Response r;
  r.status = 200;
  r.content_type = monitor::Registry::RenderContentType();
  r.body = registry_->Render();
  return r;
}

Response MetricsRoutes::SandboxSeries(const Request& req, const std::string& id) {
  if (auto denied = CheckVisible(req, id)) return *denied;
  auto start = ParseUnixSecondsParam(req, "start", 0);
  if (!start.ok()) return ErrorResponse(start.error());
  auto end = ParseUnixSecondsParam(req, "end", std::numeric_limits<int64_t>::max());
  if (!end.ok()) return ErrorResponse(end.error());
  if (*end < *start)
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "'end' is before 'start'"));
  json list = json::array();
  auto points = sampler_->Series(id, *start, *end);
  if (points.ok()) {
    for (const auto& pt : *points) list.push_back(monitor::ToSandboxMetricJson(pt));
  } else if (points.error().code != ErrorCode::kNotFound) {
    return ErrorResponse(points.error());
  }
  return JsonResponse(200, list);
}

Response MetricsRoutes::SandboxCapture(const Request& req, const std::string& id) {
  if (auto denied = CheckVisible(req, id)) return *denied;
  auto c = sampler_->Capture(id);
  if (!c.ok()) return ErrorResponse(c.error());
  json j = monitor::ToJson(*c);
  j["sandbox_id"] = id;
  return JsonResponse(200, j);
}

Response MetricsRoutes::SandboxSummary(const Request& req, const std::string& id) {
  if (auto denied = CheckVisible(req, id)) return *denied;
  auto s = sampler_->Summary(id);
  if (!s.ok()) return ErrorResponse(s.error());
  json j = monitor::ToJson(*s);
  j["sandbox_id"] = id;
  return JsonResponse(200, j);
}

Response MetricsRoutes::Host(const Request& req, const std::string& view) {
  if (!req.tenant.empty()) return AdminOnly(req);
  if (view == "capture") {
    auto c = sampler_->HostCapture();
    if (!c.ok()) return ErrorResponse(c.error());
    return JsonResponse(200, monitor::ToJson(*c));
  }
  if (view == "summary") {
    auto s = sampler_->HostSummary();
    if (!s.ok()) return ErrorResponse(s.error());
    return JsonResponse(200, monitor::ToJson(*s));
  }
  auto start = ParseUnixSecondsParam(req, "start", 0);
  if (!start.ok()) return ErrorResponse(start.error());
  auto end = ParseUnixSecondsParam(req, "end", std::numeric_limits<int64_t>::max());
  if (!end.ok()) return ErrorResponse(end.error());
  json list = json::array();
  auto points = sampler_->HostSeries(*start, *end);
  if (points.ok()) {
    for (const auto& pt : *points) list.push_back(monitor::ToSandboxMetricJson(pt));
  } else if (points.error().code != ErrorCode::kNotFound) {
    return ErrorResponse(points.error());
  }
  return JsonResponse(200, list);
}

Response MetricsRoutes::Stats(const Request& req) {
  json j = sampler_->OverviewJson();
  if (!req.tenant.empty()) {
    // A tenant sees its own sandboxes and not the host.
    std::set<std::string> own;
    if (auto all = manager_->List(); all.ok())
      for (const auto& v : *all)
        if (v.record.tenant == req.tenant) own.insert(v.record.id);
    json kept = json::array();
    if (j.contains("sandboxes") && j["sandboxes"].is_array())
      for (const auto& s : j["sandboxes"])
        if (s.is_object() && own.count(s.value("sandbox_id", ""))) kept.push_back(s);
    j["sandboxes"] = kept;
    j["host"] = nullptr;
  }
  j["success"] = true;
  return JsonResponse(200, j);
}

}  // namespace sbx::api
