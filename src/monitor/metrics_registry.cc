// The Prometheus registry and its text exposition (format 0.0.4).
#include "monitor/metrics_registry.h"

#include <charconv>
#include <cmath>
#include <type_traits>

namespace sbx::monitor {
namespace {

bool ValidName(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (allow_colon && c == ':') || (i > 0 && digit))) return false;
  }
  return true;
}

// `{a="x",b="y"}` (empty when there are no labels); `extra` is appended last (the le label).
void AppendLabels(std::string* out, const std::vector<std::string>& names,
                  const LabelValues& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out->push_back(',');
    first = false;
    out->append(names[i]).append("=\"").append(EscapeLabelValue(values[i])).push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    out->append(extra_name).append("=\"").append(extra_value).push_back('"');
  }
  out->push_back('}');
}

template <typename T>
const char* TypeName() {
  if constexpr (std::is_same_v<T, Counter>) return "counter";
  if constexpr (std::is_same_v<T, Gauge>) return "gauge";
  return "histogram";
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::vector<double> DurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // also drops NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;  // le: v <= bound
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // _count is the +Inf bucket by construction, so the two never disagree in one scrape.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  if (label_names_.empty()) With({});
}

template <typename T>
LabelValues Family<T>::Normalize(const LabelValues& values) const {
  LabelValues v = values;
  v.resize(label_names_.size());
  return v;
}

template <typename T>
T& Family<T>::With(const LabelValues& values) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.end();
  if (values.size() == label_names_.size()) {
    it = series_.find(values);
  }
  if (it == series_.end()) {
    LabelValues key = Normalize(values);
    it = series_.find(key);
    if (it == series_.end()) {
      std::unique_ptr<T> made;
      if constexpr (std::is_same_v<T, Histogram>) {
        made = std::make_unique<T>(&bounds_);
      } else {
        made = std::make_unique<T>();
      }
      it = series_.emplace(std::move(key), std::move(made)).first;
    }
  }
  return *it->second;
}

template <typename T>
bool Family<T>::Remove(const LabelValues& values) {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.erase(Normalize(values)) > 0;
}

template <typename T>
size_t Family<T>::RemoveMatching(std::string_view label_name, std::string_view value) {
  size_t idx = 0;
  while (idx < label_names_.size() && label_names_[idx] != label_name) ++idx;
  if (idx == label_names_.size()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto it = series_.begin(); it != series_.end();) {
    if (it->first[idx] == value) {
      it = series_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

template <typename T>
size_t Family<T>::SeriesCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

template <typename T>
void Family<T>::Render(std::string* out) const {
  out->append("# HELP ").append(name_).append(" ").append(EscapeHelp(help_)).push_back('\n');
  out->append("# TYPE ").append(name_).append(" ").append(TypeName<T>()).push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, series] : series_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      Histogram::Snapshot s = series->Read();
      for (size_t i = 0; i <= bounds_.size(); ++i) {
        std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
        out->append(name_).append("_bucket");
        AppendLabels(out, label_names_, values, "le", le);
        out->append(" ").append(std::to_string(s.cumulative[i])).push_back('\n');
      }
      out->append(name_).append("_sum");
      AppendLabels(out, label_names_, values);
      out->append(" ").append(FormatValue(s.sum)).push_back('\n');
      out->append(name_).append("_count");
      AppendLabels(out, label_names_, values);
      out->append(" ").append(std::to_string(s.count)).push_back('\n');
    } else {
      out->append(name_);
      AppendLabels(out, label_names_, values);
      out->append(" ").append(FormatValue(series->Value())).push_back('\n');
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Result<void> Registry::CheckNew(const std::string& name, const std::vector<std::string>& labels,
                                MetricType type) const {
  if (!ValidName(name, /*allow_colon=*/true))
    return MakeError(ErrorCode::kInvalidArgument, "metric name '" + name + "' is not valid");
  if (type == MetricType::kCounter &&
      (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0))
    return MakeError(ErrorCode::kInvalidArgument,
                     "counter '" + name + "': counter names end in _total");
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    if (!ValidName(l, /*allow_colon=*/false) || l.rfind("__", 0) == 0)
      return MakeError(ErrorCode::kInvalidArgument,
                       "metric '" + name + "': label name '" + l + "' is not valid");
    if (type == MetricType::kHistogram && l == "le")
      return MakeError(ErrorCode::kInvalidArgument,
                       "histogram '" + name + "': 'le' is reserved for buckets");
    for (size_t j = 0; j < i; ++j)
      if (labels[j] == l)
        return MakeError(ErrorCode::kInvalidArgument,
                         "metric '" + name + "': label '" + l + "' given twice");
  }
  for (const Entry& e : entries_) {
    const std::string& other = e.counter ? e.counter->name()
                               : e.gauge ? e.gauge->name()
                                         : e.histogram->name();
    if (other == name)
      return MakeError(ErrorCode::kAlreadyExists, "metric '" + name + "' registered twice");
  }
  return Ok();
}

Result<CounterFamily*> Registry::AddCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckNew(name, label_names, MetricType::kCounter));
  Entry e{MetricType::kCounter};
  e.counter =
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names));
  entries_.push_back(std::move(e));
  return entries_.back().counter.get();
}

Result<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckNew(name, label_names, MetricType::kGauge));
  Entry e{MetricType::kGauge};
  e.gauge = std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names));
  entries_.push_back(std::move(e));
  return entries_.back().gauge.get();
}

Result<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckNew(name, label_names, MetricType::kHistogram));
  if (bounds.empty())
    return MakeError(ErrorCode::kInvalidArgument, "histogram '" + name + "': no buckets");
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
      return MakeError(ErrorCode::kInvalidArgument,
                       "histogram '" + name + "': bucket bounds must be finite and increasing");
  }
  Entry e{MetricType::kHistogram};
  e.histogram = std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                  std::move(label_names), std::move(bounds));
  entries_.push_back(std::move(e));
  return entries_.back().histogram.get();
}

void Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

size_t Registry::RemoveMatching(std::string_view label_name, std::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const Entry& e : entries_) {
    if (e.counter) n += e.counter->RemoveMatching(label_name, value);
    if (e.gauge) n += e.gauge->RemoveMatching(label_name, value);
    if (e.histogram) n += e.histogram->RemoveMatching(label_name, value);
  }
  return n;
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    if (e.counter) e.counter->Render(&out);
    if (e.gauge) e.gauge->Render(&out);
    if (e.histogram) e.histogram->Render(&out);
  }
  return out;
}

}  // namespace sbx::monitor
