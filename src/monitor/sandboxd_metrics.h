// The catalog of sandboxd's Prometheus metrics: every family the daemon exports, with its name,
// help text, labels and buckets in one place (docs/monitoring.md lists them), plus the small
// helpers the API, the manager and the webhook dispatcher call on their hot paths.
//
// Thread safety: SandboxdMetrics only holds pointers to registry families; every method may be
// called from any thread (see metrics_registry.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "monitor/metrics_registry.h"

namespace sbx::monitor {

struct SandboxdMetrics {
  // Daemon-wide.
  GaugeFamily* sandboxes = nullptr;            // sandboxd_sandboxes{state}
  CounterFamily* creates = nullptr;            // sandboxd_sandbox_creates_total{template,outcome}
  HistogramFamily* create_duration = nullptr;  // sandboxd_create_duration_seconds{template}
  CounterFamily* executions = nullptr;         // sandboxd_executions_total{language,status}
  HistogramFamily* execution_duration = nullptr;  // sandboxd_execution_duration_seconds{language}
  CounterFamily* webhook_deliveries = nullptr;    // sandboxd_webhook_deliveries_total{kind,outcome}
  CounterFamily* http_requests = nullptr;    // sandboxd_http_requests_total{route,method,status}
  HistogramFamily* http_duration = nullptr;  // sandboxd_http_request_duration_seconds{route,method}
  CounterFamily* gateway_requests = nullptr;     // sandboxd_gateway_requests_total{kind,status}
  HistogramFamily* gateway_duration = nullptr;   // sandboxd_gateway_request_duration_seconds{kind}
  CounterFamily* alerts = nullptr;           // sandboxd_alerts_total{metric,state}
  // Per sandbox (label sandbox_id), removed when the sandbox leaves the sampler.
  GaugeFamily* sandbox_cpu_percent = nullptr;
  GaugeFamily* sandbox_memory_bytes = nullptr;
  GaugeFamily* sandbox_memory_limit_bytes = nullptr;
  GaugeFamily* sandbox_pids = nullptr;
  GaugeFamily* sandbox_disk_bytes = nullptr;
  GaugeFamily* sandbox_disk_limit_bytes = nullptr;  // only sandboxes with a disk quota
  GaugeFamily* sandbox_inodes = nullptr;
  GaugeFamily* sandbox_inodes_limit = nullptr;
  // Host.
  GaugeFamily* host_cpu_percent = nullptr;
  GaugeFamily* host_cpus = nullptr;
  GaugeFamily* host_memory_total_bytes = nullptr;
  GaugeFamily* host_memory_available_bytes = nullptr;
  GaugeFamily* host_disk_total_bytes = nullptr;
  GaugeFamily* host_disk_used_bytes = nullptr;
  GaugeFamily* host_load = nullptr;  // sandboxd_host_load{period="1m"|"5m"|"15m"}
  // The sampler itself.
  CounterFamily* sample_rounds = nullptr;   // sandboxd_monitor_sample_rounds_total
  CounterFamily* sample_errors = nullptr;   // sandboxd_monitor_sample_errors_total{source}
  CounterFamily* sample_seconds = nullptr;  // sandboxd_monitor_sample_cpu_seconds_total

  // Registers every family above in `registry` (which must outlive the result).
  static Result<std::unique_ptr<SandboxdMetrics>> Register(Registry* registry);

  // Hot-path helpers. Outcomes and statuses are the callers' stable words: outcome "ok" or the
  // ErrorCodeName of a failed create; status the ExecResult status ("ok", "timeout", ...).
  void ObserveCreate(const std::string& template_name, const std::string& outcome, double seconds);
  void ObserveExecution(const std::string& language, const std::string& status, double seconds);
  // `route`: a route template (api::RouteTable::Label: "/v1/sandboxes/{id}/exec", or
  // "unmatched"), never a raw path, so scanners cannot grow the label set.
  void ObserveHttpRequest(const std::string& route, const std::string& method, int status,
                          double seconds);
  // E2B gateway requests (api/gateway.h): kind envd, port or websocket.
  void ObserveGatewayRequest(const std::string& kind, int status, double seconds);
  void ObserveWebhookDelivery(const std::string& kind, const std::string& outcome);
  // Sets sandboxd_sandboxes{state} for each known state; states not listed are set to 0.
  void SetSandboxCounts(const std::vector<std::pair<std::string, int64_t>>& by_state);
};

// The states sandboxd_sandboxes always reports (0 when none): creating, running, stopped, error.
const std::vector<std::string>& SandboxStates();

}  // namespace sbx::monitor
