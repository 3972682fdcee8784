// Command-line parsing for sbx-agent.
#include "agent/config.h"

#include <charconv>
#include <set>
#include <string_view>

namespace sbx::agent {
namespace {

Result<std::pair<std::string, std::string>> SplitEnv(std::string_view kv) {
  size_t eq = kv.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "--env wants K=V, got '" + std::string(kv) +
                                                      "'");
  }
  return std::make_pair(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
}

}  // namespace

std::string Usage() {
  return "usage: sbx-agent [--listen-fd N] [--cgroup-fd N]... [--default-user NAME] [--env K=V]... "
         "[--log-level debug|info|warn|error]\n";
}

Result<AgentConfig> ParseFlags(int argc, char** argv, char** environ_vars) {
  AgentConfig cfg;
  static const std::set<std::string> kPerUser = {"HOME", "USER", "LOGNAME", "PWD",
                                                 "OLDPWD", "SHLVL", "_"};
  for (char** e = environ_vars; e != nullptr && *e != nullptr; ++e) {
    auto kv = SplitEnv(*e);
    if (kv.ok() && kPerUser.count(kv->first) == 0) cfg.sandbox_env.push_back(*kv);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    size_t eq = arg.find('=');
    std::string_view name = arg;
    if (arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto need_value = [&]() -> Result<std::string_view> {
      if (has_value) return value;
      if (i + 1 >= argc) {
        return MakeError(ErrorCode::kInvalidArgument, std::string(name) + " needs a value");
      }
      return std::string_view(argv[++i]);
    };
    auto parse_fd = [&](std::string_view v) -> Result<int> {
      int fd = -1;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), fd);
      if (ec != std::errc() || p != v.data() + v.size() || fd < 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "bad " + std::string(name) + " '" + std::string(v) + "'");
      }
      return fd;
    };
    if (name == "--listen-fd") {
      ASSIGN_OR_RETURN(auto v, need_value());
      ASSIGN_OR_RETURN(cfg.listen_fd, parse_fd(v));
    } else if (name == "--cgroup-fd") {
      ASSIGN_OR_RETURN(auto v, need_value());
      ASSIGN_OR_RETURN(int fd, parse_fd(v));
      cfg.cgroup_fds.push_back(fd);
    } else if (name == "--default-user") {
      ASSIGN_OR_RETURN(auto v, need_value());
      if (v.empty()) return MakeError(ErrorCode::kInvalidArgument, "empty --default-user");
      cfg.default_user = std::string(v);
    } else if (name == "--env") {
      ASSIGN_OR_RETURN(auto v, need_value());
      ASSIGN_OR_RETURN(auto kv, SplitEnv(v));
      cfg.sandbox_env.push_back(std::move(kv));
    } else if (name == "--log-level") {
      ASSIGN_OR_RETURN(auto v, need_value());
      cfg.log_level = std::string(v);
    } else {
      return MakeError(ErrorCode::kInvalidArgument, "unknown flag '" + std::string(arg) + "'");
    }
  }
  return cfg;
}

}  // namespace sbx::agent
