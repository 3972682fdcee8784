// Builds the sandbox's seccomp filter with libseccomp in the daemon, and installs the compiled
// BPF in the child with one raw system call.
#include "runtime/seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/syscalls.h"

namespace sbx::runtime {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp.cc: add this architecture's AUDIT_ARCH_* value"
#endif

// Denied with EPERM outright: the container-runtime default list (docker/moby's profile,
// inverted), plus calls that reach into another process of the sandbox (pidfd_getfd,
// process_madvise, process_mrelease: the agent's descriptors and memory are not the
// sandbox's to take), fanotify_init and modify_ldt. docs/security.md compares it with moby's.
constexpr const char* kDenied[] = {
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "perf_event_open",
    "userfaultfd",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "acct",
    "quotactl",
    "quotactl_fd",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "open_by_handle_at",
    "name_to_handle_at",
    "setns",
    "unshare",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "syslog",
    "vhangup",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "process_mrelease",
    "fanotify_init",
    "modify_ldt",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "vm86",
    "vm86old",
};

// Denied with ENOSYS: what a kernel built without the feature answers, so programs that probe
// for it fall back as they do there (liburing, libuv and tokio to epoll and threads; libnuma,
// hwloc and the JVM to "one memory node"). io_uring runs its operations out of the filter's
// sight; memfd_secret takes pages out of the kernel's direct map; the NUMA policy calls have
// no use on a sandbox's share of one host.
constexpr const char* kAbsent[] = {
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "memfd_secret",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
};

// System calls newer than libseccomp 2.5's table, by number (the same on every architecture
// from 424 on), and what they get.
struct NumberedDenial {
  uint32_t nr;
  int err;
};
constexpr NumberedDenial kDeniedByNumber[] = {
    {467, EPERM},  // open_tree_attr: the new mount API, like open_tree
};

// The newest system call this filter was reviewed against (file_setattr, Linux 6.17). Newer
// ones get ENOSYS until someone has looked at them, as runc does for calls newer than its
// profile: a new kernel does not widen the sandbox by itself.
constexpr uint32_t kLastReviewedNr = 469;

// socket(2) and socketpair(2): the address families a sandbox uses (unix, IPv4, IPv6,
// netlink for getifaddrs and `ip`). Any other family is EAFNOSUPPORT, as on a kernel without
// it: no AF_VSOCK to a hypervisor, and no module autoloading of rarely used protocol code
// (AF_ALG, AF_TIPC, AF_RDS, ...) by an unprivileged socket() call.
constexpr uint32_t kSocketFamilies[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

// personality(2) values a normal program uses (docker allows exactly these).
constexpr uint32_t kPersonalityAllowed[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

// clone(2) flags that create namespaces. (CLONE_NEWTIME is 0x80, which clone(2) reads as part
// of the exit signal; clone3 is refused anyway.)
constexpr uint64_t kCloneNsFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                      CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// Owns a libseccomp filter context.
struct FilterCtx {
  scmp_filter_ctx ctx = nullptr;
  FilterCtx() = default;
  FilterCtx(const FilterCtx&) = delete;
  FilterCtx& operator=(const FilterCtx&) = delete;
  ~FilterCtx() {
    if (ctx != nullptr) seccomp_release(ctx);
  }
};

Error SeccompError(const std::string& what, int rc) { return SysError("seccomp " + what, -rc); }

Result<void> AddRules(scmp_filter_ctx ctx) {
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: nothing to deny
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) return SeccompError(std::string("rule ") + name + " -> EPERM", rc);
  }
  for (const char* name : kAbsent) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
      return MakeError(ErrorCode::kInternal,
                       std::string("seccomp: libseccomp does not know ") + name);
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    if (rc != 0) return SeccompError(std::string("rule ") + name + " -> ENOSYS", rc);
  }
  // clone: EPERM if any namespace flag is set (one rule per flag: rules are ORed).
  int rc;
  for (uint64_t flag : kCloneNsFlags) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0_64(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return SeccompError("rule clone(CLONE_NEW*)", rc);
  }
  // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone.
  rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc != 0) return SeccompError("rule clone3 -> ENOSYS", rc);
  return Ok();
}

// A few rules libseccomp 2.5 cannot express (one comparison per argument and rule, no ALLOW
// rules on an ALLOW default, no "number above N", no numbers it does not know) go into a
// hand-written prefix of the compiled program. For native calls:
//   - above kLastReviewedNr: ENOSYS (x32 numbers, with bit 30, fall through: libseccomp's
//     program kills them);
//   - kDeniedByNumber: their errno;
//   - socket, socketpair: ALLOW for kSocketFamilies, else EAFNOSUPPORT;
//   - personality: ALLOW for the five values a normal program uses, else EPERM.
// Everything else falls through to the first instruction of the libseccomp program, which
// checks the architecture itself. Jumps name labels; Finish() turns them into offsets.
class PrefixAsm {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Place(int label) { labels_[static_cast<size_t>(label)] = static_cast<int>(code_.size()); }
  void Stmt(uint16_t code, uint32_t k) { code_.push_back({BPF_STMT(code, k), -1, -1}); }
  // Jumps to `yes` when the comparison holds, else to `no` (-1: the next instruction).
  void Jump(uint16_t code, uint32_t k, int yes, int no) {
    code_.push_back({BPF_JUMP(code, k, 0, 0), yes, no});
  }
  void Ret(uint32_t action) { Stmt(BPF_RET | BPF_K, action); }
  Result<std::vector<sock_filter>> Finish() {
    std::vector<sock_filter> out;
    for (size_t i = 0; i < code_.size(); ++i) {
      sock_filter f = code_[i].f;
      for (auto [label, field] : {std::pair{code_[i].yes, &f.jt}, std::pair{code_[i].no, &f.jf}}) {
        if (label < 0) continue;
        int target = labels_[static_cast<size_t>(label)];
        int offset = target - static_cast<int>(i) - 1;
        if (target < 0 || offset < 0 || offset > 255)
          return MakeError(ErrorCode::kInternal, "seccomp prefix: bad jump at " + std::to_string(i));
        *field = static_cast<uint8_t>(offset);
      }
      out.push_back(f);
    }
    return out;
  }
  size_t size() const { return code_.size(); }

