// Cost of resource sampling: CPU time of the monitor's sampling thread per round with N idle
// sandboxes (default 100), at the daemon's interval (1 s). Two set-ups:
//   fake: the probe returns stats from memory: the sampler's own work (series, alerts, gauges);
//   real: N real, empty cgroups read through the cgroup driver, each with an upper dir of 20
//         small files walked every disk interval (10 s): what the daemon pays per idle sandbox.
// Each set-up runs 60 rounds on a simulated clock (one minute of steady state, disk walks
// included in their real proportion), then the real sampling thread for --seconds, measured with
// getrusage. Prints figures; asserts nothing. Run as root (cgroups).
//
// Usage: monitor_bench [--sandboxes N] [--seconds S]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/util.h"
#include "monitor/metrics_registry.h"
#include "monitor/sampler.h"
#include "monitor/sandboxd_metrics.h"
#include "runtime/cgroup.h"
#include "runtime/fs_util.h"

namespace {

using sbx::monitor::ProbeFn;
using sbx::monitor::Sampler;
using sbx::monitor::SamplerOptions;
using sbx::monitor::SandboxProbe;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

int64_t ProcessCpuNs() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

void Measure(const char* name, const ProbeFn& probe, int n, int seconds,
             const std::string& state_dir) {
  sbx::monitor::Registry registry;
  auto metrics = sbx::monitor::SandboxdMetrics::Register(&registry);
  if (!metrics.ok()) {
    std::fprintf(stderr, "%s\n", metrics.error().ToString().c_str());
    std::exit(1);
  }
  SamplerOptions o;
  o.state_dir = state_dir;
  const int64_t interval_ns = o.interval_ms * 1000000;

  // Simulated clock: one minute of rounds, back to back.
  {
    Sampler s(o, probe, metrics->get(), nullptr);
    std::vector<double> us;
    int64_t mono = sbx::MonotonicNs();
    int64_t unix_ms = sbx::NowUnixMs();
    for (int i = 0; i < 61; ++i) {
      s.SampleAt(mono + i * interval_ns, unix_ms + i * o.interval_ms);
      if (i > 0) us.push_back(static_cast<double>(s.Stats().last_round_cpu_ns) / 1e3);
    }
    double mean = 0;
    for (double v : us) mean += v;
    mean /= static_cast<double>(us.size());
    std::printf(
        "%-5s N=%-4d per round CPU: mean %8.1f us  p50 %8.1f us  max %8.1f us  "
        "-> %.3f%% of one CPU at 1 s (%.2f us per sandbox); disk walks %lld; "
        "/metrics %zu bytes\n",
        name, n, mean, Percentile(us, 0.5), Percentile(us, 1.0), mean / 1e4, mean / n,
        static_cast<long long>(s.Stats().disk_walks), registry.Render().size());
  }
  // The real thread at 1 s.
  if (seconds > 0) {
    Sampler s(o, probe, metrics->get(), nullptr);
    int64_t cpu0 = ProcessCpuNs();
    int64_t wall0 = sbx::MonotonicNs();
    if (!s.Start().ok()) std::exit(1);
    ::sleep(static_cast<unsigned>(seconds));
    s.Stop();
    double cpu_ms = static_cast<double>(ProcessCpuNs() - cpu0) / 1e6;
    double wall_ms = static_cast<double>(sbx::MonotonicNs() - wall0) / 1e6;
    std::printf(
        "%-5s N=%-4d sampling thread for %d s: %lld rounds, process CPU %.1f ms "
        "= %.3f%% of one CPU (thread's own count %.1f ms)\n",
        name, n, seconds, static_cast<long long>(s.Stats().rounds), cpu_ms,
        100.0 * cpu_ms / wall_ms, static_cast<double>(s.Stats().total_cpu_ns) / 1e6);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100;
  int seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--sandboxes") == 0)
      n = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atoi(argv[i + 1]);
  }
  sbx::log::SetLevel(sbx::log::Level::kWarn);
  char tmpl[] = "/tmp/sbx-monitor-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  std::string root = tmpl;

  // fake: stats from memory, no upper dirs.
  ProbeFn fake = [n] {
    std::vector<SandboxProbe> out;
    out.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      SandboxProbe p;
      p.id = "sbx_" + std::to_string(i);
      sbx::runtime::CgroupStats st;
      st.memory_current = 8 << 20;
      st.memory_limit = 512 << 20;
      st.pids_current = 1;
      st.cpu_usage_ns = 1000000;
      p.stats = st;
      out.push_back(std::move(p));
    }
    return out;
  };
  Measure("fake", fake, n, seconds, root);

  // real: N empty cgroups and N small upper dirs.
  auto made = sbx::runtime::MakeCgroupDriver("sandboxd-monbench-" + sbx::RandomHex(4));
  if (!made.ok()) {
    std::fprintf(stderr, "cgroups: %s (run as root)\n", made.error().ToString().c_str());
    return 1;
  }
  std::unique_ptr<sbx::runtime::CgroupDriver> driver = std::move(made).value();
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    std::string id = "b" + std::to_string(i);
    if (!driver->Create(id, sbx::spec::Limits{}, sbx::runtime::CgroupDelegate{}).ok()) break;
    ids.push_back(id);
    std::string upper = root + "/" + id;
    (void)sbx::runtime::MakeDirs(upper + "/home/user", 0755);
    for (int f = 0; f < 20; ++f)
      (void)sbx::WriteFileAtomic(upper + "/home/user/f" + std::to_string(f), "hello");
  }
  ProbeFn real = [&] {
    std::vector<SandboxProbe> out;
    out.reserve(ids.size());
    for (const std::string& id : ids) {
      SandboxProbe p;
      p.id = id;
      if (auto st = driver->Stats(id); st.ok()) p.stats = *st;
      p.upper_dir = root + "/" + id;
      out.push_back(std::move(p));
    }
    return out;
  };
  std::printf("cgroup driver: %s\n", driver->Name());
  Measure("real", real, static_cast<int>(ids.size()), seconds, root);

  for (const std::string& id : ids) (void)driver->Destroy(id);
  (void)driver->RemoveInstance();
  (void)sbx::runtime::RemoveTree(root);
  return 0;
}
