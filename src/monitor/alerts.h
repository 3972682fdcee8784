// Resource alerts from templates.json `monitoring.alertThresholds`: a pure evaluator with
// hysteresis. For each (subject, metric) it remembers whether an alert is open; it raises once
// when the value reaches the threshold and resolves once when the value falls clearly below it
// (below threshold - hysteresis), so noise around the threshold does not flap. No clock, no
// thread, no I/O: callers pass values and times, and events come out through a callback.
//
// Metrics: cpu, memory and disk are percentages (of the sandbox's CPU quota, memory limit and
// disk total); timeout is elapsed seconds of a sandbox or an execution, compared with
// timeoutSeconds (it resolves as soon as the elapsed time is below the threshold again, e.g. a
// new execution, or when the subject is forgotten).
//
// Thread safety: not thread-safe; one owner calls it (the Sampler, under its mutex). The sink
// runs synchronously inside Observe/Forget and must not call back into the evaluator.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "spec/spec.h"

namespace sbx::monitor {

enum class AlertMetric { kCpu, kMemory, kDisk, kTimeout };
enum class AlertState { kRaised, kResolved };

const char* AlertMetricName(AlertMetric m);  // "cpu", "memory", "disk", "timeout"
const char* AlertStateName(AlertState s);    // "raised", "resolved"

struct AlertEvent {
  std::string sandbox_id;  // the subject: a sandbox id (or "host", or an execution id)
  AlertMetric metric = AlertMetric::kCpu;
  AlertState state = AlertState::kRaised;
  double value = 0;  // the reading that raised or resolved it (percent or seconds)
  double threshold = 0;
  int64_t unix_ms = 0;
  std::string reason;  // "" normally; "forgotten" when resolved because the subject left
};
// {sandbox_id, metric, state, value, threshold, time (RFC 3339), timestamp_unix_ms, reason?}:
// the payload of the `alert` event the webhooks deliver.
nlohmann::json ToJson(const AlertEvent& e);

struct AlertOptions {
  spec::AlertThresholds thresholds;  // a threshold <= 0 disables that metric
  // Percentage points below the threshold a value must fall to resolve. Capped at half the
  // threshold, so a small threshold can still resolve.
  double hysteresis_points = 5;
};

using AlertSink = std::function<void(const AlertEvent&)>;

class AlertEvaluator {
 public:
  AlertEvaluator(AlertOptions options, AlertSink sink);

  // Feeds one reading. Emits kRaised when no alert is open and value >= threshold, kResolved
  // when one is open and value < resolve level; otherwise nothing.
  void Observe(const std::string& subject, AlertMetric metric, double value, int64_t unix_ms);
  // The subject went away: resolves its open alerts (reason "forgotten") and drops its state.
  void Forget(const std::string& subject, int64_t unix_ms);
  // New thresholds apply from the next reading; open alerts stay open until they resolve.
  void SetOptions(AlertOptions options) { options_ = options; }

  bool IsOpen(const std::string& subject, AlertMetric metric) const;
  size_t OpenCount() const { return open_.size(); }
  double Threshold(AlertMetric metric) const;
  double ResolveLevel(AlertMetric metric) const;

 private:
  AlertOptions options_;
  AlertSink sink_;
  // Open alerts only: (subject, metric) -> the threshold it was raised at.
  std::map<std::pair<std::string, AlertMetric>, double> open_;
};

}  // namespace sbx::monitor