 private:
  struct Insn {
    sock_filter f;
    int yes, no;
  };
  std::vector<Insn> code_;
  std::vector<int> labels_;
};

uint32_t RetErrno(int err) { return SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA); }

Result<std::vector<sock_filter>> HandWrittenPrefix() {
  constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
  constexpr uint32_t kArch = offsetof(struct seccomp_data, arch);
  constexpr uint32_t kArg0Low = offsetof(struct seccomp_data, args[0]);  // little endian
  constexpr uint16_t kJeq = BPF_JMP | BPF_JEQ | BPF_K, kJgt = BPF_JMP | BPF_JGT | BPF_K;
  constexpr uint16_t kLoad = BPF_LD | BPF_W | BPF_ABS;
  PrefixAsm a;
  const int next = a.NewLabel(), allow = a.NewLabel(), enosys = a.NewLabel();
  const int sockets = a.NewLabel(), personality = a.NewLabel();
  a.Stmt(kLoad, kArch);
  a.Jump(kJeq, kNativeArch, -1, next);
  a.Stmt(kLoad, kNr);
#if defined(__x86_64__)
  a.Jump(kJgt, 0x3fffffff, next, -1);  // x32 (__X32_SYSCALL_BIT): libseccomp kills it
#endif
  a.Jump(kJgt, kLastReviewedNr, enosys, -1);
  std::vector<int> numbered;
  for (const NumberedDenial& d : kDeniedByNumber) {
    numbered.push_back(a.NewLabel());
    a.Jump(kJeq, d.nr, numbered.back(), -1);
  }
  a.Jump(kJeq, __NR_socket, sockets, -1);
  a.Jump(kJeq, __NR_socketpair, sockets, -1);
  a.Jump(kJeq, __NR_personality, personality, next);

  a.Place(sockets);
  a.Stmt(kLoad, kArg0Low);  // the family is an int: the kernel reads the low 32 bits only
  for (uint32_t family : kSocketFamilies) a.Jump(kJeq, family, allow, -1);
  a.Ret(RetErrno(EAFNOSUPPORT));

  a.Place(personality);
  a.Stmt(kLoad, kArg0Low);
  for (uint32_t value : kPersonalityAllowed) a.Jump(kJeq, value, allow, -1);
  a.Ret(RetErrno(EPERM));

  for (size_t i = 0; i < numbered.size(); ++i) {
    a.Place(numbered[i]);
    a.Ret(RetErrno(kDeniedByNumber[i].err));
  }
  a.Place(enosys);
  a.Ret(RetErrno(ENOSYS));
  a.Place(allow);
  a.Ret(SECCOMP_RET_ALLOW);
  a.Place(next);
  return a.Finish();
}

}  // namespace

Result<std::unique_ptr<SeccompProgram>> BuildSeccompProgram() {
  FilterCtx ctx;
  ctx.ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx.ctx == nullptr) return MakeError(ErrorCode::kInternal, "seccomp_init failed");
  scmp_filter_ctx raw = ctx.ctx;
  // Foreign architectures (only the native one is in the filter) are killed.
  int rc = seccomp_attr_set(raw, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return SeccompError("set bad-arch action", rc);
  // We install the filter ourselves after setting no_new_privs explicitly.
  rc = seccomp_attr_set(raw, SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return SeccompError("clear CTL_NNP", rc);
  RETURN_IF_ERROR(AddRules(raw));

  UniqueFd mem(::memfd_create("sbx-seccomp", MFD_CLOEXEC));
  if (!mem) return SysError("memfd_create for the seccomp program");
  rc = seccomp_export_bpf(raw, mem.get());
  if (rc != 0) return SeccompError("export BPF", rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size < 0) return SysError("lseek seccomp memfd");
  if (size == 0 || size % sizeof(sock_filter) != 0 || size / sizeof(sock_filter) > BPF_MAXINSNS) {
    return MakeError(ErrorCode::kInternal,
                     "seccomp program has a bad size: " + std::to_string(size) + " bytes");
  }
  ASSIGN_OR_RETURN(std::vector<sock_filter> insns, HandWrittenPrefix());
  size_t prefix = insns.size();
  insns.resize(prefix + static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), insns.data() + prefix, static_cast<size_t>(size), 0) != size) {
    return SysError("read back the seccomp program");
  }
  if (insns.size() > BPF_MAXINSNS) {
    return MakeError(ErrorCode::kInternal,
                     "seccomp program too long: " + std::to_string(insns.size()));
  }
  return std::make_unique<SeccompProgram>(std::move(insns));
}

Result<std::shared_ptr<const SeccompProgram>> SandboxSeccompProgram() {
  static std::mutex mu;
  static std::shared_ptr<const SeccompProgram> cached;
  std::lock_guard<std::mutex> lock(mu);
  if (!cached) {
    ASSIGN_OR_RETURN(std::unique_ptr<SeccompProgram> p, BuildSeccompProgram());
    cached = std::move(p);
  }
  return cached;
}

int InstallSeccompProgram(const sock_fprog* prog) {
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) != 0) return errno;
  return 0;
}

}  // namespace sbx::runtime
