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

std::vector<Route> MetricsRoutes::Routes() {
  auto get = [](const char* pattern, RouteHandler handler, Access access = Access::kAnyKey) {
    return Route{.method = "GET", .pattern = pattern, .handler = std::move(handler), .access = access,
                 .refusal = "{path} is only available to the administrator"};
  };
  using Fn = Response (MetricsRoutes::*)(const Request&, const std::string&);
  auto sandbox = [this](Fn fn) -> RouteHandler {
    return [this, fn](const Request& req, const PathParams& p) { return (this->*fn)(req, p["id"]); };
  };
  auto host = [this](std::string view) -> RouteHandler {
    return [this, view](const Request& req, const PathParams&) { return Host(req, view); };
  };
  return {
      get("/metrics", [this](const Request&, const PathParams&) { return Prometheus(); },
          Access::kAdmin),
      get("/v1/stats", [this](const Request& req, const PathParams&) { return Stats(req); }),
      get("/v1/host/metrics", host(""), Access::kAdmin),
      get("/v1/host/metrics/capture", host("capture"), Access::kAdmin),
      get("/v1/host/metrics/summary", host("summary"), Access::kAdmin),
      get("/v1/sandboxes/{id}/metrics", sandbox(&MetricsRoutes::SandboxSeries)),
      get("/v1/sandboxes/{id}/metrics/capture", sandbox(&MetricsRoutes::SandboxCapture)),
      get("/v1/sandboxes/{id}/metrics/summary", sandbox(&MetricsRoutes::SandboxSummary)),
      // E2B's path of the series, documented in docs/openapi.yaml with sandboxd's routes.
      get("/sandboxes/{id}/metrics", sandbox(&MetricsRoutes::SandboxSeries)),
  };
}

std::optional<Response> MetricsRoutes::CheckVisible(const Request& req, const std::string& id) {
  if (auto v = spec::ValidateSandboxId(id); !v.ok()) return ErrorResponse(v.error());
  auto view = manager_->Get(id);
  if (!view.ok()) return ErrorResponse(view.error());
  if (!req.tenant.empty() && view->record.tenant != req.tenant)
    return ErrorResponse(MakeError(ErrorCode::kNotFound, "sandbox '" + id + "' does not exist"));
  return std::nullopt;
}

Response MetricsRoutes::Prometheus() {
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
