// Capability sets of sandbox processes: computed in the daemon, applied in the child with raw
// system calls.
#include "runtime/caps.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include "runtime/syscalls.h"

namespace sbx::runtime {
namespace {

constexpr int kDefaultCaps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE,     CAP_FSETID, CAP_FOWNER,     CAP_SETGID,      CAP_SETUID,
    CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_KILL,   CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP,
    CAP_MKNOD,
};

}  // namespace

Result<CapsPlan> PrepareCaps() {
  CapsPlan plan;
  int bits = static_cast<int>(cap_max_bits());
  if (bits <= 0 || bits > 64) {
    return MakeError(ErrorCode::kInternal, "cap_max_bits() = " + std::to_string(bits));
  }
  plan.last_cap = bits - 1;
  for (int c : kDefaultCaps) plan.keep |= uint64_t{1} << c;
  return plan;
}

int ApplyCaps(const CapsPlan& plan, CapsStep* failed_step) {
  // The bounding set first: dropping needs CAP_SETPCAP in the effective set.
  for (int c = 0; c <= plan.last_cap; ++c) {
    if (plan.keep & (uint64_t{1} << c)) continue;
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
      *failed_step = CapsStep::kBoundingDrop;
      return errno;
    }
  }
  sys::CapHeader header{sys::kCapVersion3, 0};
  sys::CapData data[2] = {};
  for (int i = 0; i < 2; ++i) {
    uint32_t word = static_cast<uint32_t>(plan.keep >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = word;
  }
  if (sys::Capset(&header, data) != 0) {
    *failed_step = CapsStep::kCapset;
    return errno;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    *failed_step = CapsStep::kAmbientClear;
    return errno;
  }
  *failed_step = CapsStep::kNone;
  return 0;
}

}  // namespace sbx::runtime
