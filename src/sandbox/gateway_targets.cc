// What the E2B gateway (src/api/gateway.h) reads of a sandbox: its state, tenant, creation time
// (the key of its derived access tokens) and its agent's socket.
#include <mutex>

#include "sandbox/live.h"
#include "sandbox/manager.h"

namespace sbx::sandbox {

std::optional<SandboxManager::GatewayTarget> SandboxManager::FindGatewayTarget(
    const std::string& id) {
  auto live = Find(id);
  if (!live.ok()) return std::nullopt;
  std::lock_guard<std::mutex> lock((*live)->mu);
  const store::SandboxRecord& r = (*live)->rec;
  return GatewayTarget{r.id,          r.state,         r.tenant,
                       r.created_at_ms, SocketPath(r.id_slot), r.public_traffic,
                       r.auto_resume};
}

std::vector<SandboxManager::GatewayTarget> SandboxManager::RunningGatewayTargets() {
  std::vector<std::shared_ptr<Live>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.reserve(sandboxes_.size());
    for (const auto& [id, live] : sandboxes_) all.push_back(live);
  }
  std::vector<GatewayTarget> out;
  for (const auto& live : all) {
    std::unique_lock<std::mutex> g(live->mu, std::try_to_lock);
    if (!g.owns_lock() || live->rec.state != kStateRunning) continue;
    const store::SandboxRecord& r = live->rec;
    out.push_back({r.id, r.state, r.tenant, r.created_at_ms, SocketPath(r.id_slot),
                   r.public_traffic, r.auto_resume});
  }
  return out;
}

}  // namespace sbx::sandbox
