// cgroup v1 driver: against a fake tree of the five hierarchies, and against the real cgroup v1
// hierarchies of this machine (below the test's own cgroup, like the daemon).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>

#include "cgroup_cleanup.h"
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

const char* kControllers[] = {"memory", "cpu", "cpuacct", "pids", "freezer"};

class CgroupV1FakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* c : kControllers) {
      std::string base = tmp_.path() + "/" + c + "/inst";
      ASSERT_TRUE(MakeDirs(base + "/sb1", 0755).ok());
      bases_[c] = base;
      Put(base + "/sb1/cgroup.procs", "");
    }
    std::string m = bases_["memory"] + "/sb1";
    for (const char* f :
         {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness"}) {
      Put(m + "/" + f, "");
    }
    Put(m + "/memory.usage_in_bytes", "4096\n");
    Put(m + "/memory.max_usage_in_bytes", "8192\n");
    Put(m + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    Put(bases_["cpu"] + "/sb1/cpu.cfs_period_us", "");
    Put(bases_["cpu"] + "/sb1/cpu.cfs_quota_us", "");
    Put(bases_["cpuacct"] + "/sb1/cpuacct.usage", "987654321\n");
    Put(bases_["pids"] + "/sb1/pids.max", "");
    // The kernel creates these when the driver makes S/user.
    ASSERT_TRUE(MakeDirs(bases_["pids"] + "/sb1/user", 0755).ok());
    Put(bases_["pids"] + "/sb1/user/pids.max", "");
    Put(bases_["pids"] + "/sb1/pids.current", "3\n");
    Put(bases_["freezer"] + "/sb1/freezer.state", "THAWED\n");
  }

  testing::TempDir tmp_;
  std::map<std::string, std::string> bases_;
};

