// The Prometheus registry: exact exposition text, escaping, histograms, validation, series
// removal, route templates and concurrent updates.
#include "monitor/metrics_registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "monitor/sandboxd_metrics.h"

namespace sbx::monitor {
namespace {

TEST(MetricsRegistryTest, RendersCounterAndGaugeExactly) {
  Registry r;
  auto c = r.AddCounter("sandboxd_things_total", "Things done.", {"kind", "outcome"});
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  auto g = r.AddGauge("sandboxd_level", "A level.");
  ASSERT_TRUE(g.ok());
  (*c)->With({"b", "ok"}).Inc();
  (*c)->With({"a", "error"}).Inc(2.5);
  (*c)->With({"a", "error"}).Inc(-7);  // ignored: counters only go up
  (*g)->With({}).Set(0.25);
  EXPECT_EQ(r.Render(),
            "# HELP sandboxd_things_total Things done.\n"
            "# TYPE sandboxd_things_total counter\n"
            "sandboxd_things_total{kind=\"a\",outcome=\"error\"} 2.5\n"
            "sandboxd_things_total{kind=\"b\",outcome=\"ok\"} 1\n"
            "# HELP sandboxd_level A level.\n"
            "# TYPE sandboxd_level gauge\n"
            "sandboxd_level 0.25\n");
}

TEST(MetricsRegistryTest, LabelFreeFamilyRendersZeroFromTheStart) {
  Registry r;
  ASSERT_TRUE(r.AddCounter("x_total", "X.").ok());
  EXPECT_EQ(r.Render(), "# HELP x_total X.\n# TYPE x_total counter\nx_total 0\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("line1\nback\\slash \"quotes stay\""),
            "line1\\nback\\\\slash \"quotes stay\"");
  Registry r;
  auto g = r.AddGauge("g", "Help with \\ and\nnewline.", {"path"});
  ASSERT_TRUE(g.ok());
  (*g)->With({"/a \"b\"\n"}).Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP g Help with \\\\ and\\nnewline.\n"
            "# TYPE g gauge\n"
            "g{path=\"/a \\\"b\\\"\\n\"} 1\n");
}

TEST(MetricsRegistryTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(FormatValue(134217728), "134217728");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInf) {
  Registry r;
  auto h = r.AddHistogram("op_duration_seconds", "Op time.", {"op"}, {0.1, 1, 10});
  ASSERT_TRUE(h.ok()) << h.error().ToString();
  Histogram& x = (*h)->With({"run"});
  x.Observe(0.05);
  x.Observe(0.1);  // le is inclusive
  x.Observe(0.5);
  x.Observe(100);
  x.Observe(NAN);  // ignored
  EXPECT_EQ(r.Render(),
            "# HELP op_duration_seconds Op time.\n"
            "# TYPE op_duration_seconds histogram\n"
            "op_duration_seconds_bucket{op=\"run\",le=\"0.1\"} 2\n"
            "op_duration_seconds_bucket{op=\"run\",le=\"1\"} 3\n"
            "op_duration_seconds_bucket{op=\"run\",le=\"10\"} 3\n"
            "op_duration_seconds_bucket{op=\"run\",le=\"+Inf\"} 4\n"
            "op_duration_seconds_sum{op=\"run\"} 100.65\n"
            "op_duration_seconds_count{op=\"run\"} 4\n");
}

TEST(MetricsRegistryTest, HistogramWithoutLabels) {
  Registry r;
  auto h = r.AddHistogram("h_seconds", "H.", {}, {1});
  ASSERT_TRUE(h.ok());
  (*h)->With({}).Observe(2);
  EXPECT_EQ(r.Render(),
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"1\"} 0\nh_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 2\nh_seconds_count 1\n");
}

