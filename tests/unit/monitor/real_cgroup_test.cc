// Real measurements: processes in real cgroups of this machine (root, cgroup v1 or v2), sampled
// through the driver's Stats(). A busy loop under a one-CPU quota shows ~100 %, a sleeping
// process ~0 %; a process that touches 90 % of a 128 MiB limit raises the memory alert, and
// freeing the memory resolves it: one event each way.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/util.h"
#include "monitor/sampler.h"
#include "runtime/cgroup.h"

namespace sbx::monitor {
namespace {

// Kills and removes the test's cgroups and its instance directories, and reaps its children,
// even when an assertion failed.
class CgroupFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = runtime::MakeCgroupDriver("sandboxd-montest-" + RandomHex(4));
    ASSERT_TRUE(made.ok()) << made.error().ToString();
    driver_ = std::move(made).value();
  }
  void TearDown() override {
    for (const std::string& id : ids_) {
      (void)driver_->KillAll(id);
    }
    for (pid_t p : children_) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    for (const std::string& id : ids_) {
      auto r = driver_->Destroy(id);
      EXPECT_TRUE(r.ok()) << r.error().ToString();
    }
    auto r = driver_->RemoveInstance();
    EXPECT_TRUE(r.ok()) << r.error().ToString();
  }

  void CreateCgroup(const std::string& id, double cpus, int64_t memory) {
    spec::Limits l;
    l.cpus = cpus;
    l.memory_bytes = memory;
    l.pids_max = 16;
    auto r = driver_->Create(id, l, {0, 0});
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ids_.push_back(id);
  }

  // Forks a child that waits for one byte on a pipe (sent once it is in cgroup `id`), then
  // runs `body` and _exits. `body` runs after fork: no allocation, no locks.
  template <typename F>
  pid_t Spawn(const std::string& id, F body) {
    int go[2];
    EXPECT_EQ(::pipe(go), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(1);
      body();
      ::_exit(0);
    }
    ::close(go[0]);
    EXPECT_GT(pid, 0);
    children_.push_back(pid);
    auto r = driver_->AddProcess(id, pid);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(::write(go[1], "g", 1), 1);
    ::close(go[1]);
    return pid;
  }

  ProbeFn Probe(double cpus) {
    return [this, cpus] {
      std::vector<SandboxProbe> out;
      for (const std::string& id : ids_) {
        SandboxProbe p;
        p.id = id;
        if (auto s = driver_->Stats(id); s.ok()) p.stats = *s;
        p.cpus = cpus;
        out.push_back(p);
      }
      return out;
    };
  }

  std::unique_ptr<runtime::CgroupDriver> driver_;
  std::vector<std::string> ids_;
  std::vector<pid_t> children_;
};

