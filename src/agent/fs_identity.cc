// Per-thread fsuid/fsgid/groups switching with raw syscalls.
#include "agent/fs_identity.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "common/log.h"

namespace sbx::agent {
namespace {

long RawSetgroups(const std::vector<gid_t>& groups) {
  return syscall(SYS_setgroups, groups.size(), groups.empty() ? nullptr : groups.data());
}
// setfsuid/setfsgid return the previous id and never fail visibly: confirm with a no-op call.
uid_t CurrentFsuid() { return static_cast<uid_t>(syscall(SYS_setfsuid, static_cast<uid_t>(-1))); }
gid_t CurrentFsgid() { return static_cast<gid_t>(syscall(SYS_setfsgid, static_cast<gid_t>(-1))); }

}  // namespace

ScopedFsIdentity::ScopedFsIdentity(const User& user) {
  saved_uid_ = CurrentFsuid();
  saved_gid_ = CurrentFsgid();
  int n = getgroups(0, nullptr);
  if (n > 0) {
    saved_groups_.resize(static_cast<size_t>(n));
    n = getgroups(n, saved_groups_.data());
    saved_groups_.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  switched_ = true;
  if (RawSetgroups(user.groups) != 0) {
    status_ = SysError("setgroups for user " + user.name);
    return;
  }
  syscall(SYS_setfsgid, user.gid);
  syscall(SYS_setfsuid, user.uid);
  if (CurrentFsgid() != user.gid || CurrentFsuid() != user.uid) {
    status_ = MakeError(ErrorCode::kPermissionDenied,
                        "cannot assume file-system identity of user " + user.name);
  }
}

ScopedFsIdentity::~ScopedFsIdentity() {
  if (!switched_) return;
  syscall(SYS_setfsuid, saved_uid_);
  syscall(SYS_setfsgid, saved_gid_);
  if (RawSetgroups(saved_groups_) != 0 || CurrentFsuid() != saved_uid_ ||
      CurrentFsgid() != saved_gid_) {
    // A thread stuck with a user's identity must not serve further requests.
    log::Error("fs_identity_restore_failed", {{"errno", errno}});
    std::abort();
  }
}

}  // namespace sbx::agent
