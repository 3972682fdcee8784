// The alert evaluator: raise once, no flapping around the threshold, resolve once, re-raise,
// the timeout metric, disabled thresholds and forgetting a subject.
#include "monitor/alerts.h"

#include <gtest/gtest.h>

#include <vector>

namespace sbx::monitor {
namespace {

class AlertsTest : public ::testing::Test {
 protected:
  AlertEvaluator Make(AlertOptions o = {}) {
    return AlertEvaluator(o, [this](const AlertEvent& e) { events_.push_back(e); });
  }
  std::vector<AlertEvent> events_;
};

TEST_F(AlertsTest, RaisesOnceResolvesOnceAndReRaises) {
  AlertEvaluator a = Make();  // memory 85, hysteresis 5: resolves below 80
  int64_t t = 1000;
  for (double v : {50.0, 84.9, 85.0, 90.0, 86.0, 84.0, 81.0, 80.0, 85.5, 82.0}) {
    a.Observe("s1", AlertMetric::kMemory, v, t++);
  }
  ASSERT_EQ(events_.size(), 1u);  // noise between 80 and 90 after the raise: nothing
  EXPECT_EQ(events_[0].state, AlertState::kRaised);
  EXPECT_EQ(events_[0].sandbox_id, "s1");
  EXPECT_EQ(events_[0].metric, AlertMetric::kMemory);
  EXPECT_EQ(events_[0].value, 85.0);
  EXPECT_EQ(events_[0].threshold, 85.0);
  EXPECT_EQ(events_[0].unix_ms, 1002);
  EXPECT_TRUE(a.IsOpen("s1", AlertMetric::kMemory));

  a.Observe("s1", AlertMetric::kMemory, 79.9, t++);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].state, AlertState::kResolved);
  EXPECT_EQ(events_[1].value, 79.9);
  EXPECT_FALSE(a.IsOpen("s1", AlertMetric::kMemory));
  for (double v : {10.0, 84.0, 70.0}) a.Observe("s1", AlertMetric::kMemory, v, t++);
  EXPECT_EQ(events_.size(), 2u);

  a.Observe("s1", AlertMetric::kMemory, 99, t++);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[2].state, AlertState::kRaised);
}

TEST_F(AlertsTest, NoFlappingOnNoiseAroundTheThreshold) {
  AlertEvaluator a = Make();
  for (int i = 0; i < 1000; ++i) {
    double v = 80 + (i % 2 ? 0.1 : -0.1) + (i % 7);  // 79.9 .. 86.1, never below 79.9 twice
    a.Observe("s1", AlertMetric::kCpu, v > 80 ? v : 80.5, i);
  }
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].state, AlertState::kRaised);
}

TEST_F(AlertsTest, SubjectsAndMetricsAreIndependent) {
  AlertEvaluator a = Make();
  a.Observe("s1", AlertMetric::kCpu, 95, 1);
  a.Observe("s2", AlertMetric::kCpu, 10, 1);
  a.Observe("s1", AlertMetric::kMemory, 10, 1);
  a.Observe("s1", AlertMetric::kDisk, 95, 1);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].metric, AlertMetric::kCpu);
  EXPECT_EQ(events_[1].metric, AlertMetric::kDisk);
  EXPECT_EQ(a.OpenCount(), 2u);
}

TEST_F(AlertsTest, TimeoutComparesSecondsWithoutHysteresis) {
  AlertOptions o;
  o.thresholds.timeout_seconds = 300;
  AlertEvaluator a = Make(o);
  a.Observe("exec_1", AlertMetric::kTimeout, 299, 1);
  a.Observe("exec_1", AlertMetric::kTimeout, 300, 2);
  a.Observe("exec_1", AlertMetric::kTimeout, 450, 3);
  a.Observe("exec_1", AlertMetric::kTimeout, 299.5, 4);  // a new execution: below again
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].state, AlertState::kRaised);
  EXPECT_EQ(events_[0].threshold, 300);
  EXPECT_EQ(events_[1].state, AlertState::kResolved);
  EXPECT_EQ(a.ResolveLevel(AlertMetric::kTimeout), 300);
}

TEST_F(AlertsTest, ForgetResolvesOpenAlerts) {
  AlertEvaluator a = Make();
  a.Observe("s1", AlertMetric::kCpu, 100, 1);
  a.Observe("s1", AlertMetric::kMemory, 100, 1);
  a.Observe("s10", AlertMetric::kMemory, 100, 1);  // a prefix-sharing id is left alone
  events_.clear();
  a.Forget("s1", 7);
  ASSERT_EQ(events_.size(), 2u);
  for (const AlertEvent& e : events_) {
    EXPECT_EQ(e.state, AlertState::kResolved);
    EXPECT_EQ(e.reason, "forgotten");
    EXPECT_EQ(e.sandbox_id, "s1");
    EXPECT_EQ(e.unix_ms, 7);
  }
  EXPECT_TRUE(a.IsOpen("s10", AlertMetric::kMemory));
  a.Forget("s1", 8);
  EXPECT_EQ(events_.size(), 2u);
}

TEST_F(AlertsTest, DisabledThresholdNeverRaisesAndResolvesOpenOnes) {
  AlertOptions o;
  o.thresholds.cpu_usage_percent = 0;
  AlertEvaluator a = Make(o);
  a.Observe("s1", AlertMetric::kCpu, 100, 1);
  EXPECT_TRUE(events_.empty());
  o.thresholds.cpu_usage_percent = 50;
  a.SetOptions(o);
  a.Observe("s1", AlertMetric::kCpu, 100, 2);
  o.thresholds.cpu_usage_percent = 0;
  a.SetOptions(o);
  a.Observe("s1", AlertMetric::kCpu, 100, 3);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].state, AlertState::kResolved);
  EXPECT_EQ(events_[1].threshold, 50);  // the threshold it was raised at
}

TEST_F(AlertsTest, HysteresisIsCappedForSmallThresholds) {
  AlertOptions o;
  o.thresholds.disk_usage_percent = 4;
  AlertEvaluator a = Make(o);
  EXPECT_EQ(a.ResolveLevel(AlertMetric::kDisk), 2);
  a.Observe("s", AlertMetric::kDisk, 4, 1);
  a.Observe("s", AlertMetric::kDisk, 1.9, 2);
  EXPECT_EQ(events_.size(), 2u);
}

TEST_F(AlertsTest, EventJson) {
  AlertEvent e{"s1", AlertMetric::kMemory, AlertState::kRaised, 91.234, 85, 1700000000123, ""};
  nlohmann::json j = ToJson(e);
  EXPECT_EQ(j["sandbox_id"], "s1");
  EXPECT_EQ(j["metric"], "memory");
  EXPECT_EQ(j["state"], "raised");
  EXPECT_DOUBLE_EQ(j["value"].get<double>(), 91.23);
  EXPECT_EQ(j["threshold"], 85.0);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_FALSE(j.contains("reason"));
}

}  // namespace
}  // namespace sbx::monitor
