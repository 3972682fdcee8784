// The sampling loop, per-sandbox series and the views the API serves.
#include "monitor/sampler.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <set>

#include "common/log.h"
#include "common/util.h"

namespace sbx::monitor {
namespace {

int64_t ThreadCpuNs() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

double CpuPercentOfQuota(int64_t prev_usage_ns, int64_t usage_ns, int64_t wall_ns, double cpus) {
  if (wall_ns <= 0 || usage_ns < prev_usage_ns || !(cpus > 0)) return 0;
  double pct =
      100.0 * static_cast<double>(usage_ns - prev_usage_ns) / (cpus * static_cast<double>(wall_ns));
  return std::clamp(pct, 0.0, 100.0);
}

Sampler::Sampler(SamplerOptions options, ProbeFn probe, SandboxdMetrics* metrics,
                 AlertSink on_alert)
    : options_(std::move(options)),
      probe_(std::move(probe)),
      metrics_(metrics),
      on_alert_(std::move(on_alert)),
      host_series_(options_.retention),
      alerts_(options_.alerts, [this](const AlertEvent& e) { pending_alerts_.push_back(e); }) {}

Sampler::~Sampler() { Stop(); }

Result<void> Sampler::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable())
    return MakeError(ErrorCode::kFailedPrecondition, "monitor sampler already started");
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
  return Ok();
}

void Sampler::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
}

