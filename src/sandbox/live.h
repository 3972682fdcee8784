// The in-memory half of one sandbox, shared by manager.cc and exec.cc. Internal to the
// sandbox component.
#pragma once

#include <memory>
#include <mutex>

#include "agentclient/agent_client.h"
#include "runtime/runtime.h"
#include "sandbox/manager.h"
#include "store/store.h"
#include "templates/store.h"

namespace sbx::sandbox {

struct SandboxManager::Live {
  std::mutex mu;  // serialises state transitions; guards everything below
  store::SandboxRecord rec;
  std::unique_ptr<runtime::Container> container;
  std::shared_ptr<agentclient::AgentClient> agent;  // copied out by exec/file calls
  spec::Env env;                                   // template environment + sandbox env
  templates::Lease lower;  // the template version below the sandbox (empty for the host base)
};

inline constexpr const char* kStateCreating = "creating";
inline constexpr const char* kStateRunning = "running";
inline constexpr const char* kStatePaused = "paused";
inline constexpr const char* kStateStopped = "stopped";
inline constexpr const char* kStateError = "error";

// How long the kernel gets to freeze every task of a sandbox (pause, adoption after a restart).
inline constexpr int kFreezeTimeoutMs = 2000;

// kFailedPrecondition "sandbox 'X' is paused; resume it ...": what every call that needs the
// (frozen) agent answers at once instead of waiting on it (pause.cc).
Error PausedError(const std::string& id);

}  // namespace sbx::sandbox
