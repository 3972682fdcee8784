// `promtool check metrics` (Debian's prometheus package) accepts the daemon's exposition: every
// sandboxd family, filled with values, awkward label values and a real sampling round. No
// skip: without promtool this test fails and says what to install.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/util.h"
#include "monitor/metrics_registry.h"
#include "monitor/sampler.h"
#include "monitor/sandboxd_metrics.h"

namespace sbx::monitor {
namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

// Runs promtool on `text`; returns its exit status and puts its output in *out.
int RunPromtool(const std::string& text, std::string* out) {
  char path[] = "/tmp/sbx-monitor-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::close(fd);
  if (!WriteFileAtomic(path, text).ok()) return -1;
  std::string cmd = std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = ::pclose(p);
  ::unlink(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PromtoolTest, DaemonExpositionPassesCheckMetrics) {
  ASSERT_EQ(::access(kPromtool, X_OK), 0)
      << kPromtool << " is missing: install Debian's prometheus package "
      << "(apt-get install -y prometheus; scripts/setup.sh does)";
  Registry r;
  auto made = SandboxdMetrics::Register(&r);
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  SandboxdMetrics* m = made->get();
  m->ObserveCreate("python", "ok", 0.3);
  m->ObserveCreate("node \"quoted\" \\ back\nslash", "kResourceExhausted", 1);
  m->ObserveExecution("python", "ok", 0.02);
  m->ObserveExecution("bash", "oom", 12);
  m->ObserveHttpRequest("/v1/sandboxes/{id}/exec", "POST", 200, 0.5);
  m->ObserveHttpRequest("unmatched", "GET", 404, 0.0001);
  m->ObserveWebhookDelivery("alert", "delivered");
  m->ObserveWebhookDelivery("sandbox.created", "failed");
  m->SetSandboxCounts({{"running", 2}, {"stopped", 1}});
  m->alerts->With({"memory", "raised"}).Inc();

  // A real round: host gauges from /proc, per-sandbox gauges from a fake probe.
  int64_t cpu_ns = 0;
  SamplerOptions opts;
  opts.state_dir = "/tmp";
  Sampler sampler(
      opts,
      [&] {
        SandboxProbe p;
        p.id = "sbx_1";
        runtime::CgroupStats s;
        s.cpu_usage_ns = cpu_ns;
        s.memory_current = 64 << 20;
        s.memory_limit = 128 << 20;
        s.pids_current = 3;
        p.stats = s;
        p.upper_dir = "/tmp";
        return std::vector<SandboxProbe>{p};
      },
      m, nullptr);
  sampler.SampleAt(1'000'000'000, 1'700'000'000'000);
  cpu_ns = 500'000'000;
  sampler.SampleAt(2'000'000'000, 1'700'000'001'000);

  std::string text = r.Render();
  for (const char* family : {"sandboxd_sandboxes{",
                             "sandboxd_sandbox_creates_total{",
                             "sandboxd_create_duration_seconds_bucket{",
                             "sandboxd_executions_total{",
                             "sandboxd_execution_duration_seconds_bucket{",
                             "sandboxd_webhook_deliveries_total{",
                             "sandboxd_http_requests_total{",
                             "sandboxd_http_request_duration_seconds_bucket{",
                             "sandboxd_alerts_total{",
                             "sandboxd_sandbox_cpu_percent{sandbox_id=\"sbx_1\"} 50\n",
                             "sandboxd_sandbox_memory_bytes{",
                             "sandboxd_sandbox_memory_limit_bytes{",
                             "sandboxd_sandbox_pids{",
                             "sandboxd_sandbox_disk_bytes{",
                             "sandboxd_host_cpu_percent ",
                             "sandboxd_host_cpus ",
                             "sandboxd_host_memory_total_bytes ",
                             "sandboxd_host_memory_available_bytes ",
                             "sandboxd_host_disk_total_bytes ",
                             "sandboxd_host_disk_used_bytes ",
                             "sandboxd_host_load{period=\"1m\"}",
                             "sandboxd_monitor_sample_rounds_total 2",
                             "sandboxd_monitor_sample_cpu_seconds_total "}) {
    EXPECT_NE(text.find(family), std::string::npos) << family << " missing in:\n" << text;
  }
  std::string out;
  int rc = RunPromtool(text, &out);
  EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << out << "\non:\n" << text;
  EXPECT_EQ(out, "");
}

// The check itself works: promtool rejects what it should (so a pass above means something).
TEST(PromtoolTest, PromtoolRejectsABadExposition) {
  ASSERT_EQ(::access(kPromtool, X_OK), 0)
      << kPromtool << " is missing: install Debian's prometheus package";
  std::string out;
  EXPECT_NE(RunPromtool("# TYPE requests counter\nrequests 1\n", &out), 0);
  EXPECT_NE(out.find("_total"), std::string::npos) << out;
}

}  // namespace
}  // namespace sbx::monitor