void Sampler::Run() {
  using Clock = std::chrono::steady_clock;
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(10, options_.interval_ms));
  auto next = Clock::now();
  std::unique_lock<std::mutex> lock(thread_mu_);
  while (!stopping_) {
    lock.unlock();
    SampleOnce();
    lock.lock();
    next += interval;
    auto now = Clock::now();
    if (next < now) next = now + interval;  // fell behind: skip missed ticks, never burst
    cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

void Sampler::SampleOnce() { SampleAt(MonotonicNs(), NowUnixMs()); }

void Sampler::SampleAt(int64_t mono_ns, int64_t unix_ms) {
  const int64_t cpu_start = ThreadCpuNs();
  const int64_t wall_start = MonotonicNs();
  std::vector<SandboxProbe> probes = probe_ ? probe_() : std::vector<SandboxProbe>{};

  HostReadings host;
  if (auto f = StatFs(options_.state_dir); f.ok())
    host.fs = *f;
  else if (metrics_)
    metrics_->sample_errors->With({"statfs"}).Inc();
  if (auto m = ReadMeminfo(options_.proc_root); m.ok()) host.mem = *m;
  if (options_.sample_host) {
    if (auto c = ReadCpuTimes(options_.proc_root); c.ok()) host.cpu = *c;
    if (auto l = ReadLoadavg(options_.proc_root); l.ok()) host.load = *l;
  }
  const std::optional<FsUsage>& fs = host.fs;

  // Which upper layers are due for a walk (decided under the lock, walked without it).
  std::vector<DiskReading> disk(probes.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < probes.size(); ++i) {
      if (probes[i].upper_dir.empty() || probes[i].disk) continue;
      auto it = tracked_.find(probes[i].id);
      disk[i].attempted = it == tracked_.end() || mono_ns >= it->second.next_disk_mono_ns;
    }
  }
  int64_t walks = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    if (!disk[i].attempted) continue;
    ++walks;
    auto u = MeasureDiskUsage(probes[i].upper_dir, options_.disk_limits);
    if (u.ok())
      disk[i].usage = *u;
    else if (metrics_)
      metrics_->sample_errors->With({"disk"}).Inc();
  }

  std::vector<AlertEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> seen;
    for (size_t i = 0; i < probes.size(); ++i) {
      const SandboxProbe& p = probes[i];
      seen.insert(p.id);
      auto it = tracked_.try_emplace(p.id, options_.retention).first;
      Tracked& t = it->second;
      t.running = true;
      if (disk[i].attempted) {
        int64_t walk_ns = disk[i].usage ? disk[i].usage->walk_ns : 0;
        int64_t spacing = options_.disk_interval_ms * 1000000;
        if (options_.disk_max_share > 0)
          spacing = std::max<int64_t>(spacing, static_cast<int64_t>(static_cast<double>(walk_ns) /
                                                                    options_.disk_max_share));
        // The first walk of each sandbox is followed by a walk after a per-sandbox 50-100 % of
        // the spacing, so that sandboxes started together do not all walk in the same round.
        if (!t.disk_known)
          spacing = spacing / 2 + static_cast<int64_t>(std::hash<std::string>{}(p.id) %
                                                       static_cast<size_t>(spacing / 2 + 1));
        t.next_disk_mono_ns = mono_ns + spacing;
        if (disk[i].usage) {
          t.disk_used = disk[i].usage->bytes;
          t.disk_complete = disk[i].usage->complete;
          t.disk_known = true;
        }
      }
      if (p.disk) {
        t.disk_used = p.disk->used_bytes;
        t.disk_complete = true;
        t.disk_known = true;
      }
      if (!p.stats) {
        if (metrics_) metrics_->sample_errors->With({"cgroup"}).Inc();
        continue;
      }
      const runtime::CgroupStats& s = *p.stats;
      double cpus = p.cpus > 0 ? p.cpus : static_cast<double>(OnlineCpus());
      bool had_baseline = t.have_baseline && s.cpu_usage_ns >= t.prev_cpu_ns;
      double cpu_pct =
          CpuPercentOfQuota(t.prev_cpu_ns, s.cpu_usage_ns, mono_ns - t.prev_mono_ns, cpus);
      t.have_baseline = true;
      t.prev_cpu_ns = s.cpu_usage_ns;
      t.prev_mono_ns = mono_ns;
      if (!had_baseline) continue;  // a rate needs two readings

      Point pt;
      pt.unix_ms = unix_ms;
      pt.cpu_count = cpus;
      pt.cpu_pct = cpu_pct;
      pt.mem_used = s.memory_current;
      // No limit, or v1's "unlimited" (a huge number): the host's memory is the limit.
      int64_t limit = p.memory_limit_bytes > 0 ? p.memory_limit_bytes : s.memory_limit;
      if (host.mem && (limit <= 0 || limit > host.mem->total_bytes)) limit = host.mem->total_bytes;
      pt.mem_total = std::max<int64_t>(limit, 0);
      pt.pids = s.pids_current;
      pt.disk_used = t.disk_used;
      pt.disk_complete = t.disk_complete;
      pt.disk_total = p.disk               ? p.disk->total_bytes
                      : p.disk_quota_bytes > 0 ? p.disk_quota_bytes
                                               : (fs ? fs->total_bytes : 0);
      t.series.Add(pt);

      alerts_.Observe(p.id, AlertMetric::kCpu, pt.cpu_pct, unix_ms);
      alerts_.Observe(p.id, AlertMetric::kMemory, pt.MemPercent(), unix_ms);
      if (t.disk_known) alerts_.Observe(p.id, AlertMetric::kDisk, pt.DiskPercent(), unix_ms);
      if (p.elapsed_seconds >= 0)
        alerts_.Observe(p.id, AlertMetric::kTimeout, p.elapsed_seconds, unix_ms);
      if (metrics_) {
        metrics_->sandbox_cpu_percent->With({p.id}).Set(pt.cpu_pct);
        metrics_->sandbox_memory_bytes->With({p.id}).Set(static_cast<double>(pt.mem_used));
        metrics_->sandbox_memory_limit_bytes->With({p.id}).Set(static_cast<double>(pt.mem_total));
        metrics_->sandbox_pids->With({p.id}).Set(static_cast<double>(pt.pids));
        if (t.disk_known)
          metrics_->sandbox_disk_bytes->With({p.id}).Set(static_cast<double>(pt.disk_used));
        if (p.disk) {
          auto d = [](int64_t v) { return static_cast<double>(v); };
          metrics_->sandbox_disk_limit_bytes->With({p.id}).Set(d(p.disk->total_bytes));
          metrics_->sandbox_inodes->With({p.id}).Set(d(p.disk->used_inodes));
          metrics_->sandbox_inodes_limit->With({p.id}).Set(d(p.disk->total_inodes));
        }
      }
    }
    // Sandboxes that left: no gauges, alerts resolved; their series age out by retention.
    for (auto it = tracked_.begin(); it != tracked_.end();) {
      Tracked& t = it->second;
      if (!seen.count(it->first) && t.running) {
        t.running = false;
        t.have_baseline = false;
        alerts_.Forget(it->first, unix_ms);
        RemoveGaugesLocked(it->first);
      }
      if (!t.running) t.series.Expire(unix_ms);
      if (!t.running && t.series.empty())
        it = tracked_.erase(it);
      else
        ++it;
    }
    if (options_.sample_host) SampleHostLocked(unix_ms, host);
    events.swap(pending_alerts_);
    stats_.rounds++;
    stats_.disk_walks += walks;
    stats_.last_round_wall_ns = MonotonicNs() - wall_start;
    stats_.last_round_cpu_ns = ThreadCpuNs() - cpu_start;
    stats_.total_cpu_ns += stats_.last_round_cpu_ns;
    if (metrics_) {
      metrics_->sample_rounds->With({}).Inc();
      metrics_->sample_seconds->With({}).Inc(static_cast<double>(stats_.last_round_cpu_ns) / 1e9);
    }
  }
  EmitAlerts(std::move(events));
}

