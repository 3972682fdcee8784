// The sampler with injected stats and clocks: CPU percent of the quota, memory, retention,
// series ranges, capture and summary, gauges removed with the sandbox, alerts through the
// sampler; and the host parsers and the disk walk.
#include "monitor/sampler.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "common/util.h"
#include "runtime/fs_util.h"

namespace sbx::monitor {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000'000;  // unix ms

TEST(CpuPercentTest, PercentOfTheQuota) {
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec, kSec, 1), 100);
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec / 2, kSec, 1), 50);
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec / 2, kSec, 0.5), 100);
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec, kSec, 2), 50);
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, 3 * kSec, 2 * kSec, 1), 100);  // clamped
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(5, 4, kSec, 1), 0);               // counter reset
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec, 0, 1), 0);
  EXPECT_DOUBLE_EQ(CpuPercentOfQuota(0, kSec, kSec, 0), 0);
}

// A probe over a map of fake sandboxes the test edits between rounds.
struct FakeSandboxes {
  struct Fake {
    runtime::CgroupStats stats;
    double cpus = 1;
    double elapsed = -1;
    std::string upper;
    std::optional<runtime::DiskStats> disk;
  };
  std::map<std::string, Fake> all;
  ProbeFn Probe() {
    return [this] {
      std::vector<SandboxProbe> out;
      for (const auto& [id, f] : all) {
        SandboxProbe p;
        p.id = id;
        p.stats = f.stats;
        p.cpus = f.cpus;
        p.upper_dir = f.upper;
        p.elapsed_seconds = f.elapsed;
        p.disk = f.disk;
        out.push_back(p);
      }
      return out;
    };
  }
};

SamplerOptions TestOptions() {
  SamplerOptions o;
  o.state_dir = "/tmp";
  o.sample_host = false;
  return o;
}

