// cgroup v2 driver against a fake unified hierarchy in a temporary directory: the files the
// kernel would create are pre-created, and the test checks what the driver writes and parses.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/util.h"
#include "runtime/cgroup.h"
#include "temp_dir.h"

namespace sbx::runtime {
namespace {

void Put(const std::string& path, const std::string& content) {
  ASSERT_TRUE(WriteFileAtomic(path, content).ok()) << path;
}
std::string Get(const std::string& path) {
  auto r = ReadFile(path);
  EXPECT_TRUE(r.ok()) << path;
  return r.ok() ? Trim(*r) : "";
}

class CgroupV2FakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parent_ = tmp_.path() + "/daemon";
    base_ = parent_ + "/inst";
    ASSERT_EQ(::mkdir(parent_.c_str(), 0755), 0);
    Put(parent_ + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    Put(parent_ + "/cgroup.subtree_control", "");
    ASSERT_EQ(::mkdir(base_.c_str(), 0755), 0);
    Put(base_ + "/cgroup.controllers", "cpu memory pids\n");
    Put(base_ + "/cgroup.subtree_control", "");
    MakeKernelFiles("sb1");
  }
  void MakeKernelFiles(const std::string& id) {
    std::string d = base_ + "/" + id;
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    for (const char* f : {"memory.max", "memory.swap.max", "cpu.max", "pids.max", "cgroup.procs",
                          "cgroup.kill", "cgroup.freeze"}) {
      Put(d + "/" + f, "");
    }
    Put(d + "/memory.current", "1234\n");
    Put(d + "/memory.peak", "5678\n");
    Put(d + "/memory.events", "low 0\nhigh 0\nmax 5\noom 4\noom_kill 3\n");
    Put(d + "/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    Put(d + "/pids.current", "2\n");
    Put(d + "/cgroup.events", "populated 0\nfrozen 1\n");
  }
  // The kernel removes a cgroup's files on rmdir; a fake tree needs them gone first.
  void DropKernelFiles(const std::string& id) {
    std::string d = base_ + "/" + id;
    for (const char* f : {"memory.max", "memory.swap.max", "cpu.max", "pids.max", "cgroup.procs",
                          "cgroup.kill", "cgroup.freeze", "memory.current", "memory.peak",
                          "memory.events", "cpu.stat", "pids.current", "cgroup.events"}) {
      ::unlink((d + "/" + f).c_str());
    }
  }

  testing::TempDir tmp_;
  std::string parent_, base_;
};

TEST_F(CgroupV2FakeTest, CreateWritesLimitsAndEnablesControllers) {
  auto driver = MakeCgroupV2Driver(base_);
  EXPECT_STREQ(driver->Name(), "v2");
  spec::Limits limits;
  limits.memory_bytes = 256LL << 20;
  limits.cpus = 1.5;
  limits.pids_max = 64;
  auto r = driver->Create("sb1", limits, {0, 0});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Get(base_ + "/sb1/memory.max"), std::to_string(256LL << 20));
  EXPECT_EQ(Get(base_ + "/sb1/memory.swap.max"), "0");
  EXPECT_EQ(Get(base_ + "/sb1/cpu.max"), "150000 100000");
  EXPECT_EQ(Get(base_ + "/sb1/pids.max"), std::to_string(64 + kAgentPidsReserve));
  EXPECT_EQ(driver->UserDirs("sb1"), std::vector<std::string>{base_ + "/sb1/user"});
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(Get(base_ + "/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(driver->ProcsFiles("sb1"), std::vector<std::string>{base_ + "/sb1/cgroup.procs"});
  EXPECT_EQ(driver->BaseDirs(), std::vector<std::string>{base_});
}

// After launch the init moves to S/agent, and the pids controller is turned on for S's
// children so that S/user gets the user's limit.
TEST_F(CgroupV2FakeTest, AfterLaunchMovesTheInitAndLimitsTheUser) {
  auto driver = MakeCgroupV2Driver(base_);
  spec::Limits limits;
  limits.pids_max = 64;
  ASSERT_TRUE(driver->Create("sb1", limits, {0, 0}).ok());
  Put(base_ + "/sb1/cgroup.subtree_control", "");
  Put(base_ + "/sb1/agent/cgroup.procs", "");
  Put(base_ + "/sb1/user/pids.max", "");
  auto r = driver->AfterLaunch("sb1", limits, 4321);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Get(base_ + "/sb1/agent/cgroup.procs"), "4321");
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.subtree_control"), "+pids");
  EXPECT_EQ(Get(base_ + "/sb1/user/pids.max"), "64");
  for (const char* f : {"agent/cgroup.procs", "user/pids.max"}) ::unlink((base_ + "/sb1/" + f).c_str());
  ::unlink((base_ + "/sb1/cgroup.subtree_control").c_str());
}

TEST_F(CgroupV2FakeTest, ControllersAlreadyEnabledAreNotRewritten) {
  Put(parent_ + "/cgroup.subtree_control", "cpu memory pids\n");
  auto driver = MakeCgroupV2Driver(base_);
  ASSERT_TRUE(driver->Create("sb1", spec::Limits{}, {0, 0}).ok());
  EXPECT_EQ(Get(parent_ + "/cgroup.subtree_control"), "cpu memory pids");
}

TEST_F(CgroupV2FakeTest, MissingMemoryControllerIsAnError) {
  Put(base_ + "/cgroup.controllers", "cpu pids\n");
  auto driver = MakeCgroupV2Driver(base_);
  auto r = driver->Create("sb1", spec::Limits{}, {0, 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'memory' is not available"), std::string::npos)
      << r.error().message;
}

TEST_F(CgroupV2FakeTest, UnlimitedCpuAndPids) {
  auto driver = MakeCgroupV2Driver(base_);
  spec::Limits limits;
  limits.cpus = 0;
  limits.pids_max = 0;
  ASSERT_TRUE(driver->Create("sb1", limits, {0, 0}).ok());
  EXPECT_EQ(Get(base_ + "/sb1/cpu.max"), "max 100000");
  EXPECT_EQ(Get(base_ + "/sb1/pids.max"), "max");  // no reserve on top of no limit
}

TEST_F(CgroupV2FakeTest, StatsParsesKernelFiles) {
  Put(base_ + "/sb1/memory.max", "max\n");
  auto driver = MakeCgroupV2Driver(base_);
  auto s = driver->Stats("sb1");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->memory_current, 1234);
  EXPECT_EQ(s->memory_peak, 5678);
  EXPECT_EQ(s->memory_limit, 0);  // unlimited
  EXPECT_EQ(s->oom_kills, 3);
  EXPECT_EQ(s->cpu_usage_ns, 1500000);
  EXPECT_EQ(s->pids_current, 2);
}

TEST_F(CgroupV2FakeTest, StatsWithoutMemoryPeak) {
  ::unlink((base_ + "/sb1/memory.peak").c_str());
  Put(base_ + "/sb1/memory.max", "1048576\n");
  auto s = MakeCgroupV2Driver(base_)->Stats("sb1");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->memory_peak, 0);
  EXPECT_EQ(s->memory_limit, 1048576);
}

TEST_F(CgroupV2FakeTest, AddProcessWritesPid) {
  auto driver = MakeCgroupV2Driver(base_);
  ASSERT_TRUE(driver->AddProcess("sb1", 4242).ok());
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.procs"), "4242");
}

TEST_F(CgroupV2FakeTest, KillAllUsesCgroupKill) {
  auto driver = MakeCgroupV2Driver(base_);
  auto r = driver->KillAll("sb1");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.kill"), "1");
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.freeze"), "");
}

TEST_F(CgroupV2FakeTest, KillAllFallsBackToFreezer) {
  ::unlink((base_ + "/sb1/cgroup.kill").c_str());
  auto driver = MakeCgroupV2Driver(base_);
  auto r = driver->KillAll("sb1");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.freeze"), "0");  // frozen, then thawed
}

TEST_F(CgroupV2FakeTest, FreezeWaitsForFrozenAndThawClears) {
  auto driver = MakeCgroupV2Driver(base_);
  auto f = driver->Freeze("sb1", 100);  // cgroup.events says frozen 1
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.freeze"), "1");
  ASSERT_TRUE(driver->Thaw("sb1").ok());
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.freeze"), "0");
}

TEST_F(CgroupV2FakeTest, FreezeThatNeverCompletesIsBoundedAndThaws) {
  Put(base_ + "/sb1/cgroup.events", "populated 1\nfrozen 0\n");
  auto driver = MakeCgroupV2Driver(base_);
  auto f = driver->Freeze("sb1", 20);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(Get(base_ + "/sb1/cgroup.freeze"), "0");  // left running, not half frozen
  EXPECT_TRUE(driver->Thaw("gone").ok());               // no cgroup: nothing to thaw
}

TEST_F(CgroupV2FakeTest, DestroyIsIdempotentAndListSeesCgroups) {
  MakeKernelFiles("sb2");
  auto driver = MakeCgroupV2Driver(base_);
  auto list = driver->List();
  ASSERT_TRUE(list.ok());
  std::vector<std::string> ids = *list;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"sb1", "sb2"}));
  DropKernelFiles("sb1");
  ASSERT_TRUE(driver->Destroy("sb1").ok());
  EXPECT_NE(::access((base_ + "/sb1").c_str(), F_OK), 0);
  auto again = driver->Destroy("sb1");
  EXPECT_TRUE(again.ok()) << again.error().ToString();
  list = driver->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, std::vector<std::string>{"sb2"});
  DropKernelFiles("sb2");
}

TEST_F(CgroupV2FakeTest, RejectsIdsThatAreNotNames) {
  auto driver = MakeCgroupV2Driver(base_);
  EXPECT_FALSE(driver->Create("../escape", spec::Limits{}, {0, 0}).ok());
  EXPECT_FALSE(driver->Destroy("a/b").ok());
  EXPECT_FALSE(driver->Stats("").ok());
}

}  // namespace
}  // namespace sbx::runtime
