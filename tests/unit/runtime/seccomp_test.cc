// seccomp: the compiled program, installed in a forked child, denies what the container
// default profile denies and leaves normal calls alone.
#include "runtime/seccomp.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sbx::runtime {
namespace {

TEST(SeccompTest, BuildsOnceAndShares) {
  auto a = SandboxSeccompProgram();
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  auto b = SandboxSeccompProgram();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_GT((*a)->size(), 20u);
  EXPECT_EQ((*a)->fprog()->len, (*a)->size());
}

// Each check sets one bit of the exit code when the kernel answered as expected.
TEST(SeccompTest, FilterDeniesTheDefaultList) {
  auto prog = BuildSeccompProgram();
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(100);
    if (InstallSeccompProgram((*prog)->fprog()) != 0) ::_exit(101);
    int bits = 0;
    if (::syscall(SYS_keyctl, 0, -3, 0) == -1 && errno == EPERM) bits |= 1;
    if (::syscall(SYS_clone3, nullptr, 0) == -1 && errno == ENOSYS) bits |= 2;
    if (::unshare(CLONE_NEWNS) == -1 && errno == EPERM) bits |= 4;
    if (::personality(ADDR_NO_RANDOMIZE) == -1 && errno == EPERM) bits |= 8;
    if (::personality(0xffffffff) != -1) bits |= 16;
    if (::getpid() > 0) bits |= 32;
    // clone without namespace flags works (fork), with CLONE_NEWUTS it does not.
    long c = ::syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (c == -1 && errno == EPERM) bits |= 64;
    ::_exit(bits);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127) << "bits " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace sbx::runtime
