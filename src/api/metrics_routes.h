// Monitoring routes (docs/monitoring.md, docs/api.md): the Prometheus scrape target, a
// sandbox's and the host's resource series, capture and summary, and the live overview behind
// `sbx stats`. A RouteGroup over the monitor's Sampler and Registry.
//
//   GET /metrics                                   Prometheus text (administrator only)
//   GET /v1/sandboxes/{id}/metrics?start=&end=     E2B SandboxMetric array (unix seconds)
//   GET /sandboxes/{id}/metrics?start=&end=        the same, on E2B's path
//   GET /v1/sandboxes/{id}/metrics/capture         latest point
//   GET /v1/sandboxes/{id}/metrics/summary         averages and maxima over retention
//   GET /v1/host/metrics[/capture|/summary]        the host (administrator only)
//   GET /v1/stats                                  Sampler::OverviewJson (a tenant sees its own)
//
// A tenant (non-empty Request.tenant) sees only its own sandboxes: another tenant's sandbox is
// 404, as if it did not exist.
//
// Thread safety: the handlers may be called concurrently; the Sampler and Registry are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/routes.h"
#include "monitor/metrics_registry.h"
#include "monitor/sampler.h"
#include "sandbox/manager.h"

namespace sbx::api {

class MetricsRoutes : public RouteGroup {
 public:
  // All three must outlive the group.
  MetricsRoutes(sandbox::SandboxManager* manager, monitor::Sampler* sampler,
                monitor::Registry* registry)
      : manager_(manager), sampler_(sampler), registry_(registry) {}

  std::vector<Route> Routes() override;

 private:
  Response Prometheus();
  Response SandboxSeries(const Request& req, const std::string& id);
  Response SandboxCapture(const Request& req, const std::string& id);
  Response SandboxSummary(const Request& req, const std::string& id);
  Response Host(const Request& req, const std::string& view);
  Response Stats(const Request& req);
  // nullopt when `req` may see sandbox `id`; else the 404 to answer.
  std::optional<Response> CheckVisible(const Request& req, const std::string& id);

  sandbox::SandboxManager* manager_;
  monitor::Sampler* sampler_;
  monitor::Registry* registry_;
};

// Parses a `start` / `end` query value in unix seconds (integer or fractional) into
// milliseconds; `def_ms` when absent. kInvalidArgument names the parameter.
Result<int64_t> ParseUnixSecondsParam(const Request& req, const std::string& name, int64_t def_ms);

}  // namespace sbx::api
