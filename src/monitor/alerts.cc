// The alert evaluator: threshold crossings with hysteresis.
#include "monitor/alerts.h"

#include <algorithm>
#include <cmath>

#include "common/util.h"

namespace sbx::monitor {

const char* AlertMetricName(AlertMetric m) {
  switch (m) {
    case AlertMetric::kCpu:
      return "cpu";
    case AlertMetric::kMemory:
      return "memory";
    case AlertMetric::kDisk:
      return "disk";
    case AlertMetric::kTimeout:
      return "timeout";
  }
  return "unknown";
}

const char* AlertStateName(AlertState s) {
  return s == AlertState::kRaised ? "raised" : "resolved";
}

nlohmann::json ToJson(const AlertEvent& e) {
  nlohmann::json j = {
      {"sandbox_id", e.sandbox_id},       {"metric", AlertMetricName(e.metric)},
      {"state", AlertStateName(e.state)}, {"value", std::round(e.value * 100) / 100},
      {"threshold", e.threshold},         {"time", ToRfc3339(e.unix_ms)},
      {"timestamp_unix_ms", e.unix_ms}};
  if (!e.reason.empty()) j["reason"] = e.reason;
  return j;
}

AlertEvaluator::AlertEvaluator(AlertOptions options, AlertSink sink)
    : options_(options), sink_(std::move(sink)) {}

double AlertEvaluator::Threshold(AlertMetric metric) const {
  const spec::AlertThresholds& t = options_.thresholds;
  switch (metric) {
    case AlertMetric::kCpu:
      return t.cpu_usage_percent;
    case AlertMetric::kMemory:
      return t.memory_usage_percent;
    case AlertMetric::kDisk:
      return t.disk_usage_percent;
    case AlertMetric::kTimeout:
      return static_cast<double>(t.timeout_seconds);
  }
  return 0;
}

double AlertEvaluator::ResolveLevel(AlertMetric metric) const {
  double t = Threshold(metric);
  if (metric == AlertMetric::kTimeout) return t;
  double h = std::clamp(options_.hysteresis_points, 0.0, t / 2);
  return t - h;
}

bool AlertEvaluator::IsOpen(const std::string& subject, AlertMetric metric) const {
  return open_.count({subject, metric}) > 0;
}

void AlertEvaluator::Observe(const std::string& subject, AlertMetric metric, double value,
                             int64_t unix_ms) {
  if (std::isnan(value)) return;
  auto key = std::make_pair(subject, metric);
  auto it = open_.find(key);
  double threshold = Threshold(metric);
  if (it == open_.end()) {
    if (threshold <= 0 || value < threshold) return;
    open_.emplace(key, threshold);
    if (sink_) sink_({subject, metric, AlertState::kRaised, value, threshold, unix_ms, ""});
    return;
  }
  // A metric disabled while its alert was open resolves at the next reading.
  bool clear = threshold <= 0 || value < ResolveLevel(metric);
  if (!clear) return;
  double raised_at = it->second;
  open_.erase(it);
  if (sink_) sink_({subject, metric, AlertState::kResolved, value, raised_at, unix_ms, ""});
}

void AlertEvaluator::Forget(const std::string& subject, int64_t unix_ms) {
  for (auto it = open_.lower_bound({subject, AlertMetric::kCpu});
       it != open_.end() && it->first.first == subject;) {
    AlertEvent e{subject, it->first.second, AlertState::kResolved, 0, it->second,
                 unix_ms, "forgotten"};
    it = open_.erase(it);
    if (sink_) sink_(e);
  }
}

}  // namespace sbx::monitor