TEST_F(CgroupV1FakeTest, CreateWritesLimits) {
  auto driver = MakeCgroupV1Driver(bases_);
  EXPECT_STREQ(driver->Name(), "v1");
  spec::Limits limits;
  limits.memory_bytes = 128LL << 20;
  limits.cpus = 0.5;
  limits.pids_max = 100;
  auto r = driver->Create("sb1", limits, {0, 0});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::string m = bases_["memory"] + "/sb1";
  EXPECT_EQ(Get(m + "/memory.limit_in_bytes"), std::to_string(128LL << 20));
  EXPECT_EQ(Get(m + "/memory.memsw.limit_in_bytes"), std::to_string(128LL << 20));
  EXPECT_EQ(Get(m + "/memory.swappiness"), "0");
  EXPECT_EQ(Get(bases_["cpu"] + "/sb1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Get(bases_["cpu"] + "/sb1/cpu.cfs_quota_us"), "50000");
  // The agent's reserve on top of the user's budget, which S/user enforces.
  EXPECT_EQ(Get(bases_["pids"] + "/sb1/pids.max"), std::to_string(100 + kAgentPidsReserve));
  EXPECT_EQ(Get(bases_["pids"] + "/sb1/user/pids.max"), "100");
  EXPECT_EQ(driver->UserDirs("sb1"), (std::vector<std::string>{bases_["pids"] + "/sb1/user",
                                                              bases_["freezer"] + "/sb1/user"}));
  EXPECT_EQ(driver->ProcsFiles("sb1").size(), 5u);
  EXPECT_EQ(driver->BaseDirs().size(), 5u);
}

TEST_F(CgroupV1FakeTest, CoMountedControllersShareADirectory) {
  std::map<std::string, std::string> bases = bases_;
  bases["cpuacct"] = bases["cpu"];
  auto driver = MakeCgroupV1Driver(bases);
  EXPECT_EQ(driver->BaseDirs().size(), 4u);
  EXPECT_EQ(driver->ProcsFiles("sb1").size(), 4u);
}

TEST_F(CgroupV1FakeTest, StatsParsesKernelFiles) {
  Put(bases_["memory"] + "/sb1/memory.limit_in_bytes", "9223372036854771712\n");
  auto s = MakeCgroupV1Driver(bases_)->Stats("sb1");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->memory_current, 4096);
  EXPECT_EQ(s->memory_peak, 8192);
  EXPECT_EQ(s->memory_limit, 0);  // unlimited
  EXPECT_EQ(s->oom_kills, 2);
  EXPECT_EQ(s->cpu_usage_ns, 987654321);
  EXPECT_EQ(s->pids_current, 3);
}

TEST_F(CgroupV1FakeTest, AddProcessWritesEveryHierarchy) {
  auto driver = MakeCgroupV1Driver(bases_);
  ASSERT_TRUE(driver->AddProcess("sb1", 777).ok());
  for (const std::string& f : driver->ProcsFiles("sb1")) EXPECT_EQ(Get(f), "777") << f;
}

// An empty cgroup (the usual case once the init was reaped) is not frozen and thawed: that
// round trip costs milliseconds per sandbox. The freeze path with live tasks is exercised by
// CgroupV1RealTest on the real hierarchy.
TEST_F(CgroupV1FakeTest, KillAllOfAnEmptyCgroupSkipsTheFreezer) {
  Put(bases_["freezer"] + "/sb1/freezer.state", "untouched");
  auto r = MakeCgroupV1Driver(bases_)->KillAll("sb1");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(Get(bases_["freezer"] + "/sb1/freezer.state"), "untouched");
}

TEST_F(CgroupV1FakeTest, FreezeAndThawWriteTheFreezerOfS) {
  auto driver = MakeCgroupV1Driver(bases_);
  auto f = driver->Freeze("sb1", 100);  // a plain file reads back FROZEN at once
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(Get(bases_["freezer"] + "/sb1/freezer.state"), "FROZEN");
  ASSERT_TRUE(driver->Thaw("sb1").ok());
  EXPECT_EQ(Get(bases_["freezer"] + "/sb1/freezer.state"), "THAWED");
}

TEST_F(CgroupV1FakeTest, FreezeWithoutAFreezerIsAClearError) {
  auto bases = bases_;
  bases.erase("freezer");
  auto f = MakeCgroupV1Driver(bases)->Freeze("sb1", 100);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(f.error().message.find("freezer"), std::string::npos);
}

TEST_F(CgroupV1FakeTest, DestroyAndList) {
  auto driver = MakeCgroupV1Driver(bases_);
  auto list = driver->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, std::vector<std::string>{"sb1"});
  // A fake tree keeps its files; the kernel drops them on rmdir.
  for (const auto& [c, base] : bases_) {
    auto r = RemoveTree(base + "/sb1");
    ASSERT_TRUE(r.ok());
  }
  EXPECT_TRUE(driver->Destroy("sb1").ok());
  EXPECT_TRUE(driver->Destroy("never_created").ok());
  list = driver->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

// The real hierarchies of this machine (cgroup v1 hybrid). Needs root.
TEST(CgroupV1RealTest, CreateJoinStatsKillDestroy) {
  std::string instance = "sandboxd-unittest-" + RandomHex(4);
  auto made = MakeCgroupDriver(instance);
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  std::unique_ptr<CgroupDriver> driver = std::move(made).value();
  ASSERT_STREQ(driver->Name(), "v1") << "this machine is expected to have cgroup v1";
  testing::CgroupCleanup cleanup(driver.get(), {"real_test"});
  for (const std::string& b : driver->BaseDirs()) {
    EXPECT_NE(b.find("/" + instance), std::string::npos) << b;
  }

  spec::Limits limits;
  limits.memory_bytes = 64LL << 20;
  limits.cpus = 0.5;
  limits.pids_max = 32;
  auto r = driver->Create("real_test", limits, {0, 0});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::map<std::string, std::string> dirs;
  for (const std::string& f : driver->ProcsFiles("real_test")) {
    std::string d = f.substr(0, f.size() - std::string("/cgroup.procs").size());
    for (const char* c : kControllers) {
      if (d.find(std::string("/sys/fs/cgroup/") + c + "/") == 0) dirs[c] = d;
    }
  }
  ASSERT_EQ(dirs.size(), 5u);
  EXPECT_EQ(Get(dirs["memory"] + "/memory.limit_in_bytes"), std::to_string(64LL << 20));
  EXPECT_EQ(Get(dirs["cpu"] + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(Get(dirs["cpu"] + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Get(dirs["pids"] + "/pids.max"), std::to_string(32 + kAgentPidsReserve));

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  r = driver->AddProcess("real_test", child);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  auto stats = driver->Stats("real_test");
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->pids_current, 1);
  EXPECT_EQ(stats->memory_limit, 64LL << 20);
  // v1 charges memory where it was first touched (the test's cgroup), so usage may be 0.
  EXPECT_GE(stats->memory_current, 0);
  auto list = driver->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, std::vector<std::string>{"real_test"});

  // The instance directory is never removed from under a live sandbox cgroup.
  EXPECT_FALSE(driver->RemoveInstance().ok());
  for (const auto& [c, d] : dirs) EXPECT_EQ(::access(d.c_str(), F_OK), 0) << d;

  r = driver->KillAll("real_test");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  r = driver->Destroy("real_test");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  for (const auto& [c, d] : dirs) EXPECT_NE(::access(d.c_str(), F_OK), 0) << d;
  EXPECT_TRUE(driver->Destroy("real_test").ok());
  // A clean shutdown leaves no directory of the daemon behind.
  r = driver->RemoveInstance();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  for (const std::string& b : driver->BaseDirs()) EXPECT_NE(::access(b.c_str(), F_OK), 0) << b;
  EXPECT_TRUE(driver->RemoveInstance().ok());
}

// The delegated S/user on the real hierarchies: owned by the sandbox's root, which can nest
// cgroups and move its own processes there, but not raise the user's pids limit; S keeps the
// agent's reserve on top; KillAll reaches processes in nested cgroups and Destroy removes them.
TEST(CgroupV1RealTest, DelegatedUserCgroupNestsAndIsKilledAndRemoved) {
  std::string instance = "sandboxd-unittest-" + RandomHex(4);
  auto made = MakeCgroupDriver(instance);
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  std::unique_ptr<CgroupDriver> driver = std::move(made).value();
  ASSERT_STREQ(driver->Name(), "v1");
  testing::CgroupCleanup cleanup(driver.get(), {"deleg_test"});
  const uid_t uid = 0x7ff00000;  // an unused host uid, as a sandbox's mapped root
  spec::Limits limits;
  limits.memory_bytes = 64LL << 20;
  limits.pids_max = 16;
  auto r = driver->Create("deleg_test", limits, {uid, uid});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  std::vector<std::string> users = driver->UserDirs("deleg_test");
  ASSERT_FALSE(users.empty());
  std::string pids_user = users.front();
  ASSERT_NE(pids_user.find("/sys/fs/cgroup/pids/"), std::string::npos) << pids_user;
  std::string pids_s = pids_user.substr(0, pids_user.size() - 5);
  EXPECT_EQ(Get(pids_s + "/pids.max"), std::to_string(16 + kAgentPidsReserve));
  EXPECT_EQ(Get(pids_user + "/pids.max"), "16");
  for (const std::string& u : users) {
    struct stat st;
    ASSERT_EQ(::stat(u.c_str(), &st), 0) << u;
    EXPECT_EQ(st.st_uid, uid) << u;
    // The limit stays root's.
    if (::stat((u + "/pids.max").c_str(), &st) == 0) {
      EXPECT_EQ(st.st_uid, 0u) << u;
    }
  }

  // A child as the delegate uid: mkdir an execution cgroup in each, join it, then sleep.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(2);
    for (const std::string& u : users) {
      std::string e = u + "/e1";
      if (::mkdir(e.c_str(), 0755) != 0) ::_exit(3);
      int fd = ::open((e + "/cgroup.procs").c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(4);
      ::close(fd);
    }
    // Not allowed: raising the user's limit.
    int fd = ::open((users.front() + "/pids.max").c_str(), O_WRONLY);
    if (fd >= 0) ::_exit(5);
    if (::fork() == 0) {  // a grandchild: born in the same cgroup
      ::setsid();
      for (;;) ::pause();
    }
    ::write(ready[1], "r", 1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the delegate could not use its cgroup";
  ::close(ready[0]);
  auto procs = ReadFile(pids_user + "/e1/cgroup.procs");
  ASSERT_TRUE(procs.ok());
  EXPECT_EQ(std::count(procs->begin(), procs->end(), '\n'), 2) << *procs;
  auto stats = driver->Stats("deleg_test");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pids_current, 2);  // S counts its descendants

  r = driver->KillAll("deleg_test");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  r = driver->Destroy("deleg_test");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  for (const std::string& u : users) EXPECT_NE(::access(u.c_str(), F_OK), 0) << u;
  EXPECT_TRUE(driver->RemoveInstance().ok());
}

}  // namespace
}  // namespace sbx::runtime
