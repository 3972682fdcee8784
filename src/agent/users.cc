// /etc/passwd and /etc/group parsing.
#include "agent/users.h"

#include <charconv>

#include "common/util.h"

namespace sbx::agent {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

bool ParseId(std::string_view s, unsigned* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<UserDb> UserDb::Load(const std::string& passwd_path, const std::string& group_path) {
  ASSIGN_OR_RETURN(std::string passwd, ReadFile(passwd_path));
  auto group = ReadFile(group_path);
  return Parse(passwd, group.ok() ? group.value() : std::string());
}

UserDb UserDb::Parse(std::string_view passwd, std::string_view group) {
  UserDb db;
  for (auto line : Split(passwd, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = Split(line, ':');
    unsigned uid, gid;
    if (f.size() < 7 || f[0].empty() || !ParseId(f[2], &uid) || !ParseId(f[3], &gid)) continue;
    User u;
    u.name = std::string(f[0]);
    u.uid = uid;
    u.gid = gid;
    u.home = f[5].empty() ? "/" : std::string(f[5]);
    u.shell = std::string(f[6]);
    db.users_.push_back(std::move(u));
  }
  for (auto line : Split(group, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = Split(line, ':');
    unsigned gid;
    if (f.size() < 4 || f[0].empty() || !ParseId(f[2], &gid)) continue;
    GroupEntry g{std::string(f[0]), gid, {}};
    for (auto m : Split(f[3], ',')) {
      if (!m.empty()) g.members.emplace_back(m);
    }
    db.groups_.push_back(std::move(g));
  }
  return db;
}

Result<User> UserDb::Lookup(std::string_view name) const {
  for (const auto& u : users_) {
    if (u.name != name) continue;
    User out = u;
    out.groups.push_back(u.gid);
    for (const auto& g : groups_) {
      if (g.gid == u.gid) continue;
      for (const auto& m : g.members) {
        if (m == name) {
          out.groups.push_back(g.gid);
          break;
        }
      }
    }
    return out;
  }
  return MakeError(ErrorCode::kUnauthenticated, "unknown user '" + std::string(name) + "'");
}

std::string UserDb::UserName(uid_t uid) const {
  for (const auto& u : users_) {
    if (u.uid == uid) return u.name;
  }
  return std::to_string(uid);
}

std::string UserDb::GroupName(gid_t gid) const {
  for (const auto& g : groups_) {
    if (g.gid == gid) return g.name;
  }
  return std::to_string(gid);
}

}  // namespace sbx::agent
