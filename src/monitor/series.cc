// Series buffers, capture and summary, and their JSON.
#include "monitor/series.h"

#include <algorithm>
#include <cmath>

#include "common/util.h"

namespace sbx::monitor {
namespace {

double Percent(int64_t used, int64_t total) {
  if (total <= 0) return 0;
  double p = 100.0 * static_cast<double>(used) / static_cast<double>(total);
  return std::clamp(p, 0.0, 100.0);
}

// Two decimals are plenty for a percentage and keep the JSON short.
double Round2(double v) { return static_cast<double>(static_cast<int64_t>(v * 100 + 0.5)) / 100; }

}  // namespace

double Point::MemPercent() const { return Percent(mem_used, mem_total); }
double Point::DiskPercent() const { return Percent(disk_used, disk_total); }

nlohmann::json ToSandboxMetricJson(const Point& p) {
  return {{"timestamp", ToRfc3339(p.unix_ms)},
          {"timestampUnix", p.unix_ms / 1000},
          {"cpuCount", static_cast<int64_t>(std::ceil(p.cpu_count))},  // E2B: an integer
          {"cpuUsedPct", Round2(p.cpu_pct)},
          {"memUsed", p.mem_used},
          {"memTotal", p.mem_total},
          {"memCache", p.mem_cache},
          {"diskUsed", p.disk_used},
          {"diskTotal", p.disk_total}};
}

MetricCapture CaptureOf(const Point& p) {
  MetricCapture c;
  c.unix_ms = p.unix_ms;
  c.cpu_percent = p.cpu_pct;
  c.memory_percent = p.MemPercent();
  c.memory_used = p.mem_used;
  c.memory_limit = p.mem_total;
  c.pids = p.pids;
  c.disk_percent = p.DiskPercent();
  c.disk_used = p.disk_used;
  c.disk_limit = p.disk_total;
  c.cpu_count = p.cpu_count;
  return c;
}

nlohmann::json ToJson(const MetricCapture& c) {
  return {{"cpu_percent", Round2(c.cpu_percent)},
          {"memory_percent", Round2(c.memory_percent)},
          {"memory_used", c.memory_used},
          {"memory_limit", c.memory_limit},
          {"pids", c.pids},
          {"disk_percent", Round2(c.disk_percent)},
          {"disk_used", c.disk_used},
          {"disk_limit", c.disk_limit},
          {"cpu_count", c.cpu_count},
          {"timestamp", ToRfc3339(c.unix_ms)}};
}

nlohmann::json ToJson(const MetricSummary& s) {
  return {{"cpu_avg", Round2(s.cpu_avg)},
          {"cpu_max", Round2(s.cpu_max)},
          {"memory_avg", Round2(s.memory_avg)},
          {"memory_max", Round2(s.memory_max)},
          {"memory_used_max", s.memory_used_max},
          {"disk_max", Round2(s.disk_max)},
          {"samples", s.samples},
          {"duration", s.duration},
          {"start", s.samples ? ToRfc3339(s.start_unix_ms) : ""},
          {"end", s.samples ? ToRfc3339(s.end_unix_ms) : ""}};
}

void SeriesBuffer::Add(const Point& p) {
  points_.push_back(p);
  while (points_.size() > std::max<size_t>(1, retention_.max_points)) points_.pop_front();
  Expire(p.unix_ms);
}

void SeriesBuffer::Expire(int64_t now_unix_ms) {
  while (!points_.empty() && points_.front().unix_ms < now_unix_ms - retention_.max_age_ms)
    points_.pop_front();
}

std::vector<Point> SeriesBuffer::Range(int64_t start_ms, int64_t end_ms) const {
  std::vector<Point> out;
  auto lo = std::lower_bound(points_.begin(), points_.end(), start_ms,
                             [](const Point& p, int64_t t) { return p.unix_ms < t; });
  for (auto it = lo; it != points_.end() && it->unix_ms <= end_ms; ++it) out.push_back(*it);
  return out;
}

MetricSummary SeriesBuffer::Summarize() const {
  MetricSummary s;
  if (points_.empty()) return s;
  double cpu_sum = 0, mem_sum = 0;
  for (const Point& p : points_) {
    cpu_sum += p.cpu_pct;
    mem_sum += p.MemPercent();
    s.cpu_max = std::max(s.cpu_max, p.cpu_pct);
    s.memory_max = std::max(s.memory_max, p.MemPercent());
    s.memory_used_max = std::max(s.memory_used_max, p.mem_used);
    s.disk_max = std::max(s.disk_max, p.DiskPercent());
  }
  s.samples = static_cast<int64_t>(points_.size());
  s.cpu_avg = cpu_sum / static_cast<double>(s.samples);
  s.memory_avg = mem_sum / static_cast<double>(s.samples);
  s.start_unix_ms = points_.front().unix_ms;
  s.end_unix_ms = points_.back().unix_ms;
  s.duration = static_cast<double>(s.end_unix_ms - s.start_unix_ms) / 1000.0;
  return s;
}

}  // namespace sbx::monitor
