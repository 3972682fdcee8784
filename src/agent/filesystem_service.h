// filesystem.Filesystem unary RPCs (E2B-PROTOCOL.md 3.3): Stat, ListDir, MakeDir, Move,
// Remove. Each runs under the requesting user's file-system identity (ScopedFsIdentity), so
// the kernel, not string checks, decides which paths are reachable. Symlinks are reported,
// not followed (lstat), and recursion never follows them.
//
// Thread safety: Call may run concurrently on many connection threads.
#pragma once

#include <string_view>

#include "agent/users.h"
#include "common/result.h"
#include "protocol/fs_messages.h"
#include "protocol/json_fields.h"

namespace sbx::agent {

inline constexpr size_t kMaxListEntries = 200000;

// Runs filesystem.Filesystem/<method>; kInvalidArgument-free dispatch: callers check
// IsFilesystemMethod first.
Result<protocol::Json> CallFilesystem(std::string_view method, const protocol::Json& body,
                                      const User& user);
bool IsFilesystemMethod(std::string_view method);

// ListDir's and WatchDir's check of their path (following symlinks): missing is kNotFound,
// not a directory kInvalidArgument.
Result<void> CheckDirectory(const std::string& path);

// The EntryInfo of `rel` under dirfd (AT_FDCWD and an absolute path work), not following a
// final symlink; `path` is the absolute path reported. Owner and group names come from db,
// metadata from user.e2b.* xattrs. Runs with the caller's file-system identity.
Result<protocol::EntryInfo> StatEntryAt(const UserDb& db, int dirfd, const char* rel,
                                        const std::string& path);

}  // namespace sbx::agent
