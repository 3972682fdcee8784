// seccomp: the compiled program, installed in a forked child, denies what the container
// default profile denies and leaves normal calls alone.
#include "runtime/seccomp.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

// Runs `probe` in a forked child under the filter; the child's exit code is its result.
int UnderFilter(int (*probe)()) {
  auto prog = BuildSeccompProgram();
  if (!prog.ok()) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(200);
    if (InstallSeccompProgram((*prog)->fprog()) != 0) ::_exit(201);
    ::_exit(probe());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// The errno of a raw system call that must fail (0 if it succeeded).
int ErrnoOf(long rc) { return rc == -1 ? errno : 0; }

TEST(SeccompTest, IoUringMemfdSecretAndNumaAreAbsent) {
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(425, 8, nullptr)); }), ENOSYS);  // setup
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(426, -1, 0, 0, 0, nullptr, 0)); }), ENOSYS);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(427, -1, 0, nullptr, 0)); }), ENOSYS);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(447, 0)); }), ENOSYS);  // memfd_secret
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(SYS_get_mempolicy, 0, 0, 0, 0, 0)); }),
            ENOSYS);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(SYS_move_pages, 0, 0, 0, 0, 0, 0)); }),
            ENOSYS);
}

TEST(SeccompTest, ReachingIntoAnotherProcessIsDenied) {
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(438, -1, 0, 0)); }), EPERM);  // pidfd_getfd
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(440, -1, nullptr, 0, 0, 0)); }), EPERM);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(448, -1, 0)); }), EPERM);
#if defined(__x86_64__)
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(SYS_modify_ldt, 0, nullptr, 0)); }), EPERM);
#endif
}

TEST(SeccompTest, SocketFamiliesOutsideTheListAreUnsupported) {
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::socket(AF_VSOCK, SOCK_STREAM, 0)); }), EAFNOSUPPORT);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::socket(AF_ALG, SOCK_SEQPACKET, 0)); }), EAFNOSUPPORT);
  // High bits the kernel ignores do not smuggle a family past the filter.
  EXPECT_EQ(UnderFilter([] {
              return ErrnoOf(::syscall(SYS_socket, (1UL << 32) | AF_VSOCK, SOCK_STREAM, 0));
            }),
            EAFNOSUPPORT);
  EXPECT_EQ(UnderFilter([] {
              int sv[2];
              return ErrnoOf(::socketpair(AF_VSOCK, SOCK_STREAM, 0, sv));
            }),
            EAFNOSUPPORT);
  EXPECT_EQ(UnderFilter([] {
              int sv[2];
              return ErrnoOf(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) |
                     ErrnoOf(::socket(AF_INET, SOCK_STREAM, 0) < 0 ? -1 : 0) |
                     ErrnoOf(::socket(AF_INET6, SOCK_DGRAM, 0) < 0 ? -1 : 0) |
                     ErrnoOf(::socket(AF_NETLINK, SOCK_RAW, 0) < 0 ? -1 : 0);
            }),
            0);
}

TEST(SeccompTest, UnreviewedNewSystemCallsAreAbsent) {
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(470, 0, 0, 0)); }), ENOSYS);
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(467, -1, nullptr, 0, nullptr, 0)); }), EPERM);
  // Reviewed and allowed: fchmodat2 (452) reaches the kernel (EBADF for a bad fd).
  EXPECT_EQ(UnderFilter([] { return ErrnoOf(::syscall(452, -2, "x", 0644, 0)); }), EBADF);
}

}  // namespace
}  // namespace sbx::runtime