TEST(SamplerTest, CpuPercentFromDeltasOverWallTime) {
  FakeSandboxes f;
  f.all["busy"].stats.memory_limit = 100 << 20;
  f.all["half"].stats.memory_limit = 100 << 20;
  f.all["half"].cpus = 2;
  f.all["idle"].stats.memory_limit = 100 << 20;
  Sampler s(TestOptions(), f.Probe(), nullptr, nullptr);
  s.SampleAt(10 * kSec, kT0);
  // First sight is a baseline: no point yet.
  EXPECT_EQ(s.Capture("busy").error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(s.Capture("nope").error().code, ErrorCode::kNotFound);
  f.all["busy"].stats.cpu_usage_ns += 2 * kSec;  // 2 s of CPU in 2 s at cpus=1
  f.all["half"].stats.cpu_usage_ns += 2 * kSec;  // 2 s of CPU in 2 s at cpus=2
  f.all["idle"].stats.cpu_usage_ns += kSec / 1000;
  s.SampleAt(12 * kSec, kT0 + 2000);
  EXPECT_DOUBLE_EQ(s.Capture("busy")->cpu_percent, 100);
  EXPECT_DOUBLE_EQ(s.Capture("half")->cpu_percent, 50);
  EXPECT_NEAR(s.Capture("idle")->cpu_percent, 0.05, 1e-9);
  EXPECT_EQ(s.Capture("half")->cpu_count, 2);
  EXPECT_EQ(s.Running().size(), 3u);
}

TEST(SamplerTest, MemoryPercentPidsAndLimits) {
  FakeSandboxes f;
  auto& st = f.all["s"].stats;
  st.memory_limit = 128 << 20;
  Sampler s(TestOptions(), f.Probe(), nullptr, nullptr);
  s.SampleAt(kSec, kT0);
  st.memory_current = 96 << 20;
  st.pids_current = 4;
  s.SampleAt(2 * kSec, kT0 + 1000);
  auto c = s.Capture("s");
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(c->memory_percent, 75);
  EXPECT_EQ(c->memory_used, 96 << 20);
  EXPECT_EQ(c->memory_limit, 128 << 20);
  EXPECT_EQ(c->pids, 4);
  EXPECT_EQ(c->unix_ms, kT0 + 1000);
  nlohmann::json j = ToJson(*c);
  EXPECT_EQ(j["memory_percent"], 75.0);
  EXPECT_EQ(j["timestamp"], ToRfc3339(kT0 + 1000));
}

TEST(SamplerTest, SeriesRangeSummaryAndE2bShape) {
  FakeSandboxes f;
  auto& st = f.all["s"].stats;
  st.memory_limit = 1000;
  Sampler s(TestOptions(), f.Probe(), nullptr, nullptr);
  s.SampleAt(0, kT0);
  for (int i = 1; i <= 4; ++i) {
    st.cpu_usage_ns += i * kSec / 10;  // 10, 20, 30, 40 %
    st.memory_current = i * 100;       // 10, 20, 30, 40 %
    s.SampleAt(i * kSec, kT0 + i * 1000);
  }
  auto all = s.Series("s", 0, kT0 + 10000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  auto mid = s.Series("s", kT0 + 2000, kT0 + 3000);
  ASSERT_EQ(mid->size(), 2u);
  EXPECT_NEAR((*mid)[0].cpu_pct, 20, 1e-9);
  auto sum = s.Summary("s");
  ASSERT_TRUE(sum.ok());
  EXPECT_NEAR(sum->cpu_avg, 25, 1e-9);
  EXPECT_NEAR(sum->cpu_max, 40, 1e-9);
  EXPECT_NEAR(sum->memory_avg, 25, 1e-9);
  EXPECT_NEAR(sum->memory_max, 40, 1e-9);
  EXPECT_EQ(sum->samples, 4);
  EXPECT_DOUBLE_EQ(sum->duration, 3);
  nlohmann::json p = ToSandboxMetricJson((*all)[3]);
  for (const char* k : {"timestamp", "timestampUnix", "cpuCount", "cpuUsedPct", "memUsed",
                        "memTotal", "memCache", "diskUsed", "diskTotal"})
    EXPECT_TRUE(p.contains(k)) << k;
  EXPECT_EQ(p["timestampUnix"], (kT0 + 4000) / 1000);
  EXPECT_EQ(p["cpuCount"], 1);
  EXPECT_EQ(p["cpuUsedPct"], 40.0);
  EXPECT_EQ(p["memUsed"], 400);
  EXPECT_EQ(p["memTotal"], 1000);
  EXPECT_EQ(p["memCache"], 0);
  EXPECT_GT(p["diskTotal"].get<int64_t>(), 0);  // /tmp's file system: no quota given
  nlohmann::json sj = ToJson(*sum);
  EXPECT_EQ(sj["cpu_avg"], 25.0);
  EXPECT_EQ(sj["samples"], 4);
}

TEST(SamplerTest, RetentionByCountAndByAge) {
  SeriesBuffer b(Retention{10'000, 3});
  for (int i = 0; i < 5; ++i) {
    Point p;
    p.unix_ms = kT0 + i * 1000;
    b.Add(p);
  }
  ASSERT_EQ(b.size(), 3u);  // by count
  EXPECT_EQ(b.Range(0, kT0 + 100000).front().unix_ms, kT0 + 2000);
  Point late;
  late.unix_ms = kT0 + 13'500;  // everything before kT0+3500 is older than 10 s now
  b.Add(late);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.Range(0, kT0 + 100000).front().unix_ms, kT0 + 4000);
  b.Expire(kT0 + 100'000);
  EXPECT_TRUE(b.empty());
}

TEST(SamplerTest, StoppedSandboxKeepsItsSeriesUntilRetentionButLosesGauges) {
  Registry r;
  auto m = SandboxdMetrics::Register(&r);
  ASSERT_TRUE(m.ok());
  FakeSandboxes f;
  f.all["gone"].stats.memory_limit = 1 << 20;
  f.all["stays"].stats.memory_limit = 1 << 20;
  SamplerOptions o = TestOptions();
  o.retention = Retention{5000, 100};
  Sampler s(o, f.Probe(), m->get(), nullptr);
  s.SampleAt(0, kT0);
  s.SampleAt(kSec, kT0 + 1000);
  EXPECT_NE(r.Render().find("sandbox_id=\"gone\""), std::string::npos);
  f.all.erase("gone");
  s.SampleAt(2 * kSec, kT0 + 2000);
  EXPECT_EQ(r.Render().find("sandbox_id=\"gone\""), std::string::npos);
  EXPECT_NE(r.Render().find("sandbox_id=\"stays\""), std::string::npos);
  EXPECT_TRUE(s.Series("gone", 0, kT0 + 10000).ok());  // still readable after stop
  EXPECT_EQ(s.Running().size(), 1u);
  s.SampleAt(10 * kSec, kT0 + 10000);  // past retention: aged out
  EXPECT_EQ(s.Series("gone", 0, kT0 + 10000).error().code, ErrorCode::kNotFound);
  s.Forget("stays");
  EXPECT_EQ(r.Render().find("sandbox_id="), std::string::npos);
  EXPECT_EQ(s.Stats().tracked, 0u);
}

TEST(SamplerTest, AlertsFlowThroughTheSamplerAndResolveWhenTheSandboxLeaves) {
  FakeSandboxes f;
  auto& st = f.all["s"].stats;
  st.memory_limit = 100;
  f.all["s"].elapsed = 10;
  std::vector<AlertEvent> got;
  SamplerOptions o = TestOptions();
  o.alerts.thresholds.timeout_seconds = 60;
  Sampler s(o, f.Probe(), nullptr, [&](const AlertEvent& e) { got.push_back(e); });
  s.SampleAt(0, kT0);
  st.memory_current = 90;
  st.cpu_usage_ns = kSec;  // 100 % at cpus=1
  f.all["s"].elapsed = 61;
  s.SampleAt(kSec, kT0 + 1000);
  ASSERT_EQ(got.size(), 3u);
  std::map<AlertMetric, AlertEvent> by;
  for (const auto& e : got) by[e.metric] = e;
  EXPECT_EQ(by[AlertMetric::kMemory].state, AlertState::kRaised);
  EXPECT_EQ(by[AlertMetric::kCpu].state, AlertState::kRaised);
  EXPECT_EQ(by[AlertMetric::kTimeout].value, 61);
  st.cpu_usage_ns += kSec;
  s.SampleAt(2 * kSec, kT0 + 2000);  // still high: nothing new
  EXPECT_EQ(got.size(), 3u);
  f.all.clear();
  s.SampleAt(3 * kSec, kT0 + 3000);
  ASSERT_EQ(got.size(), 6u);
  for (size_t i = 3; i < 6; ++i) {
    EXPECT_EQ(got[i].state, AlertState::kResolved);
    EXPECT_EQ(got[i].reason, "forgotten");
  }
}

TEST(SamplerTest, ThreadSamplesAtTheInterval) {
  FakeSandboxes f;
  f.all["s"].stats.memory_limit = 1;
  SamplerOptions o = TestOptions();
  o.interval_ms = 20;
  o.sample_host = true;
  Sampler s(o, f.Probe(), nullptr, nullptr);
  ASSERT_TRUE(s.Start().ok());
  EXPECT_EQ(s.Start().error().code, ErrorCode::kFailedPrecondition);
  ::usleep(250'000);
  s.Stop();
  SamplerStats st = s.Stats();
  EXPECT_GE(st.rounds, 5);
  EXPECT_LE(st.rounds, 14);
  EXPECT_GT(st.total_cpu_ns, 0);
  EXPECT_TRUE(s.Capture("s").ok());
  auto host = s.HostCapture();
  ASSERT_TRUE(host.ok()) << host.error().ToString();
  EXPECT_GT(host->memory_limit, 0);
  EXPECT_GT(host->memory_percent, 0);
  EXPECT_GE(s.HostSummary()->samples, 4);
  nlohmann::json ov = s.OverviewJson();
  EXPECT_EQ(ov["sandboxes"].size(), 1u);
  EXPECT_EQ(ov["sandboxes"][0]["sandbox_id"], "s");
  EXPECT_TRUE(ov["host"].is_object());
  s.Stop();  // idempotent
}

TEST(HostStatsTest, ParsesProcFiles) {
  auto cpu = ParseProcStat("cpu  100 10 50 800 40 5 5 0 7 0\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->busy, 170u);
  EXPECT_EQ(cpu->total, 1010u);
  CpuTimes later{cpu->busy + 30, cpu->total + 120};
  EXPECT_DOUBLE_EQ(HostCpuPercent(*cpu, later), 25);
  EXPECT_DOUBLE_EQ(HostCpuPercent(*cpu, *cpu), 0);
  EXPECT_FALSE(ParseProcStat("intr 1 2 3\n").ok());

  auto mem = ParseMeminfo(
      "MemTotal:        2000 kB\nMemFree:          500 kB\nMemAvailable:    1500 kB\n"
      "Buffers:           10 kB\nCached:           700 kB\n");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->total_bytes, 2000 * 1024);
  EXPECT_EQ(mem->available_bytes, 1500 * 1024);
  EXPECT_EQ(mem->cached_bytes, 700 * 1024);
  auto old = ParseMeminfo("MemTotal: 2000 kB\nMemFree: 500 kB\nBuffers: 10 kB\nCached: 90 kB\n");
  EXPECT_EQ(old->available_bytes, 600 * 1024);
  EXPECT_FALSE(ParseMeminfo("MemFree: 1 kB\n").ok());

  auto load = ParseLoadavg("0.52 1.10 2.00 3/412 12345\n");
  ASSERT_TRUE(load.ok());
  EXPECT_DOUBLE_EQ(load->load1, 0.52);
  EXPECT_DOUBLE_EQ(load->load15, 2.0);
  EXPECT_EQ(load->tasks, 412);
  EXPECT_FALSE(ParseLoadavg("x").ok());

  EXPECT_TRUE(ReadCpuTimes().ok());
  EXPECT_TRUE(ReadMeminfo().ok());
  EXPECT_TRUE(ReadLoadavg().ok());
  auto fs = StatFs("/tmp");
  ASSERT_TRUE(fs.ok());
  EXPECT_GT(fs->total_bytes, 0);
  EXPECT_EQ(StatFs("/nonexistent/x").error().code, ErrorCode::kNotFound);
}

class DiskUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sbx-monitor-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    auto r = runtime::RemoveTree(dir_);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
  }
  void Write(const std::string& rel, size_t bytes) {
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + rel, std::string(bytes, 'x')).ok());
  }
  std::string dir_;
};

TEST_F(DiskUsageTest, SumsAllocatedBlocksWithoutFollowingSymlinksOrDoubleCountingLinks) {
  auto empty = MeasureDiskUsage(dir_);
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(::mkdir((dir_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ + "/a/b").c_str(), 0755), 0);
  Write("a/b/one", 1 << 20);
  Write("two", 256 << 10);
  ASSERT_EQ(::link((dir_ + "/two").c_str(), (dir_ + "/a/two-again").c_str()), 0);
  // A symlink to a big tree outside must not be followed.
  ASSERT_EQ(::symlink("/usr", (dir_ + "/a/usr").c_str()), 0);
  ::sync();
  auto u = MeasureDiskUsage(dir_);
  ASSERT_TRUE(u.ok()) << u.error().ToString();
  EXPECT_TRUE(u->complete);
  int64_t files = u->bytes - empty->bytes;
  EXPECT_GE(files, (1 << 20) + (256 << 10));
  EXPECT_LT(files, (1 << 20) + (256 << 10) + (64 << 10));  // dirs and the link, not /usr
  EXPECT_EQ(u->entries, 6);                                // a, b, one, two, two-again, usr
}

TEST_F(DiskUsageTest, StopsAtItsLimitsAndSaysSo) {
  for (int i = 0; i < 50; ++i) Write("f" + std::to_string(i), 10);
  DiskWalkLimits l;
  l.max_entries = 10;
  auto u = MeasureDiskUsage(dir_, l);
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->complete);
  std::string deep = dir_;
  for (int i = 0; i < 5; ++i) {
    deep += "/d";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  }
  l = DiskWalkLimits{};
  l.max_depth = 3;
  u = MeasureDiskUsage(dir_, l);
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->complete);
  EXPECT_EQ(MeasureDiskUsage(dir_ + "/missing").error().code, ErrorCode::kNotFound);
  ASSERT_EQ(::symlink(dir_.c_str(), (dir_ + "/link").c_str()), 0);
  EXPECT_FALSE(MeasureDiskUsage(dir_ + "/link").ok());  // the root itself is not followed
}

