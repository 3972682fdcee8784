// sandboxd: configuration, wiring, signals, shutdown. Everything else lives in the components.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "api/routes.h"
#include "api/server.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/embedded_templates.h"
#include "runtime/cgroup.h"
#include "sandbox/manager.h"
#include "spec/spec.h"
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
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : state_dir) {
    h ^= c;
    h *= 1099511628211ULL;
  }
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
  std::string templates_path = EnvOr("SANDBOXD_TEMPLATES", "");
  std::string agent_path = EnvOr("SANDBOXD_AGENT", SelfDir() + "/sbx-agent");
  std::string log_level = EnvOr("SANDBOXD_LOG_LEVEL", EnvOr("E2B_LOG_LEVEL", "info"));
  std::string default_template = EnvOr("E2B_DEFAULT_TEMPLATE", "python");
  size_t max_file = 100 << 20;
  if (const char* m = std::getenv("E2B_MAX_FILE_SIZE")) max_file = std::strtoull(m, nullptr, 10);
  app.add_option("--state-dir", state_dir, "State directory (env SANDBOXD_STATE_DIR)");
  app.add_option("--socket", socket_path, "Unix socket of the API (env SANDBOXD_SOCKET)");
  app.add_option("--listen", listen, "Also serve the API on HOST:PORT, e.g. 127.0.0.1:8080 (env SANDBOXD_LISTEN)");
  app.add_option("--templates", templates_path, "templates.json (env SANDBOXD_TEMPLATES; default: embedded)");
  app.add_option("--agent", agent_path, "Path of the static sbx-agent (env SANDBOXD_AGENT)");
  app.add_option("--log-level", log_level, "debug, info, warn or error");
  app.add_option("--default-template", default_template, "Template used when a create names none");
  app.add_option("--max-file-size", max_file, "Largest file upload in bytes (env E2B_MAX_FILE_SIZE)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
  auto cgroups = sbx::runtime::MakeCgroupDriver(InstanceName(state_dir));
  if (!cgroups.ok()) return Fail(cgroups.error(), "cgroups");

  sbx::sandbox::ManagerOptions mopts;
  mopts.state_dir = state_dir;
  mopts.agent_path = agent_path;
  mopts.templates = std::move(*templates);
  mopts.default_template = default_template;
  sbx::sandbox::SandboxManager manager(std::move(mopts), store->get(), std::move(*cgroups));
  if (auto r = manager.Start(); !r.ok()) return Fail(r.error(), "start sandbox manager");

  sbx::api::ApiOptions aopts;
  aopts.max_file_bytes = max_file;
  sbx::api::Router router(&manager, aopts);
  sbx::api::ServerOptions sopts;
  sopts.max_body_bytes = max_file + (1 << 20);
  sbx::api::Server server(&router, sopts);
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
    if (auto r = server.ListenTcp(host, port); !r.ok()) return Fail(r.error(), "listen");
  }

  std::thread signals([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    sbx::log::Info("daemon.signal", {{"signal", sig}});
    server.Stop();
    manager.Shutdown();
  });
  sbx::log::Info("daemon.ready", {{"socket", socket_path}, {"state_dir", state_dir},
                                  {"tcp_port", server.tcp_port()}, {"pid", static_cast<int64_t>(::getpid())}});
  // A line on stdout that scripts can wait for.
  std::cout << "sandboxd ready socket=" << socket_path;
  if (server.tcp_port()) std::cout << " port=" << server.tcp_port();
  std::cout << std::endl;
  server.Run();
  manager.Shutdown();
  if (signals.joinable()) {
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  }
  sbx::log::Info("daemon.exit");
  return 0;
}
