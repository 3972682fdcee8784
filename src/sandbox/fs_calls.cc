// SandboxManager::FilesystemCall: the agent's filesystem RPCs for the batch file routes, with
// the same running-sandbox checks as WriteFile and ReadFile. Only read-only and creating
// methods are let through: removing and moving files is not part of the daemon's API.
#include "sandbox/live.h"
#include "sandbox/manager.h"

namespace sbx::sandbox {

Result<nlohmann::json> SandboxManager::FilesystemCall(const std::string& id,
                                                      const std::string& method,
                                                      const nlohmann::json& body,
                                                      const std::string& user) {
  if (method != "Stat" && method != "ListDir" && method != "MakeDir")
    return MakeError(ErrorCode::kInvalidArgument,
                     "filesystem method '" + method + "' is not allowed");
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
  }
  if (!agent)
    return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  return agent->CallUnary("filesystem.Filesystem/" + method, body, user);
}

}  // namespace sbx::sandbox
