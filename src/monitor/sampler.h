// Sampler: the resource monitor. A thread samples, every `interval`, each running sandbox (as a
// probe callback reports them: id, cgroup stats, upper dir, limits) and the host, keeps a time
// series per sandbox and for the host, updates the per-sandbox and host Prometheus gauges, and
// feeds the alert evaluator, whose events go to `on_alert`.
//
// CPU percent is of the sandbox's quota: delta(cpu_usage_ns) / (cpus * delta(wall ns)) * 100,
// clamped to 0..100, so a sandbox with cpus=1 that spins shows ~100 and an idle one ~0. The
// first round that sees a sandbox takes a baseline only; its first point comes one interval
// later. Disk is the allocated size of the upper layer, walked at most every disk_interval and
// cached in between (docs/monitoring.md); a slow walk pushes that sandbox's next walk further
// out, so walking costs at most `disk_max_share` of one CPU.
//
// Thread safety: every public method may be called from any thread. One mutex guards the
// series and the alert state; the probe callback and the disk walks run without it, so a probe
// may call into the sandbox manager freely. on_alert runs on the sampling thread after the
// mutex is released, in event order; it must not block for long (hand the event to a queue).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "monitor/alerts.h"
#include "monitor/disk_usage.h"
#include "monitor/host_stats.h"
#include "monitor/sandboxd_metrics.h"
#include "monitor/series.h"
#include "runtime/cgroup.h"
#include "runtime/disk.h"

namespace sbx::monitor {

// What the sandbox manager reports of one running sandbox.
struct SandboxProbe {
  std::string id;
  std::optional<runtime::CgroupStats> stats;  // nullopt: could not be read this round
  std::string upper_dir;                      // its writable layer; "" = no disk reading
  double cpus = 1;                 // CPU quota in CPUs; <= 0 = unlimited (the host's CPUs)
  int64_t memory_limit_bytes = 0;  // 0: stats->memory_limit (capped at host memory)
  int64_t disk_quota_bytes = 0;    // 0: no quota; diskTotal is the state file system's size
  // The sandbox's own file system (runtime/disk.h): when set, disk figures come from it (no
  // walk of upper_dir) and diskTotal is its usable size.
  std::optional<runtime::DiskStats> disk;
  // Seconds the sandbox (or its longest running execution) has run, for the timeoutSeconds
  // alert; < 0: not reported.
  double elapsed_seconds = -1;
};
using ProbeFn = std::function<std::vector<SandboxProbe>()>;

struct SamplerOptions {
  int64_t interval_ms = 1000;
  Retention retention;               // per sandbox and for the host
  int64_t disk_interval_ms = 10000;  // a sandbox's upper layer is walked at most this often
  DiskWalkLimits disk_limits;
  double disk_max_share = 0.02;  // walks of one sandbox use at most this share of a CPU
  std::string state_dir = "/";   // its file system: host disk and the default diskTotal
  std::string proc_root = "/proc";
  AlertOptions alerts;
  bool sample_host = true;
};

// CPU use in percent of a quota of `cpus` CPUs from two cpu_usage_ns readings `wall_ns` apart.
// Clamped to 0..100; 0 when wall_ns <= 0 or the counter went backwards (a new cgroup).
double CpuPercentOfQuota(int64_t prev_usage_ns, int64_t usage_ns, int64_t wall_ns, double cpus);

struct SamplerStats {
  int64_t rounds = 0;
  int64_t last_round_cpu_ns = 0;  // CPU time of the sampling thread in the last round
  int64_t last_round_wall_ns = 0;
  int64_t total_cpu_ns = 0;
  int64_t disk_walks = 0;
  size_t tracked = 0;  // series kept (running sandboxes and retained stopped ones)
};

class Sampler {
 public:
  // `metrics` and `on_alert` may be null. `metrics` must outlive the sampler.
  Sampler(SamplerOptions options, ProbeFn probe, SandboxdMetrics* metrics, AlertSink on_alert);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Starts the sampling thread (first round at once). kFailedPrecondition if already started.
  Result<void> Start();
  // Stops and joins the thread; idempotent.
  void Stop();

  // One round now, on the calling thread (the thread calls this; so can tests and benchmarks).
  void SampleOnce();
  // One round with given clocks (tests inject time): `mono_ns` for rates, `unix_ms` for stamps.
  void SampleAt(int64_t mono_ns, int64_t unix_ms);

  // A sandbox's points with start_ms <= timestamp <= end_ms (kNotFound: never sampled or aged
  // out). Series of a stopped sandbox stay until retention drops them or Forget().
  Result<std::vector<Point>> Series(const std::string& id, int64_t start_ms, int64_t end_ms) const;
  // The latest point (kUnavailable before the first point, one interval after first sight).
  Result<MetricCapture> Capture(const std::string& id) const;
  Result<MetricSummary> Summary(const std::string& id) const;
  Result<std::vector<Point>> HostSeries(int64_t start_ms, int64_t end_ms) const;
  Result<MetricCapture> HostCapture() const;
  Result<MetricSummary> HostSummary() const;
  // Latest capture of every sandbox seen running in the last round, by id.
  std::vector<std::pair<std::string, MetricCapture>> Running() const;
  // {"host": capture|null, "sandboxes": [{"sandbox_id", ...capture}], "interval_ms"}: one call
  // for a live table (`sbx stats`).
  nlohmann::json OverviewJson() const;

  // Drops a sandbox's series, gauges and alert state now (resolving open alerts).
  void Forget(const std::string& id);
  void SetAlertOptions(AlertOptions options);
  SamplerStats Stats() const;
  const SamplerOptions& options() const { return options_; }

 private:
  struct Tracked {
    explicit Tracked(Retention r) : series(r) {}
    SeriesBuffer series;
    bool have_baseline = false;
    int64_t prev_cpu_ns = 0;
    int64_t prev_mono_ns = 0;
    bool running = false;
    int64_t disk_used = 0;
    bool disk_complete = true;
    bool disk_known = false;
    int64_t next_disk_mono_ns = 0;
  };
  struct HostReadings {
    std::optional<FsUsage> fs;
    std::optional<MemInfo> mem;
    std::optional<CpuTimes> cpu;
    std::optional<LoadAvg> load;
  };
  struct DiskReading {
    std::optional<DiskUsage> usage;
    bool attempted = false;
  };

  void Run();
  void RemoveGaugesLocked(const std::string& id);
  void SampleHostLocked(int64_t unix_ms, const HostReadings& h);
  void EmitAlerts(std::vector<AlertEvent> events);

  const SamplerOptions options_;
  ProbeFn probe_;
  SandboxdMetrics* metrics_;
  AlertSink on_alert_;

  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, Tracked> tracked_;
  SeriesBuffer host_series_;
  std::optional<CpuTimes> host_prev_cpu_;
  AlertEvaluator alerts_;
  std::vector<AlertEvent> pending_alerts_;  // filled by the evaluator's sink, under mu_
  SamplerStats stats_;

  std::mutex thread_mu_;  // guards stopping_, thread_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sbx::monitor
