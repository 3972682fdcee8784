// Builds the sandbox's seccomp filter with libseccomp in the daemon, and installs the compiled
// BPF in the child with one raw system call.
#include "runtime/seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <iterator>
#include <mutex>
#include <string>

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

// Denied with EPERM outright.
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
    "create_module",
    "get_kernel_syms",
    "query_module",
    "vm86",
    "vm86old",
};

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

// personality(2) needs "EPERM unless the argument is one of five values", which libseccomp
// 2.5 cannot express (one comparison per argument and rule; no ALLOW rules on an ALLOW
// default). So the compiled program gets a hand-written prefix: for native personality() calls
// it allows the five values and returns EPERM otherwise; everything else falls through to the
// first instruction of the libseccomp program, which checks the architecture itself.
std::vector<sock_filter> PersonalityPrefix() {
  constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
  constexpr uint32_t kArch = offsetof(struct seccomp_data, arch);
  constexpr uint32_t kArg0Low = offsetof(struct seccomp_data, args[0]);  // little endian
  constexpr uint8_t kValues = std::size(kPersonalityAllowed);
  // Layout: 0 ld arch, 1 jeq, 2 ld nr, 3 jeq, 4 ld arg0, 5..9 jeq value, 10 ret EPERM,
  // 11 ret ALLOW, 12 = first libseccomp instruction.
  constexpr uint8_t kAllow = 11, kNext = 12;
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArch));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNativeArch, 0, kNext - 2));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, kNext - 4));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0Low));
  for (uint8_t i = 0; i < kValues; ++i) {
    uint8_t at = static_cast<uint8_t>(5 + i);
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kPersonalityAllowed[i],
                         static_cast<uint8_t>(kAllow - at - 1), 0));
  }
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return p;
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
  std::vector<sock_filter> insns = PersonalityPrefix();
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