// CPU time of one process (utime + stime from /proc/<pid>/stat), in ns: the ground truth the
// sampler's reading is checked against.
int64_t ProcessCpuNs(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return -1;
  size_t close = text->rfind(')');  // the comm field may hold spaces
  if (close == std::string::npos) return -1;
  unsigned long long utime = 0, stime = 0;
  // After ") ": state(3) ... utime is field 14, stime field 15.
  if (std::sscanf(text->c_str() + close + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  return static_cast<int64_t>((utime + stime) * (1000000000 / ::sysconf(_SC_CLK_TCK)));
}

// Gives the test's cgroups a large CPU weight, so that builds running on a shared 2-CPU machine
// do not take part of the one CPU the busy child is entitled to: the test checks what the
// monitor reports for a sandbox that gets its quota, not how the host shares its CPUs (the
// ground-truth check below holds either way). cgroup v1: cpu.shares; v2: cpu.weight.
void FavourCpu(const std::vector<std::string>& dirs) {
  for (const std::string& d : dirs) {
    if (!WriteExisting(d + "/cpu.shares", "20480").ok())
      (void)WriteExisting(d + "/cpu.weight", "2000");
  }
}

TEST_F(CgroupFixture, BusyShowsNearFullQuotaAndIdleNearZero) {
  CreateCgroup("busy", 1, 128LL << 20);
  CreateCgroup("idle", 1, 128LL << 20);
  std::vector<std::string> cpu_dirs;
  for (const std::string& b : driver_->BaseDirs()) {
    cpu_dirs.push_back(b);
    cpu_dirs.push_back(b + "/busy");
  }
  FavourCpu(cpu_dirs);
  pid_t busy_pid = Spawn("busy", [] {
    volatile uint64_t x = 0;
    for (;;) x = x + 1;
  });
  Spawn("idle", [] {
    for (;;) ::pause();
  });
  ::usleep(100'000);  // both running in their cgroups
  SamplerOptions o;
  o.sample_host = false;
  Sampler s(o, Probe(1), nullptr, nullptr);
  int64_t t0 = MonotonicNs();
  int64_t truth0 = ProcessCpuNs(busy_pid);
  s.SampleOnce();
  ::usleep(1'500'000);
  s.SampleOnce();
  int64_t truth1 = ProcessCpuNs(busy_pid);
  double truth_pct =
      100.0 * static_cast<double>(truth1 - truth0) / static_cast<double>(MonotonicNs() - t0);
  auto busy = s.Capture("busy");
  auto idle = s.Capture("idle");
  ASSERT_TRUE(busy.ok()) << busy.error().ToString();
  ASSERT_TRUE(idle.ok()) << idle.error().ToString();
  std::printf("busy %.1f%% (the process's own CPU time: %.1f%%)  idle %.2f%%\n", busy->cpu_percent,
              truth_pct, idle->cpu_percent);
  EXPECT_GE(busy->cpu_percent, 80) << "busy loop under cpus=1";
  EXPECT_LE(busy->cpu_percent, 100);
  EXPECT_NEAR(busy->cpu_percent, truth_pct, 5) << "the sampler agrees with /proc/<pid>/stat";
  EXPECT_LE(idle->cpu_percent, 5) << "sleeping process";
}

TEST_F(CgroupFixture, MemoryAt90PercentRaisesAndFreeingResolvesOnce) {
  constexpr int64_t kLimit = 128LL << 20;
  CreateCgroup("mem", 1, kLimit);
  int cmd[2], ack[2];
  ASSERT_EQ(::pipe(cmd), 0);
  ASSERT_EQ(::pipe(ack), 0);
  Spawn("mem", [&] {
    // Allocate and touch 90 % of the limit, report, wait for "free", unmap, report, wait.
    size_t n = static_cast<size_t>(kLimit) * 9 / 10;
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) ::_exit(2);
    std::memset(p, 1, n);
    if (::write(ack[1], "a", 1) != 1) ::_exit(3);
    char c;
    if (::read(cmd[0], &c, 1) != 1) ::_exit(4);
    ::munmap(p, n);
    if (::write(ack[1], "f", 1) != 1) ::_exit(5);
    for (;;) ::pause();
  });
  ::close(cmd[0]);
  ::close(ack[1]);
  std::vector<AlertEvent> events;
  SamplerOptions o;
  o.sample_host = false;
  o.alerts.thresholds.memory_usage_percent = 85;
  o.alerts.thresholds.cpu_usage_percent = 0;  // memory only: the touch loop burns CPU
  Sampler s(o, Probe(1), nullptr, [&](const AlertEvent& e) { events.push_back(e); });
  s.SampleOnce();  // baseline
  char c = 0;
  ASSERT_EQ(::read(ack[0], &c, 1), 1);
  ASSERT_EQ(c, 'a');
  s.SampleOnce();
  auto high = s.Capture("mem");
  ASSERT_TRUE(high.ok()) << high.error().ToString();
  EXPECT_GE(high->memory_percent, 85);
  EXPECT_EQ(high->memory_limit, kLimit);
  s.SampleOnce();  // still high: no second event
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].state, AlertState::kRaised);
  EXPECT_EQ(events[0].metric, AlertMetric::kMemory);
  EXPECT_EQ(events[0].sandbox_id, "mem");
  EXPECT_GE(events[0].value, 85);

  ASSERT_EQ(::write(cmd[1], "x", 1), 1);
  ASSERT_EQ(::read(ack[0], &c, 1), 1);
  ASSERT_EQ(c, 'f');
  s.SampleOnce();
  s.SampleOnce();
  auto low = s.Capture("mem");
  ASSERT_TRUE(low.ok());
  EXPECT_LT(low->memory_percent, 80);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, AlertState::kResolved);
  EXPECT_EQ(events[1].metric, AlertMetric::kMemory);
  EXPECT_EQ(events[1].reason, "");
  std::printf("memory high %.1f%%  after free %.1f%%\n", high->memory_percent, low->memory_percent);
  ::close(cmd[1]);
  ::close(ack[0]);
}

}  // namespace
}  // namespace sbx::monitor
