// Capabilities of sandbox processes: the container-runtime default set (CHOWN, DAC_OVERRIDE,
// FSETID, FOWNER, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, KILL, SYS_CHROOT, AUDIT_WRITE,
// SETFCAP, MKNOD). They are capabilities in the sandbox's own user namespace only; notably
// there is no CAP_SYS_ADMIN, so nothing can be mounted inside.
//
// Parent half: PrepareCaps() computes the masks before clone (libcap tells the number of
// capabilities this kernel knows). Child half: ApplyCaps() is raw prctl/capset calls only.
//
// Thread safety: both functions are reentrant.
#pragma once

#include <cstdint>

#include "common/result.h"

namespace sbx::runtime {

struct CapsPlan {
  uint64_t keep = 0;  // bit n = capability n stays in bounding/permitted/effective/inheritable
  int last_cap = 0;   // highest capability number the kernel knows
};

Result<CapsPlan> PrepareCaps();

// Which step of ApplyCaps failed.
enum class CapsStep { kNone, kBoundingDrop, kCapset, kAmbientClear };

// Child half: drops every capability outside `plan.keep` from the bounding set, sets
// permitted/effective/inheritable to `keep`, clears the ambient set. Returns 0 or an errno
// value and the failing step. Async-signal-safe.
int ApplyCaps(const CapsPlan& plan, CapsStep* failed_step);

}  // namespace sbx::runtime
