// The catalog of sandboxd's metric families.
#include "monitor/sandboxd_metrics.h"

#include <set>

namespace sbx::monitor {
const std::vector<std::string>& SandboxStates() {
  static const std::vector<std::string> kStates = {"creating", "running", "paused", "stopped", "error"};
  return kStates;
}

Result<std::unique_ptr<SandboxdMetrics>> SandboxdMetrics::Register(Registry* r) {
  auto m = std::make_unique<SandboxdMetrics>();
  ASSIGN_OR_RETURN(
      m->sandboxes,
      r->AddGauge("sandboxd_sandboxes", "Sandboxes known to the daemon, by state.", {"state"}));
  ASSIGN_OR_RETURN(m->creates,
                   r->AddCounter("sandboxd_sandbox_creates_total",
                                 "Sandbox creations by template and outcome (ok or the error "
                                 "code).",
                                 {"template", "outcome"}));
  ASSIGN_OR_RETURN(m->create_duration,
                   r->AddHistogram("sandboxd_create_duration_seconds",
                                   "Time from a create request to a running sandbox.", {"template"},
                                   DurationBuckets()));
  ASSIGN_OR_RETURN(m->executions,
                   r->AddCounter("sandboxd_executions_total",
                                 "Executions by language and result status (ok, error, timeout, "
                                 "oom, ...).",
                                 {"language", "status"}));
  ASSIGN_OR_RETURN(m->execution_duration, r->AddHistogram("sandboxd_execution_duration_seconds",
                                                          "Wall time of executions, by language.",
                                                          {"language"}, DurationBuckets()));
  ASSIGN_OR_RETURN(
      m->webhook_deliveries,
      r->AddCounter("sandboxd_webhook_deliveries_total",
                    "Webhook delivery attempts by event kind and outcome.", {"kind", "outcome"}));
  ASSIGN_OR_RETURN(m->http_requests,
                   r->AddCounter("sandboxd_http_requests_total",
                                 "HTTP requests by route template, method and status code.",
                                 {"route", "method", "status"}));
  ASSIGN_OR_RETURN(m->gateway_requests,
                   r->AddCounter("sandboxd_gateway_requests_total",
                                 "E2B gateway requests by kind (envd, port, websocket) and status "
                                 "code (499: the client went away mid-answer).",
                                 {"kind", "status"}));
  ASSIGN_OR_RETURN(m->gateway_duration,
                   r->AddHistogram("sandboxd_gateway_request_duration_seconds",
                                   "E2B gateway request time, whole relay included, by kind.",
                                   {"kind"}, DurationBuckets()));
  ASSIGN_OR_RETURN(m->http_duration,
                   r->AddHistogram("sandboxd_http_request_duration_seconds",
                                   "HTTP request handling time by route template and method.",
                                   {"route", "method"}, DurationBuckets()));
  ASSIGN_OR_RETURN(m->alerts, r->AddCounter("sandboxd_alerts_total",
                                            "Resource alerts raised and resolved, by metric.",
                                            {"metric", "state"}));
  ASSIGN_OR_RETURN(
      m->sandbox_cpu_percent,
      r->AddGauge("sandboxd_sandbox_cpu_percent",
                  "CPU use of a running sandbox in percent of its CPU quota.", {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_memory_bytes,
                   r->AddGauge("sandboxd_sandbox_memory_bytes",
                               "Memory charged to a running sandbox's cgroup.", {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_memory_limit_bytes,
                   r->AddGauge("sandboxd_sandbox_memory_limit_bytes",
                               "Memory limit of a running sandbox.", {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_pids, r->AddGauge("sandboxd_sandbox_pids",
                                                "Tasks in a running sandbox.", {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_disk_bytes,
                   r->AddGauge("sandboxd_sandbox_disk_bytes",
                               "Disk used by a running sandbox's writable layer.", {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_disk_limit_bytes,
                   r->AddGauge("sandboxd_sandbox_disk_limit_bytes",
                               "Usable size of a running sandbox's own file system (its disk "
                               "quota less the file system's metadata).",
                               {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_inodes,
                   r->AddGauge("sandboxd_sandbox_inodes",
                               "Inodes used on a running sandbox's own file system.",
                               {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->sandbox_inodes_limit,
                   r->AddGauge("sandboxd_sandbox_inodes_limit",
                               "Inodes of a running sandbox's own file system (its inode quota).",
                               {"sandbox_id"}));
  ASSIGN_OR_RETURN(m->host_cpu_percent,
                   r->AddGauge("sandboxd_host_cpu_percent",
                               "Host CPU use in percent of all CPUs, over the last interval."));
  ASSIGN_OR_RETURN(m->host_cpus, r->AddGauge("sandboxd_host_cpus", "Online CPUs of the host."));
  ASSIGN_OR_RETURN(m->host_memory_total_bytes,
                   r->AddGauge("sandboxd_host_memory_total_bytes", "Host memory (MemTotal)."));
  ASSIGN_OR_RETURN(
      m->host_memory_available_bytes,
      r->AddGauge("sandboxd_host_memory_available_bytes", "Host memory available (MemAvailable)."));
  ASSIGN_OR_RETURN(m->host_disk_total_bytes,
                   r->AddGauge("sandboxd_host_disk_total_bytes",
                               "Size of the file system holding the state directory."));
  ASSIGN_OR_RETURN(m->host_disk_used_bytes,
                   r->AddGauge("sandboxd_host_disk_used_bytes",
                               "Used space of the file system holding the state directory."));
  ASSIGN_OR_RETURN(
      m->host_load,
      r->AddGauge("sandboxd_host_load", "Host load average over 1, 5 and 15 minutes.", {"period"}));
  ASSIGN_OR_RETURN(m->sample_rounds, r->AddCounter("sandboxd_monitor_sample_rounds_total",
                                                   "Sampling rounds of the resource monitor."));
  ASSIGN_OR_RETURN(m->sample_errors,
                   r->AddCounter("sandboxd_monitor_sample_errors_total",
                                 "Readings the monitor could not take, by source.", {"source"}));
  ASSIGN_OR_RETURN(m->sample_seconds,
                   r->AddCounter("sandboxd_monitor_sample_cpu_seconds_total",
                                 "CPU time spent by the monitor's sampling thread."));
  for (const std::string& s : SandboxStates()) m->sandboxes->With({s});
  return m;
}

void SandboxdMetrics::ObserveCreate(const std::string& template_name, const std::string& outcome,
                                    double seconds) {
  creates->With({template_name, outcome}).Inc();
  if (outcome == "ok") create_duration->With({template_name}).Observe(seconds);
}

void SandboxdMetrics::ObserveExecution(const std::string& language, const std::string& status,
                                       double seconds) {
  executions->With({language, status}).Inc();
  execution_duration->With({language}).Observe(seconds);
}

void SandboxdMetrics::ObserveHttpRequest(const std::string& route, const std::string& method,
                                         int status, double seconds) {
  http_requests->With({route, method, std::to_string(status)}).Inc();
  http_duration->With({route, method}).Observe(seconds);
}

void SandboxdMetrics::ObserveGatewayRequest(const std::string& kind, int status, double seconds) {
  gateway_requests->With({kind, std::to_string(status)}).Inc();
  gateway_duration->With({kind}).Observe(seconds);
}

void SandboxdMetrics::ObserveWebhookDelivery(const std::string& kind, const std::string& outcome) {
  webhook_deliveries->With({kind, outcome}).Inc();
}

void SandboxdMetrics::SetSandboxCounts(
    const std::vector<std::pair<std::string, int64_t>>& by_state) {
  std::set<std::string> seen;
  for (const auto& [state, n] : by_state) {
    sandboxes->With({state}).Set(static_cast<double>(n));
    seen.insert(state);
  }
  for (const std::string& s : SandboxStates())
    if (!seen.count(s)) sandboxes->With({s}).Set(0);
}

}  // namespace sbx::monitor
