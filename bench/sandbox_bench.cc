// Sandbox latency benchmark, in process (no HTTP, no CLI): create, exec of `true` and of
// `python3 -c pass` in a running sandbox, cleanup, and the one-shot create+exec+cleanup,
// side by side with bubblewrap (`bwrap --unshare-all` over the same root filesystem) and the
// bare process. Prints p50 and p99 in milliseconds; asserts nothing.
//
// Usage: sandbox_bench [--runs N] [--agent PATH] [--state-dir DIR] [--disk-quota on|off]
//        (as root; --disk-quota as sandboxd's, default on: each sandbox on its own file system)
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/util.h"
#include "runtime/cgroup.h"
#include "sandbox/manager.h"
#include "spec/spec.h"
#include "store/store.h"

namespace {

struct Stats {
  std::string name;
  std::vector<double> ms;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

void Print(const Stats& s) {
  std::printf("%-44s %6zu %9.3f %9.3f\n", s.name.c_str(), s.ms.size(), Percentile(s.ms, 0.5),
              Percentile(s.ms, 0.99));
}

double TimeMs(const std::function<void()>& f) {
  int64_t t0 = sbx::MonotonicNs();
  f();
  return static_cast<double>(sbx::MonotonicNs() - t0) / 1e6;
}

bool Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The peers get the same small environment as sandbox processes, so that nothing of the
  // host's (a HOME with user site-packages, PYTHON* variables) slows or speeds them.
  static char* const kEnv[] = {const_cast<char*>("PATH=/usr/local/bin:/usr/bin:/bin"),
                               const_cast<char*>("HOME=/nonexistent"),
                               const_cast<char*>("LANG=C.UTF-8"), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), kEnv) != 0) return false;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string SelfDir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  std::string agent = SelfDir() + "/sbx-agent";
  std::string state = "/tmp/sbx-bench-" + sbx::RandomHex(4);
  bool disk_quota = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--runs") runs = std::atoi(argv[i + 1]);
    else if (k == "--agent") agent = argv[i + 1];
    else if (k == "--state-dir") state = argv[i + 1];
    else if (k == "--disk-quota") disk_quota = std::string(argv[i + 1]) == "on";
  }
  sbx::log::SetLevel(sbx::log::Level::kWarn);
  // The host-base templates (the same limits as the guide's): the benchmark measures the
  // sandbox machinery, not a template build. Built templates start as fast (docs/benchmarks.md).
  auto text = sbx::ReadFile(std::string(SBX_SOURCE_DIR) + "/tests/integration/host_templates.json");
  if (!text.ok()) return std::fprintf(stderr, "%s\n", text.error().ToString().c_str()), 1;
  auto templates = sbx::spec::ParseTemplatesConfig(*text, "templates.json");
  if (!templates.ok()) return std::fprintf(stderr, "%s\n", templates.error().ToString().c_str()), 1;
  std::filesystem::create_directories(state);
  auto store = sbx::store::Store::Open(state + "/sandboxd.db");
  auto cgroups = sbx::runtime::MakeCgroupDriver("sandboxd-bench-" + sbx::RandomHex(3));
  if (!store.ok() || !cgroups.ok()) return std::fprintf(stderr, "store or cgroups failed\n"), 1;
  sbx::sandbox::ManagerOptions opts;
  opts.state_dir = state;
  opts.agent_path = agent;
  opts.templates = *templates;
  opts.disk_quota = disk_quota;
  sbx::sandbox::SandboxManager mgr(opts, store->get(), std::move(*cgroups));
  if (auto r = mgr.Start(); !r.ok()) return std::fprintf(stderr, "%s\n", r.error().ToString().c_str()), 1;

  sbx::spec::SandboxSpec spec;
  spec.template_name = "python";
  sbx::spec::ExecRequest req;
  req.timeout_s = 30;
  int failures = 0;
  auto check = [&](bool ok) { failures += ok ? 0 : 1; };

  Stats create{"sandboxd: create", {}}, cleanup{"sandboxd: cleanup", {}};
  Stats exec_true{"sandboxd: exec true (running sandbox)", {}};
  Stats exec_py{"sandboxd: exec python3 -c pass (running)", {}};
  Stats oneshot{"sandboxd: one-shot create+exec true+cleanup", {}};
  Stats os_create{"  of which create", {}}, os_exec{"  of which exec true", {}};
  Stats os_cleanup{"  of which cleanup", {}};
  Stats bw_true{"bwrap --unshare-all: true", {}}, bw_py{"bwrap --unshare-all: python3 -c pass", {}};
  Stats bare_true{"bare process: true", {}}, bare_py{"bare process: python3 -c pass", {}};

  // Create and cleanup, back to back (teardown is partly asynchronous in the kernel).
  for (int i = 0; i < runs; ++i) {
    spec.id = "bench_" + std::to_string(i);
    create.ms.push_back(TimeMs([&] { check(mgr.Create(spec, "bench", "").ok()); }));
    cleanup.ms.push_back(TimeMs([&] { check(mgr.Remove(spec.id, "bench").ok()); }));
  }
  // Exec in one running sandbox.
  spec.id = "bench_exec";
  check(mgr.Create(spec, "bench", "").ok());
  for (int i = 0; i < runs; ++i) {
    exec_true.ms.push_back(TimeMs([&] {
      auto r = mgr.ExecArgv(spec.id, {"/bin/true"}, req, "bench");
      check(r.ok() && r->result.success());
    }));
  }
  for (int i = 0; i < runs; ++i) {
    exec_py.ms.push_back(TimeMs([&] {
      auto r = mgr.ExecArgv(spec.id, {"/usr/bin/python3", "-c", "pass"}, req, "bench");
      check(r.ok() && r->result.success());
    }));
  }
  check(mgr.Remove(spec.id, "bench").ok());
  for (int i = 0; i < runs; ++i) {
    spec.id = "bench_one_" + std::to_string(i);
    oneshot.ms.push_back(TimeMs([&] {
      os_create.ms.push_back(TimeMs([&] { check(mgr.Create(spec, "bench", "").ok()); }));
      os_exec.ms.push_back(TimeMs([&] {
        auto r = mgr.ExecArgv(spec.id, {"/bin/true"}, req, "bench");
        check(r.ok() && r->result.success());
      }));
      os_cleanup.ms.push_back(TimeMs([&] { check(mgr.Remove(spec.id, "bench").ok()); }));
    }));
  }
  // Peers over the same root filesystem: the host base layer plus host /usr.
  std::string base = state + "/templates/host/rootfs";
  std::vector<std::string> bwrap = {"bwrap", "--unshare-all", "--ro-bind", base, "/",
                                    "--ro-bind", "/usr", "/usr", "--proc", "/proc",
                                    "--dev", "/dev", "--tmpfs", "/tmp"};
  for (int i = 0; i < runs; ++i) {
    auto a = bwrap;
    a.push_back("/bin/true");
    bw_true.ms.push_back(TimeMs([&] { check(Spawn(a)); }));
  }
  for (int i = 0; i < runs; ++i) {
    auto a = bwrap;
    a.insert(a.end(), {"/usr/bin/python3", "-c", "pass"});
    bw_py.ms.push_back(TimeMs([&] { check(Spawn(a)); }));
  }
  for (int i = 0; i < runs; ++i) bare_true.ms.push_back(TimeMs([&] { check(Spawn({"/bin/true"})); }));
  for (int i = 0; i < runs; ++i)
    bare_py.ms.push_back(TimeMs([&] { check(Spawn({"/usr/bin/python3", "-c", "pass"})); }));

  mgr.Shutdown();
  std::filesystem::remove_all(state);
  std::printf("%-44s %6s %9s %9s\n", "operation", "runs", "p50 ms", "p99 ms");
  for (const Stats* s : {&create, &exec_true, &exec_py, &cleanup, &oneshot, &os_create, &os_exec,
                         &os_cleanup, &bw_true, &bw_py, &bare_true, &bare_py})
    Print(*s);
  std::printf("failures: %d\n", failures);
  return failures == 0 ? 0 : 1;
}