TEST(MetricsRegistryTest, RejectsBadRegistrations) {
  Registry r;
  EXPECT_EQ(r.AddGauge("1abc", "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddGauge("a-b", "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("requests", "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddGauge("g", "x", {"__reserved"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddGauge("g", "x", {"a:b"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddGauge("g", "x", {"a", "a"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("h", "x", {"le"}, {1}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("h", "x", {}, {2, 1}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("h", "x", {}, {}).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(r.AddGauge("g", "x").ok());
  EXPECT_EQ(r.AddCounter("g", "x").error().code, ErrorCode::kInvalidArgument);  // no _total
  EXPECT_EQ(r.AddGauge("g", "x").error().code, ErrorCode::kAlreadyExists);
}

TEST(MetricsRegistryTest, WrongNumberOfLabelValuesIsPaddedOrTruncated) {
  Registry r;
  auto c = r.AddCounter("c_total", "C.", {"a", "b"});
  ASSERT_TRUE(c.ok());
  (*c)->With({"x"}).Inc();
  (*c)->With({"x", "", "extra"}).Inc();
  EXPECT_EQ((*c)->SeriesCount(), 1u);
  EXPECT_EQ((*c)->With({"x", ""}).Value(), 2);
}

TEST(MetricsRegistryTest, PerSandboxSeriesAreRemoved) {
  Registry r;
  auto cpu = r.AddGauge("cpu_percent", "C.", {"sandbox_id"});
  auto mem = r.AddGauge("memory_bytes", "M.", {"sandbox_id"});
  auto other = r.AddGauge("other", "O.", {"state"});
  ASSERT_TRUE(cpu.ok() && mem.ok() && other.ok());
  for (const char* id : {"s1", "s2"}) {
    (*cpu)->With({id}).Set(1);
    (*mem)->With({id}).Set(2);
  }
  (*other)->With({"s1"}).Set(3);  // same value under another label name: kept
  EXPECT_TRUE((*cpu)->Remove({"s2"}));
  EXPECT_FALSE((*cpu)->Remove({"s2"}));
  EXPECT_EQ(r.RemoveMatching("sandbox_id", "s1"), 2u);
  EXPECT_EQ((*cpu)->SeriesCount(), 0u);
  EXPECT_EQ((*mem)->SeriesCount(), 1u);
  EXPECT_EQ((*other)->SeriesCount(), 1u);
  std::string text = r.Render();
  EXPECT_EQ(text.find("sandbox_id=\"s1\""), std::string::npos) << text;
  EXPECT_NE(text.find("state=\"s1\""), std::string::npos) << text;
}

TEST(MetricsRegistryTest, CollectorsRunBeforeRender) {
  Registry r;
  auto g = r.AddGauge("n", "N.");
  ASSERT_TRUE(g.ok());
  int calls = 0;
  r.AddCollector([&] { (*g)->With({}).Set(++calls); });
  EXPECT_NE(r.Render().find("\nn 1\n"), std::string::npos);
  EXPECT_NE(r.Render().find("\nn 2\n"), std::string::npos);
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto c = r.AddCounter("c_total", "C.", {"t"});
  auto h = r.AddHistogram("h_seconds", "H.", {}, {0.5});
  ASSERT_TRUE(c.ok() && h.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        (*c)->With({t % 2 ? "odd" : "even"}).Inc();
        (*h)->With({}).Observe(i % 2 ? 0.25 : 1);
        if (i % 1000 == 0) (void)r.Render();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ((*c)->With({"odd"}).Value() + (*c)->With({"even"}).Value(), 40000);
  Histogram::Snapshot s = (*h)->With({}).Read();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.cumulative[0], 20000u);
  EXPECT_DOUBLE_EQ(s.sum, 20000 * 0.25 + 20000 * 1.0);
}

TEST(SandboxdMetricsTest, HelpersFillTheFamilies) {
  Registry r;
  auto m = SandboxdMetrics::Register(&r);
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  (*m)->ObserveCreate("python", "ok", 0.2);
  (*m)->ObserveCreate("python", "kInternal", 0.1);
  (*m)->ObserveExecution("python", "timeout", 3);
  (*m)->ObserveHttpRequest("/v1/sandboxes/{id}", "GET", 404, 0.001);
  (*m)->ObserveWebhookDelivery("alert", "delivered");
  (*m)->SetSandboxCounts({{"running", 3}});
  std::string text = r.Render();
  for (const char* want :
       {"sandboxd_sandbox_creates_total{template=\"python\",outcome=\"ok\"} 1\n",
        "sandboxd_create_duration_seconds_count{template=\"python\"} 1\n",
        "sandboxd_executions_total{language=\"python\",status=\"timeout\"} 1\n",
        "sandboxd_http_requests_total{route=\"/v1/sandboxes/{id}\",method=\"GET\","
        "status=\"404\"} 1\n",
        "sandboxd_webhook_deliveries_total{kind=\"alert\",outcome=\"delivered\"} 1\n",
        "sandboxd_sandboxes{state=\"running\"} 3\n", "sandboxd_sandboxes{state=\"stopped\"} 0\n"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  // A failed create counts, but its time is not a create latency.
  EXPECT_EQ((*m)->create_duration->With({"python"}).Read().count, 1u);
}

}  // namespace
}  // namespace sbx::monitor
