// Users and groups from /etc/passwd and /etc/group, parsed directly: the agent is static and
// must not use NSS (getpwnam). A UserDb is a snapshot; load one per request so edits to the
// files inside the sandbox are seen.
//
// Thread safety: a UserDb is immutable after Load/Parse and may be shared.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sbx::agent {

struct User {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
  std::vector<gid_t> groups;  // supplementary groups, including the primary gid
};

class UserDb {
 public:
  static Result<UserDb> Load(const std::string& passwd_path = "/etc/passwd",
                             const std::string& group_path = "/etc/group");
  static UserDb Parse(std::string_view passwd, std::string_view group);

  // kUnauthenticated for an unknown name.
  Result<User> Lookup(std::string_view name) const;
  // The name, or the decimal id when unknown.
  std::string UserName(uid_t uid) const;
  std::string GroupName(gid_t gid) const;

 private:
  struct GroupEntry {
    std::string name;
    gid_t gid;
    std::vector<std::string> members;
  };
  std::vector<User> users_;
  std::vector<GroupEntry> groups_;
};

}  // namespace sbx::agent
