// A small Prometheus registry: counter, gauge and histogram families with fixed label names,
// rendered in the text exposition format 0.0.4 (what `GET /metrics` serves and
// `promtool check metrics` lints). Families are registered once at start; series (one per set
// of label values) are created on first use and can be removed (per-sandbox series are removed
// when the sandbox goes away, so label sets never grow without bound).
//
// Thread safety: every method may be called from any thread. Counter, Gauge and Histogram
// updates are lock-free atomics; looking a series up by label values takes the family's mutex
// (one per family, held for a map lookup). Render() takes each family's mutex in turn, never
// two at once. A reference returned by With() stays valid until that series is removed with
// Remove()/RemoveMatching() or the registry is destroyed: cache it only for series that are
// never removed (the daemon-wide counters), look per-sandbox series up each time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sbx::monitor {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  // Negative or NaN increments are ignored: a counter only goes up.
  void Inc(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the upper bounds of the buckets, strictly increasing, without +Inf.
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1 (the +Inf bucket)
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric family: a name, a help text, label names and its series.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The series for these label values, created on first use. `values` must have one value per
  // label name; missing values are taken as "" and extra ones are ignored.
  T& With(const LabelValues& values);
  // Removes one series; false if it did not exist.
  bool Remove(const LabelValues& values);
  // Removes every series whose label `label_name` has the value `value`; returns how many.
  size_t RemoveMatching(std::string_view label_name, std::string_view value);
  size_t SeriesCount() const;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends the family's exposition text (HELP, TYPE, samples) to `out`.
  void Render(std::string* out) const;

 private:
  LabelValues Normalize(const LabelValues& values) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;       // guards series_
  std::map<LabelValues, std::unique_ptr<T>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Fails (kInvalidArgument) on a name or label name that Prometheus does
  // not accept ([a-zA-Z_:][a-zA-Z0-9_:]*, labels without ':' and not starting with "__"), on
  // a counter name not ending in "_total", on "le" as a histogram label, on histogram bounds
  // that are not strictly increasing, and (kAlreadyExists) on a duplicate name. A family
  // without labels has its single series from the start (rendered as 0).
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);

  // Functions run at the start of every Render(), e.g. to refresh gauges that are cheaper to
  // compute at scrape time (sandboxes by state). Called without any registry lock held.
  void AddCollector(std::function<void()> collect);

  // Removes every series, in every family, whose label `label_name` is `value`.
  size_t RemoveMatching(std::string_view label_name, std::string_view value);

  // The whole registry in the text exposition format 0.0.4, families in registration order,
  // series sorted by label values. Serve with RenderContentType().
  std::string Render() const;
  static const char* RenderContentType() { return "text/plain; version=0.0.4; charset=utf-8"; }

 private:
  struct Entry {
    MetricType type;
    std::unique_ptr<CounterFamily> counter;
    std::unique_ptr<GaugeFamily> gauge;
    std::unique_ptr<HistogramFamily> histogram;
  };
  Result<void> CheckNew(const std::string& name, const std::vector<std::string>& labels,
                        MetricType type) const;

  mutable std::mutex mu_;  // guards entries_, collectors_ (not the families' series)
  std::vector<Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// Exposition-format helpers (exposed for tests).
// Label value: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view v);
// HELP text: backslash and newline escaped.
std::string EscapeHelp(std::string_view v);
// Shortest text that parses back to v: "1", "0.25", "1e+06", "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

// Bucket bounds for durations in seconds, 5 ms to 60 s.
std::vector<double> DurationBuckets();

}  // namespace sbx::monitor
