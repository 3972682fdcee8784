// The sandbox's seccomp filter: default allow, with the default-deny list of container
// runtimes (docker/moby's default profile, inverted to "allow unless listed"): no keyrings,
// bpf, module loading, kexec, perf, userfaultfd, mount API, namespace creation, ptrace, clock
// setting, ... -> EPERM; nothing that reaches into another process (pidfd_getfd,
// process_madvise, process_mrelease, process_vm_*, kcmp) -> EPERM; io_uring, memfd_secret and
// the NUMA policy calls -> ENOSYS (as on a kernel without them); socket families other than
// unix, inet, inet6 and netlink -> EAFNOSUPPORT; system calls newer than the last one reviewed
// -> ENOSYS; clone3 -> ENOSYS (so libc falls back to clone, whose flags a filter can inspect);
// system calls of foreign architectures (i386, x32) kill the process. docs/security.md,
// "System calls (seccomp)", has the list and how it differs from moby's profile.
//
// Parent half: BuildSeccompProgram() compiles the filter with libseccomp before clone.
// Child half: InstallSeccompProgram() is one raw syscall, safe between clone and exec.
//
// Thread safety: SandboxSeccompProgram() compiles once and is safe to call from any thread;
// the returned program is immutable.
#pragma once

#include <linux/filter.h>

#include <memory>
#include <vector>

#include "common/result.h"

namespace sbx::runtime {

class SeccompProgram {
 public:
  explicit SeccompProgram(std::vector<sock_filter> insns) : insns_(std::move(insns)) {
    prog_.len = static_cast<unsigned short>(insns_.size());
    prog_.filter = insns_.data();
  }
  SeccompProgram(const SeccompProgram&) = delete;
  SeccompProgram& operator=(const SeccompProgram&) = delete;
  const sock_fprog* fprog() const { return &prog_; }
  size_t size() const { return insns_.size(); }

 private:
  std::vector<sock_filter> insns_;
  sock_fprog prog_{};
};

// Compiles the sandbox filter (libseccomp -> BPF via a memfd; libseccomp 2.5 has no in-memory
// export).
Result<std::unique_ptr<SeccompProgram>> BuildSeccompProgram();

// The filter compiled once per process (first call compiles; later calls share it).
Result<std::shared_ptr<const SeccompProgram>> SandboxSeccompProgram();

// Child half: installs `prog` on the calling thread. Requires no_new_privs (or CAP_SYS_ADMIN).
// Returns 0 or an errno value. Async-signal-safe.
int InstallSeccompProgram(const sock_fprog* prog);

}  // namespace sbx::runtime