TEST_F(DiskUsageTest, SamplerWalksTheUpperDirAtMostEveryDiskInterval) {
  FakeSandboxes f;
  f.all["s"].stats.memory_limit = 1;
  f.all["s"].upper = dir_;
  SamplerOptions o = TestOptions();
  o.disk_interval_ms = 10'000;
  Sampler s(o, f.Probe(), nullptr, nullptr);
  s.SampleAt(0, kT0);
  Write("big", 1 << 20);
  ::sync();
  s.SampleAt(kSec, kT0 + 1000);
  int64_t first = s.Capture("s")->disk_used;
  EXPECT_LT(first, 1 << 20);  // cached from the walk at t=0
  s.SampleAt(11 * kSec, kT0 + 11000);
  EXPECT_GE(s.Capture("s")->disk_used, 1 << 20);
  EXPECT_EQ(s.Stats().disk_walks, 2);
}

// A sandbox with a disk of its own reports statvfs figures: used every round, no walk, and its
// usable size is diskTotal; the quota gauges come and go with it.
TEST_F(DiskUsageTest, SandboxWithItsOwnDiskIsReadNotWalked) {
  Registry r;
  auto m = SandboxdMetrics::Register(&r);
  ASSERT_TRUE(m.ok());
  FakeSandboxes f;
  f.all["q"].stats.memory_limit = 1;
  f.all["q"].upper = dir_;
  f.all["q"].disk = runtime::DiskStats{60 << 20, 6 << 20, 4096, 100};
  Sampler s(TestOptions(), f.Probe(), m->get(), nullptr);
  s.SampleAt(0, kT0);
  s.SampleAt(kSec, kT0 + 1000);
  MetricCapture c = *s.Capture("q");
  EXPECT_EQ(c.disk_used, 6 << 20);
  EXPECT_EQ(c.disk_limit, 60 << 20);
  EXPECT_NEAR(c.disk_percent, 10, 0.01);
  EXPECT_EQ(s.Stats().disk_walks, 0);
  f.all["q"].disk->used_bytes = 30 << 20;
  s.SampleAt(2 * kSec, kT0 + 2000);
  EXPECT_EQ(s.Capture("q")->disk_used, 30 << 20);  // every round, not every disk interval
  std::string text = r.Render();
  EXPECT_NE(text.find("sandboxd_sandbox_disk_limit_bytes{sandbox_id=\"q\"} 62914560"),
            std::string::npos) << text;
  EXPECT_NE(text.find("sandboxd_sandbox_inodes{sandbox_id=\"q\"} 100"), std::string::npos);
  EXPECT_NE(text.find("sandboxd_sandbox_inodes_limit{sandbox_id=\"q\"} 4096"),
            std::string::npos);
  f.all.erase("q");
  s.SampleAt(3 * kSec, kT0 + 3000);
  EXPECT_EQ(r.Render().find("sandbox_id=\"q\""), std::string::npos);
}

}  // namespace
}  // namespace sbx::monitor
