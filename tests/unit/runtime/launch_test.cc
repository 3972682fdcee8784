// Launch on the real kernel (needs root): the static sandbox_facts helper runs as the agent and
// reports what it sees; the test checks namespaces, ids, mounts, fds, capabilities, seccomp and
// cgroup membership, then the exit status through Reap().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "cgroup_cleanup.h"
#include "common/util.h"
#include "runtime/cgroup.h"
#include "runtime/fs_util.h"
#include "runtime/runtime.h"
#include "temp_dir.h"

namespace sbx::runtime {
namespace {

constexpr uint32_t kBase = 2100000;

std::map<std::string, std::string> ParseFacts(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

class LaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto binds = EnsureHostBaseRootfs(tmp_.path() + "/hostbase");
    ASSERT_TRUE(binds.ok()) << binds.error().ToString();
    rootfs_.sandbox_dir = tmp_.path() + "/sb";
    rootfs_.lower_dir = tmp_.path() + "/hostbase";
    rootfs_.binds = *binds;
    rootfs_.host_id_base = kBase;
    auto r = PrepareRootfs(rootfs_);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    log_path_ = tmp_.path() + "/agent.log";
    log_ = UniqueFd(::open(log_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(log_.valid());
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    sock_a_ = UniqueFd(sv[0]);
    sock_b_ = UniqueFd(sv[1]);
    config_.id = "facts_sandbox";
    config_.root_dir = rootfs_.sandbox_dir + "/root";
    config_.host_id_base = kBase;
    config_.limits.nofile = 1000;
    config_.agent_path = SBX_FACTS_HELPER;
    config_.agent_args = {"--hello"};
    config_.agent_env = {"FOO=bar", "PATH=/usr/bin:/bin"};
    config_.agent_listen_fd = sock_a_.get();
    config_.log_fd = log_.get();
  }
  void TearDown() override {
    auto r = RemoveSandboxDir(rootfs_.sandbox_dir);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    auto m = ReadMountInfo();
    ASSERT_TRUE(m.ok());
    EXPECT_TRUE(MountsAtOrBelow(*m, tmp_.path()).empty());
  }
  std::map<std::string, std::string> Facts() {
    auto text = ReadFile(log_path_);
    EXPECT_TRUE(text.ok());
    return ParseFacts(text.ok() ? *text : "");
  }

  testing::TempDir tmp_;
  RootfsConfig rootfs_;
  LaunchConfig config_;
  std::string log_path_;
  UniqueFd log_, sock_a_, sock_b_;
};

TEST_F(LaunchTest, AgentSeesAnIsolatedSandbox) {
  std::string instance = "sandboxd-unittest-" + RandomHex(4);
  auto driver = MakeCgroupDriver(instance);
  ASSERT_TRUE(driver.ok()) << driver.error().ToString();
  testing::CgroupCleanup cleanup(driver->get(), {"facts_sandbox"});
  ASSERT_TRUE((*driver)->Create("facts_sandbox", spec::Limits{}, {config_.host_id_base, config_.host_id_base}).ok());
  config_.cgroup_procs_files = (*driver)->ProcsFiles("facts_sandbox");

  LaunchTimings t;
  auto c = Launch(config_, &t);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  int status = -1;
  auto reaped = (*c)->Reap(true, &status);
  ASSERT_TRUE(reaped.ok()) << reaped.error().ToString();
  EXPECT_TRUE(*reaped);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_GT(t.clone_us, 0);
  EXPECT_GT(t.child_setup_us, 0);
  std::cout << "launch timings: prepare " << t.prepare_us << " us, clone " << t.clone_us
            << " us, child set-up " << t.child_setup_us << " us\n";

  auto f = Facts();
  EXPECT_EQ(f["uid"], "0");
  EXPECT_EQ(f["gid"], "0");
  EXPECT_EQ(f["pid"], "1");
  EXPECT_EQ(f["proc_self"], "1");
  EXPECT_EQ(f["hostname"], "facts_sandbox");
  EXPECT_EQ(f["argv1"], "--hello");
  EXPECT_EQ(f["env_FOO"], "bar");
  EXPECT_EQ(f["cwd"], "/");
  EXPECT_EQ(f["keyctl_errno"], std::to_string(EPERM));
  EXPECT_EQ(f["mount_errno"], std::to_string(EPERM));
  EXPECT_EQ(f["unshare_errno"], std::to_string(EPERM));
  EXPECT_EQ(f["clone3_errno"], std::to_string(ENOSYS));
  EXPECT_EQ(f["ptrace_errno"], std::to_string(EPERM));
  EXPECT_EQ(f["personality_bad_errno"], std::to_string(EPERM));
  EXPECT_EQ(f["personality_query_errno"], "0");
  // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT
  // MKNOD AUDIT_WRITE SETFCAP = 0xa80405fb (docker adds NET_RAW, bit 13).
  EXPECT_EQ(f["cap_eff"], "00000000a80405fb");
  EXPECT_EQ(f["cap_bnd"], "00000000a80405fb");
  EXPECT_EQ(f["seccomp"], "2");
  EXPECT_EQ(f["no_new_privs"], "1");
  EXPECT_EQ(f["fd3_socket"], "1");
  EXPECT_EQ(f["fd3_cloexec"], "0");
  EXPECT_EQ(f["fd4_open"], "0");
  EXPECT_EQ(f["fd5_open"], "0");
  EXPECT_EQ(f["home_uid"], "1000");
  EXPECT_EQ(f["tmp_writable"], "1");
  EXPECT_EQ(f["dev_null_write"], "1");
  EXPECT_EQ(f["usr_bin_env"], "1");
  EXPECT_EQ(f["usr_writable"], "0");
  EXPECT_EQ(f["etc_passwd_user"], "1");
  EXPECT_EQ(f["nofile"], "1000");
  EXPECT_EQ(f["net_ifaces"], "1");  // only lo
  EXPECT_EQ(f["lo_up"], "1");
  EXPECT_EQ(f["memory_cgroup_path"], "/");  // own cgroup namespace, rooted at its cgroup
  // The probe file is in the upper layer, owned by the sandbox's root.
  struct stat st;
  ASSERT_EQ(::stat((rootfs_.sandbox_dir + "/upper/tmp/facts_probe").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kBase);

  ASSERT_TRUE((*driver)->KillAll("facts_sandbox").ok());
  ASSERT_TRUE((*driver)->Destroy("facts_sandbox").ok());
  for (const std::string& b : (*driver)->BaseDirs()) {
    auto left = ReadFile(b + "/cgroup.procs");
    EXPECT_TRUE(left.ok() && left->empty()) << b;
  }
}

TEST_F(LaunchTest, NetworkTrueKeepsHostNetwork) {
  config_.network = true;
  auto c = Launch(config_, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  int status = -1;
  ASSERT_TRUE((*c)->Reap(true, &status).ok());
  auto f = Facts();
  EXPECT_NE(f["net_ifaces"], "1");
}

TEST_F(LaunchTest, KillAndNonBlockingReap) {
  config_.agent_path = "/usr/bin/sleep";  // dynamic, from the bound host /usr
  config_.agent_args = {"1000"};
  auto c = Launch(config_, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  int status = -1;
  auto r = (*c)->Reap(false, &status);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  ASSERT_TRUE((*c)->Kill().ok());
  r = (*c)->Reap(true, &status);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(*r);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(LaunchTest, ChildStepFailureNamesTheStep) {
  // A root whose /dev is a file: mounting the /dev tmpfs fails in the child.
  std::string root = tmp_.path() + "/badroot";
  ASSERT_TRUE(MakeDirs(root + "/proc", 0755).ok());
  ASSERT_EQ(::chown(root.c_str(), kBase, kBase), 0);  // the sandbox's root owns its root
  ASSERT_TRUE(WriteFileAtomic(root + "/dev", "not a dir").ok());
  config_.root_dir = root;
  auto c = Launch(config_, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("mount tmpfs on " + root + "/dev"), std::string::npos)
      << c.error().ToString();
  EXPECT_EQ(c.error().sys_errno, ENOTDIR);
}

TEST_F(LaunchTest, BadInputFailsBeforeClone) {
  config_.agent_path = "/nonexistent/agent";
  auto c = Launch(config_, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("open agent /nonexistent/agent"), std::string::npos);
  config_.agent_path = SBX_FACTS_HELPER;
  config_.host_id_base = 0;
  EXPECT_FALSE(Launch(config_, nullptr).ok());
}

}  // namespace
}  // namespace sbx::runtime
