// AgentConfig: the agent's command line (--listen-fd, --cgroup-fd, --default-user, --env K=V,
// --log-level) and the sandbox-wide environment every process starts with.
//
// Thread safety: immutable after ParseFlags; shared read-only by all threads.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sbx::agent {

struct AgentConfig {
  int listen_fd = 3;
  // Delegated cgroup directories for the executions' cgroups (exec_cgroup.h); may be empty.
  std::vector<int> cgroup_fds;
  std::string default_user = "user";
  // Sandbox env in order: the agent's inherited environment (minus per-user variables such
  // as HOME and USER), then --env flags. Later entries win.
  std::vector<std::pair<std::string, std::string>> sandbox_env;
  std::string log_level = "info";
};

// Parses argv (argv[0] skipped) and the inherited environment; unknown flags are errors.
Result<AgentConfig> ParseFlags(int argc, char** argv, char** environ_vars);
std::string Usage();

}  // namespace sbx::agent
