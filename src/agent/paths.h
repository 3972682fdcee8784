// Resolves request paths for a user the way envd does: "~" and "~/x" expand to the home,
// relative paths are taken against the home, absolute paths stay. Only redundant "/" and "."
// components are removed; ".." is left for the kernel to resolve (no string checks).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "agent/users.h"

namespace sbx::agent {

std::string ResolveUserPath(const User& user, std::string_view path);
// The last component ("" for "/").
std::string BaseName(std::string_view path);
// Everything before the last component ("/" for "/x").
std::string DirName(std::string_view path);
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace sbx::agent