void Sampler::SampleHostLocked(int64_t unix_ms, const HostReadings& h) {
  if (!h.cpu || !h.mem || !h.load) {
    if (metrics_) metrics_->sample_errors->With({"host"}).Inc();
    return;
  }
  const std::optional<FsUsage>& fs = h.fs;
  const MemInfo* mem = &*h.mem;
  const LoadAvg* load = &*h.load;
  if (metrics_) {
    metrics_->host_cpus->With({}).Set(OnlineCpus());
    metrics_->host_memory_total_bytes->With({}).Set(static_cast<double>(mem->total_bytes));
    metrics_->host_memory_available_bytes->With({}).Set(static_cast<double>(mem->available_bytes));
    metrics_->host_load->With({"1m"}).Set(load->load1);
    metrics_->host_load->With({"5m"}).Set(load->load5);
    metrics_->host_load->With({"15m"}).Set(load->load15);
    if (fs) {
      metrics_->host_disk_total_bytes->With({}).Set(static_cast<double>(fs->total_bytes));
      metrics_->host_disk_used_bytes->With({}).Set(static_cast<double>(fs->used_bytes));
    }
  }
  std::optional<CpuTimes> prev = host_prev_cpu_;
  host_prev_cpu_ = *h.cpu;
  if (!prev) return;
  Point pt;
  pt.unix_ms = unix_ms;
  pt.cpu_count = OnlineCpus();
  pt.cpu_pct = HostCpuPercent(*prev, *h.cpu);
  pt.mem_total = mem->total_bytes;
  pt.mem_used = mem->total_bytes - mem->available_bytes;
  pt.mem_cache = mem->cached_bytes;
  pt.disk_total = fs ? fs->total_bytes : 0;
  pt.disk_used = fs ? fs->used_bytes : 0;
  pt.pids = load->tasks;
  host_series_.Add(pt);
  if (metrics_) metrics_->host_cpu_percent->With({}).Set(pt.cpu_pct);
}

void Sampler::RemoveGaugesLocked(const std::string& id) {
  if (!metrics_) return;
  for (GaugeFamily* f :
       {metrics_->sandbox_cpu_percent, metrics_->sandbox_memory_bytes,
        metrics_->sandbox_memory_limit_bytes, metrics_->sandbox_pids, metrics_->sandbox_disk_bytes,
        metrics_->sandbox_disk_limit_bytes, metrics_->sandbox_inodes,
        metrics_->sandbox_inodes_limit})
    f->Remove({id});
}

void Sampler::EmitAlerts(std::vector<AlertEvent> events) {
  for (const AlertEvent& e : events) {
    log::Info("alert", {{"sandbox_id", e.sandbox_id},
                        {"metric", AlertMetricName(e.metric)},
                        {"state", AlertStateName(e.state)},
                        {"value", e.value},
                        {"threshold", e.threshold}});
    if (metrics_)
      metrics_->alerts->With({AlertMetricName(e.metric), AlertStateName(e.state)}).Inc();
    if (on_alert_) on_alert_(e);
  }
}

void Sampler::Forget(const std::string& id) {
  std::vector<AlertEvent> events;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tracked_.erase(id);
    alerts_.Forget(id, NowUnixMs());
    RemoveGaugesLocked(id);
    events.swap(pending_alerts_);
  }
  EmitAlerts(std::move(events));
}

void Sampler::SetAlertOptions(AlertOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  alerts_.SetOptions(options);
}

SamplerStats Sampler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SamplerStats st = stats_;
  st.tracked = tracked_.size();
  return st;
}

Result<std::vector<Point>> Sampler::Series(const std::string& id, int64_t start_ms,
                                           int64_t end_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tracked_.find(id);
  if (it == tracked_.end()) return MakeError(ErrorCode::kNotFound, "no metrics for sandbox " + id);
  return it->second.series.Range(start_ms, end_ms);
}

Result<MetricCapture> Sampler::Capture(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tracked_.find(id);
  if (it == tracked_.end()) return MakeError(ErrorCode::kNotFound, "no metrics for sandbox " + id);
  if (it->second.series.empty())
    return MakeError(ErrorCode::kUnavailable,
                     "sandbox " + id + ": no sample yet (the first comes one interval after " +
                         "the sandbox starts)");
  return CaptureOf(it->second.series.Latest());
}

Result<MetricSummary> Sampler::Summary(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tracked_.find(id);
  if (it == tracked_.end()) return MakeError(ErrorCode::kNotFound, "no metrics for sandbox " + id);
  return it->second.series.Summarize();
}

Result<std::vector<Point>> Sampler::HostSeries(int64_t start_ms, int64_t end_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_series_.Range(start_ms, end_ms);
}

Result<MetricCapture> Sampler::HostCapture() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (host_series_.empty()) return MakeError(ErrorCode::kUnavailable, "host: no sample yet");
  return CaptureOf(host_series_.Latest());
}

Result<MetricSummary> Sampler::HostSummary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_series_.Summarize();
}

std::vector<std::pair<std::string, MetricCapture>> Sampler::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, MetricCapture>> out;
  for (const auto& [id, t] : tracked_)
    if (t.running && !t.series.empty()) out.emplace_back(id, CaptureOf(t.series.Latest()));
  return out;
}

nlohmann::json Sampler::OverviewJson() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, c] : Running()) {
    nlohmann::json j = ToJson(c);
    j["sandbox_id"] = id;
    list.push_back(std::move(j));
  }
  auto host = HostCapture();
  return {{"host", host.ok() ? ToJson(*host) : nlohmann::json(nullptr)},
          {"sandboxes", std::move(list)},
          {"interval_ms", options_.interval_ms}};
}

}  // namespace sbx::monitor
