// User path resolution.
#include "agent/paths.h"

#include <vector>

namespace sbx::agent {
namespace {

std::string Tidy(std::string_view p) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i, j - i);
    if (!c.empty() && c != ".") parts.push_back(c);
    i = j + 1;
  }
  std::string out;
  for (auto c : parts) {
    out.push_back('/');
    out.append(c);
  }
  return out.empty() ? "/" : out;
}

}  // namespace

std::string ResolveUserPath(const User& user, std::string_view path) {
  if (path == "~") return Tidy(user.home);
  if (path.substr(0, 2) == "~/") return Tidy(user.home + "/" + std::string(path.substr(2)));
  if (!path.empty() && path[0] == '/') return Tidy(path);
  return Tidy(user.home + "/" + std::string(path));
}

std::string BaseName(std::string_view path) {
  size_t at = path.rfind('/');
  return std::string(at == std::string_view::npos ? path : path.substr(at + 1));
}

std::string DirName(std::string_view path) {
  size_t at = path.rfind('/');
  if (at == std::string_view::npos) return ".";
  if (at == 0) return "/";
  return std::string(path.substr(0, at));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

}  // namespace sbx::agent
