// Raw system calls and the constants older headers lack, in one place (as crun's syscalls.h).
//
// Everything here is a thin inline wrapper over syscall(2): no allocation, no locks, no errno
// translation beyond the libc convention (-1 and errno). That makes each of them safe to call in
// the child between clone and exec. glibc's own setresuid()/setgroups() are NOT safe there:
// in a multi-threaded process they broadcast the change to every thread (setxid) and would hang
// in a child that has only one; use the wrappers below instead.
#pragma once

#include <linux/sched.h>  // struct clone_args, CLONE_* (clone3)
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

namespace sbx::runtime::sys {

// clone3 in fork mode (no stack, no CLONE_VM): returns twice like fork().
inline pid_t Clone3(struct clone_args* args) {
  return static_cast<pid_t>(::syscall(SYS_clone3, args, sizeof(*args)));
}
inline int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}
inline int PivotRoot(const char* new_root, const char* put_old) {
  return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}
inline int CloseRange(unsigned first, unsigned last, unsigned flags) {
  return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}
inline int Execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                    int flags) {
  return static_cast<int>(::syscall(SYS_execveat, dirfd, path, argv, envp, flags));
}
inline int SetResUid(uid_t r, uid_t e, uid_t s) {
  return static_cast<int>(::syscall(SYS_setresuid, r, e, s));
}
inline int SetResGid(gid_t r, gid_t e, gid_t s) {
  return static_cast<int>(::syscall(SYS_setresgid, r, e, s));
}
inline int SetGroups(size_t n, const gid_t* list) {
  return static_cast<int>(::syscall(SYS_setgroups, n, list));
}
inline int Unshare(int flags) { return static_cast<int>(::syscall(SYS_unshare, flags)); }

// openat2(2): struct open_how is declared here because linux/openat2.h is not always installed.
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
inline int Openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  OpenHow how{flags, 0, resolve};
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// The raw capability ABI (linux/capability.h), version 3: two 32-bit words per set.
struct CapHeader {
  uint32_t version;
  int pid;
};
struct CapData {
  uint32_t effective;
  uint32_t permitted;
  uint32_t inheritable;
};
inline constexpr uint32_t kCapVersion3 = 0x20080522;
inline int Capset(CapHeader* header, const CapData* data) {
  return static_cast<int>(::syscall(SYS_capset, header, data));
}

}  // namespace sbx::runtime::sys
