// Time series of resource samples: one point per sampling round, kept in a buffer bounded by
// age and by count, and the guide's views of it: capture() (the latest point) and
// get_summary() (averages and maxima over the retained window). The JSON shapes are the API's:
// points are E2B's SandboxMetric (docs/E2B-PROTOCOL.md §2.2).
//
// Thread safety: none; the Sampler guards each SeriesBuffer with its own mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sbx::monitor {

// One sample of a sandbox or of the host.
struct Point {
  int64_t unix_ms = 0;
  double cpu_count = 0;       // CPU quota of the sandbox (host: online CPUs)
  double cpu_pct = 0;         // percent of cpu_count, 0..100
  int64_t mem_used = 0;       // bytes
  int64_t mem_total = 0;      // bytes: the memory limit (host: MemTotal)
  int64_t mem_cache = 0;      // bytes of page cache, 0 when unknown
  int64_t disk_used = 0;      // bytes
  int64_t disk_total = 0;     // bytes: the quota, else the size of the state file system
  int64_t pids = 0;           // tasks (host: 0)
  bool disk_complete = true;  // false when disk_used comes from a walk cut short (lower bound)

  double MemPercent() const;
  double DiskPercent() const;
};

// E2B's SandboxMetric: {timestamp, timestampUnix, cpuCount, cpuUsedPct, memUsed, memTotal,
// memCache, diskUsed, diskTotal}.
nlohmann::json ToSandboxMetricJson(const Point& p);

// The guide's monitor.capture().
struct MetricCapture {
  int64_t unix_ms = 0;
  double cpu_percent = 0;
  double memory_percent = 0;
  int64_t memory_used = 0;
  int64_t memory_limit = 0;
  int64_t pids = 0;
  double disk_percent = 0;
  int64_t disk_used = 0;
  int64_t disk_limit = 0;  // diskTotal: the sandbox's disk quota (usable size), or its file system
  double cpu_count = 0;
};
MetricCapture CaptureOf(const Point& p);
// {cpu_percent, memory_percent, memory_used, memory_limit, pids, disk_percent, disk_used,
//  disk_limit, cpu_count, timestamp (RFC 3339)}
nlohmann::json ToJson(const MetricCapture& c);

// The guide's monitor.get_summary(), over the retained points.
struct MetricSummary {
  double cpu_avg = 0, cpu_max = 0;        // percent
  double memory_avg = 0, memory_max = 0;  // percent of the limit
  int64_t memory_used_max = 0;            // bytes
  double disk_max = 0;                    // percent
  int64_t samples = 0;
  double duration = 0;  // seconds from the first to the last point
  int64_t start_unix_ms = 0, end_unix_ms = 0;
};
// {cpu_avg, cpu_max, memory_avg, memory_max, memory_used_max, disk_max, samples, duration,
//  start, end}
nlohmann::json ToJson(const MetricSummary& s);

struct Retention {
  int64_t max_age_ms = 15 * 60 * 1000;  // points older than this (by their timestamp) are dropped
  size_t max_points = 1000;             // and never more than this many per series
};

class SeriesBuffer {
 public:
  explicit SeriesBuffer(Retention r) : retention_(r) {}
  // Appends (points must come in time order) and drops what retention no longer allows,
  // relative to p.unix_ms.
  void Add(const Point& p);
  // Drops points older than now - max_age (series of sandboxes that stopped age out this way).
  void Expire(int64_t now_unix_ms);
  bool empty() const { return points_.empty(); }
  size_t size() const { return points_.size(); }
  const Point& Latest() const { return points_.back(); }
  // Points with start_ms <= unix_ms <= end_ms, oldest first.
  std::vector<Point> Range(int64_t start_ms, int64_t end_ms) const;
  MetricSummary Summarize() const;

 private:
  Retention retention_;
  std::deque<Point> points_;
};

}  // namespace sbx::monitor
