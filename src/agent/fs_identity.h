// ScopedFsIdentity: makes the calling thread's file-system identity (fsuid, fsgid and
// supplementary groups) that of a user for the duration of a file operation, so the kernel
// applies that user's permissions to every path component. Restores the agent's identity on
// destruction. Uses raw syscalls: glibc's setgroups() would change every thread.
//
// Thread safety: affects only the calling thread; create and destroy on the same thread.
#pragma once

#include <sys/types.h>

#include <vector>

#include "agent/users.h"
#include "common/result.h"

namespace sbx::agent {

class ScopedFsIdentity {
 public:
  explicit ScopedFsIdentity(const User& user);
  ~ScopedFsIdentity();
  ScopedFsIdentity(const ScopedFsIdentity&) = delete;
  ScopedFsIdentity& operator=(const ScopedFsIdentity&) = delete;

  // Whether the switch succeeded; operations must not proceed otherwise.
  const Result<void>& status() const { return status_; }

 private:
  uid_t saved_uid_ = 0;
  gid_t saved_gid_ = 0;
  std::vector<gid_t> saved_groups_;
  bool switched_ = false;
  Result<void> status_;
};

}  // namespace sbx::agent
