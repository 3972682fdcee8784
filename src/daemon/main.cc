// sandboxd: configuration, wiring, signals, shutdown. Everything else lives in the components.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "agentclient/agent_client.h"
#include "api/auth_gate.h"
#include "api/e2b_routes.h"
#include "api/gateway.h"
#include "auth/sandbox_tokens.h"
#include "api/batch_file_routes.h"
#include "api/event_routes.h"
#include "api/exec_routes.h"
#include "api/key_routes.h"
#include "api/metrics_routes.h"
#include "api/routes.h"
#include "api/server.h"
#include "common/fnv.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/embedded_openapi.h"
#include "daemon/embedded_templates.h"
#include "events/deliverer.h"
#include "events/event_bus.h"
#include "events/subscriptions.h"
#include "idrange/registry.h"
#include "lifecycle/runner.h"
#include "lifecycle/workflow.h"
#include "monitor/metrics_registry.h"
#include "monitor/sampler.h"
#include "monitor/sandboxd_metrics.h"
#include "runtime/cgroup.h"
#include "sandbox/manager.h"
#include "spec/spec.h"
#include "store/history_retention.h"
#include "store/store.h"

namespace {

std::string EnvOr(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return std::filesystem::path(buf).parent_path().string();
}

// FNV-1a: a stable short name for this daemon's cgroup directory, derived from its state dir,
// so a restarted daemon finds the cgroups of its previous run and side-by-side daemons differ.
std::string InstanceName(const std::string& state_dir) {
  uint64_t h = sbx::Fnv1a64(state_dir);
  char buf[32];
  std::snprintf(buf, sizeof buf, "sandboxd-%012llx", static_cast<unsigned long long>(h & 0xffffffffffffULL));
  return buf;
}

int Fail(const sbx::Error& e, const char* what) {
  sbx::log::Error("daemon.start_failed", {{"step", what}, {"error", e.ToString()}});
  std::cerr << "sandboxd: " << what << ": " << e.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sandboxd: runs untrusted code in isolated Linux sandboxes"};
  std::string state_dir = EnvOr("SANDBOXD_STATE_DIR", "/var/lib/sandboxd");
  std::string socket_path = EnvOr("SANDBOXD_SOCKET", "/run/sandboxd/sandboxd.sock");
  std::string listen = EnvOr("SANDBOXD_LISTEN", "");
  sbx::api::TlsFiles tls{EnvOr("SANDBOXD_TLS_CERT", ""), EnvOr("SANDBOXD_TLS_KEY", "")};
  std::string templates_path = EnvOr("SANDBOXD_TEMPLATES", "");
  std::string agent_path = EnvOr("SANDBOXD_AGENT", SelfDir() + "/sbx-agent");
  std::string log_level = EnvOr("SANDBOXD_LOG_LEVEL", EnvOr("E2B_LOG_LEVEL", "info"));
  std::string default_template = EnvOr("E2B_DEFAULT_TEMPLATE", "python");
  sbx::templates::BuildOptions build;
  build.debian_mirror = EnvOr("SANDBOXD_DEBIAN_MIRROR", build.debian_mirror);
  build.pip_index_url = EnvOr("SANDBOXD_PIP_INDEX_URL", "");
  build.npm_registry = EnvOr("SANDBOXD_NPM_REGISTRY", "");
  size_t max_file = 100 << 20;
  if (const char* m = std::getenv("E2B_MAX_FILE_SIZE")) max_file = std::strtoull(m, nullptr, 10);
  app.add_option("--state-dir", state_dir, "State directory (env SANDBOXD_STATE_DIR)");
  app.add_option("--socket", socket_path, "Unix socket of the API (env SANDBOXD_SOCKET)");
  app.add_option("--listen", listen, "Also serve the API on HOST:PORT, e.g. 127.0.0.1:8080 (env SANDBOXD_LISTEN)");
  app.add_option("--tls-cert", tls.cert_file,
                 "PEM certificate chain: --listen serves HTTPS only (env SANDBOXD_TLS_CERT)");
  app.add_option("--tls-key", tls.key_file,
                 "PEM private key of --tls-cert, mode 0600 (env SANDBOXD_TLS_KEY)");
  app.add_option("--templates", templates_path, "templates.json (env SANDBOXD_TEMPLATES; default: embedded)");
  app.add_option("--agent", agent_path, "Path of the static sbx-agent (env SANDBOXD_AGENT)");
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--default-template", default_template, "Template used when a create names none");
  app.add_option("--max-file-size", max_file, "Largest file upload in bytes (env E2B_MAX_FILE_SIZE)");
  std::string disk_quota = EnvOr("SANDBOXD_DISK_QUOTA", "on");
  app.add_option("--disk-quota", disk_quota,
                 "on: each sandbox's files on a file system of its own, of its template's `disk` "
                 "size and `inodes` count (needs loop devices and mkfs.ext4); off: on the state "
                 "directory's file system, unlimited (env SANDBOXD_DISK_QUOTA)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--debian-mirror", build.debian_mirror,
                 "Debian mirror for debian:<suite> templates (env SANDBOXD_DEBIAN_MIRROR)");
  app.add_option("--pip-index-url", build.pip_index_url,
                 "Python package index for pythonPackages Debian lacks (env SANDBOXD_PIP_INDEX_URL)");
  app.add_option("--npm-registry", build.npm_registry,
                 "npm registry for npmPackages (env SANDBOXD_NPM_REGISTRY)");
  // The E2B gateway (api/gateway.h; docs/e2b.md, "The envd gateway and ports").
  sbx::api::GatewayOptions gateway_opts;
  app.add_option("--e2b-domain", gateway_opts.domain,
                 "Domain of the E2B Host form <port>-<sandboxId>.<domain> (default: any)");
  app.add_option("--gateway-idle-timeout", gateway_opts.relay_idle_timeout_s,
                 "Seconds an E2B gateway relay (a command's output stream, a WebSocket) may "
                 "pass with no byte either way")
      ->capture_default_str()->check(CLI::Range(1, 86400));
  app.add_option("--gateway-max-requests-per-sandbox", gateway_opts.max_requests_per_sandbox,
                 "E2B gateway requests in flight per sandbox; 429 past it")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  // What API input may cost the daemon (api/server.h; docs/security.md).
  sbx::api::ServerOptions sopts;
  app.add_option("--max-unix-connections", sopts.max_unix_connections,
                 "Connections at once on the unix socket (the administrator's own budget)")
      ->capture_default_str();
  app.add_option("--max-tcp-connections", sopts.max_tcp_connections,
                 "Connections at once on the TCP port")->capture_default_str();
  app.add_option("--max-preauth-connections", sopts.max_preauth_connections,
                 "TCP connections whose request has not passed the API-key check; past it "
                 "the oldest is closed")->capture_default_str();
  app.add_option("--max-preauth-per-peer", sopts.max_preauth_per_peer,
                 "The same, per client address (IPv6: per /64)")->capture_default_str();
  app.add_option("--max-requests-per-key", sopts.max_requests_per_key,
                 "TCP requests in flight per API key (keyless routes: per address); 429 past it")
      ->capture_default_str();
  app.add_option("--header-timeout", sopts.header_timeout_s,
                 "Seconds for a request header to arrive, from its first byte")->capture_default_str();
  app.add_option("--body-timeout", sopts.body_timeout_s,
                 "Seconds for a request body to arrive, plus its length at --body-min-rate")
      ->capture_default_str();
  app.add_option("--body-min-rate", sopts.body_min_rate,
                 "Bytes per second a request body is given on top of --body-timeout")
      ->capture_default_str();
  auto* budget_flag = app.add_option("--max-body-bytes-in-flight", sopts.body_bytes_in_flight,
                                     "Request-body bytes held in memory at once, all connections "
                                     "together (default: 256 MiB, or the body limit if larger)");
  app.add_option("--body-budget-wait", sopts.body_budget_wait_s,
                 "Seconds a body waits for --max-body-bytes-in-flight before a 503")
      ->capture_default_str();
  app.add_option("--max-keyless-body", sopts.max_keyless_body_bytes,
                 "Largest body of a TCP request without an API key (incoming webhooks)")
      ->capture_default_str();
  // Host uid/gid range of this daemon's sandboxes (src/idrange, docs/security.md).
  sbx::idrange::AcquireOptions ids;
  std::string id_range = EnvOr("SANDBOXD_ID_RANGE", "");
  ids.slots = std::atoll(EnvOr("SANDBOXD_ID_SLOTS", "1024").c_str());
  ids.owner = EnvOr("SANDBOXD_ID_USER", ids.owner);
  ids.subuid_path = EnvOr("SANDBOXD_SUBUID_FILE", ids.subuid_path);
  ids.subgid_path = EnvOr("SANDBOXD_SUBGID_FILE", ids.subgid_path);
  app.add_option("--id-range", id_range,
                 "Host uids and gids of the sandboxes, START:COUNT (COUNT a multiple of 65536; "
                 "env SANDBOXD_ID_RANGE; default: a free block of the --id-user entry)");
  app.add_option("--id-slots", ids.slots,
                 "Sandboxes (65536 ids each) in the block picked without --id-range "
                 "(env SANDBOXD_ID_SLOTS, default 1024)")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}));
  app.add_option("--id-user", ids.owner,
                 "Owner of the daemons' entry in the subuid/subgid files (env SANDBOXD_ID_USER, "
                 "default sandboxd)");
  app.add_option("--subuid-file", ids.subuid_path, "env SANDBOXD_SUBUID_FILE, default /etc/subuid");
  app.add_option("--subgid-file", ids.subgid_path, "env SANDBOXD_SUBGID_FILE, default /etc/subgid");
  // Execution history retention (store/history_retention.h); 0 keeps forever.
  sbx::store::RetentionPolicy retention;
  retention.days = std::atoll(EnvOr("SANDBOXD_HISTORY_RETENTION_DAYS", "30").c_str());
  retention.max_rows = std::atoll(EnvOr("SANDBOXD_HISTORY_MAX_ROWS", "0").c_str());
  app.add_option("--history-retention-days", retention.days,
                 "Delete finished executions older than this many days, at start and hourly; "
                 "0 keeps them (env SANDBOXD_HISTORY_RETENTION_DAYS, default 30)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  app.add_option("--history-max-rows", retention.max_rows,
                 "Keep at most this many finished executions; 0: no cap "
                 "(env SANDBOXD_HISTORY_MAX_ROWS)")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  sopts.max_body_bytes = max_file + (1 << 20);
  if (budget_flag->count() == 0)  // a larger --max-file-size brings the budget along
    sopts.body_bytes_in_flight = std::max<uint64_t>(sopts.body_bytes_in_flight, sopts.max_body_bytes);
  if (auto r = sbx::api::ValidateServerOptions(sopts); !r.ok()) {
    std::cerr << "sandboxd: " << r.error().message << "\n";
    return 2;
  }
  if (ids.slots < 1 || ids.slots > 60000) {
    std::cerr << "sandboxd: --id-slots (SANDBOXD_ID_SLOTS) must be 1 to 60000, got " << ids.slots
              << "\n";
    return 2;
  }
  if (disk_quota != "on" && disk_quota != "off") {
    std::cerr << "sandboxd: --disk-quota (SANDBOXD_DISK_QUOTA) must be on or off, got '"
              << disk_quota << "'\n";
    return 2;
  }
  if (retention.days < 0 || retention.max_rows < 0) {
    std::cerr << "sandboxd: SANDBOXD_HISTORY_RETENTION_DAYS and SANDBOXD_HISTORY_MAX_ROWS must "
                 "not be negative\n";
    return 2;
  }

  sbx::log::SetComponent("sandboxd");
  sbx::log::Level level;
  if (!sbx::log::ParseLevel(log_level, &level)) {
    std::cerr << "sandboxd: unknown log level '" << log_level << "'\n";
    return 2;
  }
  sbx::log::SetLevel(level);
  if (::geteuid() != 0) {
    std::cerr << "sandboxd: must run as root (it creates namespaces, mounts and cgroups)\n";
    return 1;
  }
  // TLS files are checked before anything starts: a bad one refuses the start, naming it.
  bool want_tls = !tls.cert_file.empty() || !tls.key_file.empty();
  if (want_tls && (tls.cert_file.empty() || tls.key_file.empty() || listen.empty())) {
    std::cerr << "sandboxd: TLS needs --tls-cert, --tls-key and --listen HOST:PORT together\n";
    return 2;
  }
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  if (want_tls) {
    auto loaded = sbx::api::LoadTlsContext(tls);
    if (!loaded.ok()) return Fail(loaded.error(), "TLS");
    tls_context = std::move(*loaded);
  }

  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  state_dir = std::filesystem::weakly_canonical(state_dir, ec).string();
  ::chmod(state_dir.c_str(), 0700);
  std::filesystem::create_directories(std::filesystem::path(socket_path).parent_path(), ec);

  std::string templates_json = sbx::daemon::kEmbeddedTemplates;
  std::string templates_source = "embedded templates.json";
  if (!templates_path.empty()) {
    auto text = sbx::ReadFile(templates_path);
    if (!text.ok()) return Fail(text.error(), "read templates");
    templates_json = *text;
    templates_source = templates_path;
  }
  auto templates = sbx::spec::ParseTemplatesConfig(templates_json, templates_source);
  if (!templates.ok()) return Fail(templates.error(), "load templates");

  auto store = sbx::store::Store::Open(state_dir + "/sandboxd.db");
  if (!store.ok()) return Fail(store.error(), "open database");
  // The id range before anything can start a sandbox; held (registry lock) until exit.
  ids.state_dir = state_dir;
  if (!id_range.empty()) {
    auto r = sbx::idrange::ParseIdRange(id_range, "--id-range");
    if (!r.ok()) return Fail(r.error(), "id range");
    ids.requested = *r;
  }
  if (auto rows = (*store)->ListSandboxes(); rows.ok()) {
    ids.has_sandboxes = !rows->empty();
  } else {
    return Fail(rows.error(), "list sandboxes");
  }
  auto id_lease = sbx::idrange::Acquire(ids);
  if (!id_lease.ok()) return Fail(id_lease.error(), "id range");
  const sbx::idrange::IdRange& host_ids = (*id_lease)->range();
  sbx::log::Info("daemon.id_range", {{"range", host_ids.ToString()},
                                     {"slots", (*id_lease)->slots()},
                                     {"source", (*id_lease)->source()}});
  if (!(*id_lease)->warning().empty())
    sbx::log::Warn("daemon.id_range_outside_subids", {{"warning", (*id_lease)->warning()}});
  auto cgroups = sbx::runtime::MakeCgroupDriver(InstanceName(state_dir));
  if (!cgroups.ok()) return Fail(cgroups.error(), "cgroups");

  // Monitoring (docs/monitoring.md): the Prometheus registry and sandboxd's metric families.
  // The sampler is created once the manager runs; hooks reach it through `sampler_ptr`.
  sbx::monitor::Registry registry;
  auto metrics_or = sbx::monitor::SandboxdMetrics::Register(&registry);
  if (!metrics_or.ok()) return Fail(metrics_or.error(), "register metrics");
  sbx::monitor::SandboxdMetrics* metrics = metrics_or->get();
  std::atomic<sbx::monitor::Sampler*> sampler_ptr{nullptr};
  sbx::monitor::AlertOptions alert_options;
  alert_options.thresholds = templates->alert_thresholds;

  // Events (docs/events.md): the durable bus first (it only needs the store), so the manager
  // and the sampler can publish; then deliverer, lifecycle runner, workflows after the manager.
  sbx::events::EventBus bus(store->get());
  sbx::sandbox::ManagerOptions mopts;
  // Events of plain sandboxes; a lifecycle's sandbox is left to the runner, which publishes
  // its own (with run_id, script, attempt).
  mopts.on_event = [&bus, lifecycles = sbx::store::LifecycleRepo(store->get())](
                       const std::string& type, const std::string& sandbox_id,
                       const std::string& tenant, nlohmann::json data) mutable {
    sbx::store::RunFilter f;
    f.sandbox_id = sandbox_id;
    f.limit = 1;
    if (auto runs = lifecycles.List(f); runs.ok() && !runs->empty()) return;
    auto t = sbx::events::ParseEventType(type);
    if (!t.ok()) return;
    auto r = bus.Publish({*t, sandbox_id, tenant, std::move(data), true});
    if (!r.ok()) sbx::log::Error("sandbox.event_failed", {{"type", type}, {"error", r.error().ToString()}});
  };
  mopts.on_create = [metrics](const std::string& tpl, const std::string& outcome, double s) {
    metrics->ObserveCreate(tpl, outcome, s);
  };
  mopts.on_exec = [metrics](const std::string& language, const std::string& status, double s) {
    metrics->ObserveExecution(language, status, s);
  };
  mopts.on_removed = [&sampler_ptr](const std::string& id) {
    if (auto* s = sampler_ptr.load()) s->Forget(id);
  };
  mopts.state_dir = state_dir;
  mopts.agent_path = agent_path;
  mopts.templates = std::move(*templates);
  mopts.default_template = default_template;
  mopts.build = build;
  mopts.id_base = static_cast<uint32_t>(host_ids.start);
  mopts.id_slots = (*id_lease)->slots();
  mopts.disk_quota = disk_quota == "on";
  sbx::sandbox::SandboxManager manager(std::move(mopts), store->get(), std::move(*cgroups));
  if (auto r = manager.Start(); !r.ok()) return Fail(r.error(), "start sandbox manager");
  // After the manager's start, which marks executions interrupted by a crash as finished.
  sbx::store::HistoryRetention history_retention(store->get(), retention);
  history_retention.Start();

  sbx::events::DelivererOptions dopts;
  dopts.on_attempt = [metrics](const std::string& type, const std::string& outcome) {
    metrics->ObserveWebhookDelivery(type, outcome);
  };
  sbx::events::Deliverer deliverer(store->get(), dopts);
  bus.SetOutboxListener([&deliverer] { deliverer.Wake(); });
  {
    sbx::store::WebhookRepo webhooks(store->get());
    if (auto r = sbx::events::EnsureZapierFromEnv(webhooks, EnvOr("ZAPIER_WEBHOOK_URL", "")); !r.ok())
      return Fail(r.error(), "ZAPIER_WEBHOOK_URL");
  }
  if (auto r = deliverer.Start(); !r.ok()) return Fail(r.error(), "start webhook delivery");
  sbx::lifecycle::RunnerOptions ropts;
  ropts.alerts = manager.templates().alert_thresholds;
  sbx::lifecycle::LifecycleRunner runner(&manager, &bus, store->get(), ropts);
  if (auto r = runner.RecoverInterrupted(); !r.ok())
    sbx::log::Error("lifecycle.recover_failed", {{"error", r.error().ToString()}});
  sbx::lifecycle::WorkflowOptions wopts;
  wopts.github_secret = EnvOr("GITHUB_WEBHOOK_SECRET", "");
  sbx::lifecycle::WorkflowService workflows(store->get(), &runner, &bus, wopts);
  if (auto r = workflows.StartScheduler(); !r.ok()) return Fail(r.error(), "start workflow scheduler");
  std::atomic<bool> api_stopping{false};
  // Ends the event streams, the scheduler and the lifecycle runs (before the manager stops).
  auto stop_events = [&] {
    api_stopping.store(true);
    bus.WakeWaiters();
    workflows.Stop();
    runner.Shutdown();
  };

  // Every alert the sampler raises or resolves (already logged and counted in
  // sandboxd_alerts_total) is published as `on_alert`, data.state "raised" or "resolved", under
  // the sandbox's tenant, so webhooks see both edges.
  std::function<void(const sbx::monitor::AlertEvent&)> publish_alert =
      [&bus, &manager](const sbx::monitor::AlertEvent& e) {
        nlohmann::json data = sbx::monitor::ToJson(e);
        data["source"] = "monitor";
        std::string tenant;
        if (auto v = manager.Get(e.sandbox_id); v.ok()) tenant = v->record.tenant;
        auto r = bus.Publish({sbx::events::EventType::kOnAlert, e.sandbox_id, tenant, data, true});
        if (!r.ok()) sbx::log::Error("alert.publish_failed", {{"error", r.error().ToString()}});
      };
  sbx::monitor::SamplerOptions sampler_opts;
  sampler_opts.state_dir = state_dir;
  sampler_opts.alerts = alert_options;
  if (const char* ms = std::getenv("SANDBOXD_MONITOR_INTERVAL_MS"); ms && std::atoll(ms) > 0)
    sampler_opts.interval_ms = std::atoll(ms);
  sbx::monitor::Sampler sampler(
      sampler_opts,
      [&manager] {
        std::vector<sbx::monitor::SandboxProbe> probes;
        int64_t now_ms = sbx::NowUnixMs();
        for (auto& t : manager.MonitorTargets()) {
          sbx::monitor::SandboxProbe p;
          p.id = std::move(t.id);
          p.stats = t.stats;
          p.upper_dir = std::move(t.upper_dir);
          p.disk = t.disk;
          p.cpus = t.cpus;
          p.memory_limit_bytes = t.memory_limit_bytes;
          p.elapsed_seconds = t.started_at_ms > 0 ? (now_ms - t.started_at_ms) / 1000.0 : -1;
          probes.push_back(std::move(p));
        }
        return probes;
      },
      metrics,
      [&publish_alert](const sbx::monitor::AlertEvent& e) {
        if (publish_alert) publish_alert(e);
      });
  registry.AddCollector([&manager, metrics] {
    auto counts = manager.StateCounts();
    metrics->SetSandboxCounts({counts.begin(), counts.end()});
  });
  if (auto r = sampler.Start(); !r.ok()) return Fail(r.error(), "start monitor");
  sampler_ptr.store(&sampler);

  sbx::api::ApiOptions aopts;
  aopts.max_file_bytes = max_file;
  aopts.openapi_yaml = sbx::daemon::kEmbeddedOpenapi;
  // API keys, tenants, rate limits, per-key create caps (docs/auth.md): TCP needs a key.
  sbx::auth::KeyManager keys(store->get());
  sbx::auth::ConcurrencyGate create_gate(sbx::auth::ConcurrencyLimits{});
  aopts.create_gate = &create_gate;
  sbx::api::Router router(&manager, aopts);
  sbx::api::AuthGate auth_gate(&keys, [&manager] { return manager.templates().rate_limit; });
  auth_gate.Install(router);
  std::vector<std::unique_ptr<sbx::api::RouteGroup>> groups;
  groups.push_back(std::make_unique<sbx::api::KeyRoutes>(&keys));
  // POST /v1/sandboxes/{id}/exec and /v1/executions/{id}/...: synchronous, streamed, background.
  groups.push_back(sbx::api::MakeExecRoutes(&manager));
  // POST /v1/sandboxes/{id}/files/batch and /files/archive: tar / tar.gz batches.
  groups.push_back(sbx::api::MakeBatchFileRoutes(&manager, aopts));
  groups.push_back(std::make_unique<sbx::api::MetricsRoutes>(&manager, &sampler, &registry));
  sbx::api::EventServices event_services{store->get(), &bus,       &deliverer,
                                         &runner,      &workflows, &api_stopping};
  event_services.create_gate = &create_gate;
  event_services.manager = &manager;
  groups.push_back(sbx::api::MakeEventRoutes(event_services));
  groups.push_back(sbx::api::MakeWebhookRoutes(event_services));
  groups.push_back(sbx::api::MakeLifecycleRoutes(event_services));
  for (auto& group : groups)
    if (auto added = router.AddGroup(std::move(group)); !added.ok()) return Fail(added.error(), "routes");
  sbx::api::Server server(&router, sopts);
  server.SetObserver([metrics, &router](const sbx::api::Request& req, int status, double seconds) {
    metrics->ObserveHttpRequest(router.table().Label(req.path), req.method, status, seconds);
  });
  // ---- E2B gateway: envd and port traffic to sandboxes (api/gateway.h) ----
  auto sandbox_tokens = sbx::auth::SandboxTokens::Load(state_dir);
  if (!sandbox_tokens.ok()) return Fail(sandbox_tokens.error(), "e2b secret");
  // E2B control plane: /sandboxes, /v2/sandboxes, /templates (api/e2b_routes.h).
  if (auto added = router.AddGroup(sbx::api::MakeE2bRoutes(&manager, *sandbox_tokens,
                                                           {gateway_opts.domain, &create_gate}));
      !added.ok())
    return Fail(added.error(), "routes");
  sbx::api::Gateway gateway(&manager, std::move(*sandbox_tokens), gateway_opts);
  gateway.SetKeyCheck([&auth_gate](const std::string& key) { return auth_gate.AuthenticateKey(key); });
  gateway.SetObserver([metrics](const std::string& kind, int status, double seconds) {
    metrics->ObserveGatewayRequest(kind, status, seconds);
  });
  gateway.SetPortDialer(sbx::agentclient::OpenPortTunnel);  // ports other than envd's
  server.SetGateway(&gateway);
  // ---- end E2B gateway ----
  if (auto r = server.ListenUnix(socket_path); !r.ok()) return Fail(r.error(), "listen");
  if (!listen.empty()) {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "sandboxd: --listen wants HOST:PORT, got '" << listen << "'\n";
      return 2;
    }
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = std::atoi(listen.substr(colon + 1).c_str());
    std::optional<sbx::api::TlsFiles> tls_opt;
    if (want_tls) tls_opt = tls;
    if (auto r = server.ListenTcp(host, port, tls_opt, tls_context); !r.ok())
      return Fail(r.error(), "listen");
  }

  // SIGHUP reloads templates.json and the TLS certificate and key (a bad file is logged and
  // the old one stays); SIGTERM and SIGINT stop the daemon.
  std::thread signals([&] {
    for (;;) {
      int sig = 0;
      sigwait(&sigs, &sig);
      sbx::log::Info("daemon.signal", {{"signal", sig}});
      if (sig != SIGHUP) break;
      if (auto r = server.ReloadTls(); !r.ok())
        sbx::log::Error("tls.reload_failed", {{"error", r.error().ToString()}});
      std::string text = sbx::daemon::kEmbeddedTemplates;
      if (!templates_path.empty()) {
        auto read = sbx::ReadFile(templates_path);
        if (!read.ok()) {
          sbx::log::Error("templates.reload_failed", {{"error", read.error().ToString()}});
          continue;
        }
        text = *read;
      }
      auto parsed = sbx::spec::ParseTemplatesConfig(text, templates_source);
      auto installed = parsed.ok() ? manager.ReloadTemplates(std::move(*parsed))
                                   : sbx::Result<void>(parsed.error());
      if (!installed.ok())
        sbx::log::Error("templates.reload_failed", {{"error", installed.error().ToString()}});
      if (installed.ok()) {
        sbx::monitor::AlertOptions reloaded = alert_options;
        reloaded.thresholds = manager.templates().alert_thresholds;
        sampler.SetAlertOptions(reloaded);
      }
    }
    stop_events();
    server.Stop();
    sampler.Stop();
    manager.Shutdown();
  });
  sbx::log::Info("daemon.ready", {{"socket", socket_path}, {"state_dir", state_dir},
                                  {"tcp_port", server.tcp_port()}, {"tls", server.tls()}, {"pid", static_cast<int64_t>(::getpid())}});
  // A line on stdout that scripts can wait for.
  std::cout << "sandboxd ready socket=" << socket_path;
  if (server.tcp_port()) std::cout << " port=" << server.tcp_port();
  if (server.tls()) std::cout << " tls=1";
  std::cout << std::endl;
  server.Run();
  stop_events();
  sampler.Stop();
  manager.Shutdown();
  deliverer.Stop();
  if (signals.joinable()) {
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  }
  sbx::log::Info("daemon.exit");
  return 0;
}
