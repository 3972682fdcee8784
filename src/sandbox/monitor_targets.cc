// What the resource monitor (src/monitor) samples: the running sandboxes and the count of
// sandboxes by state. Read from the in-memory map only, with try_lock per sandbox, so a
// sampling round or a /metrics scrape never waits behind a create, stop or remove.
#include <nlohmann/json.hpp>

#include "sandbox/live.h"
#include "sandbox/manager.h"

namespace sbx::sandbox {

std::vector<SandboxManager::MonitorTarget> SandboxManager::MonitorTargets() {
  std::vector<std::shared_ptr<Live>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.reserve(sandboxes_.size());
    for (const auto& [id, live] : sandboxes_) all.push_back(live);
  }
  std::vector<MonitorTarget> out;
  out.reserve(all.size());
  for (const auto& live : all) {
    MonitorTarget t;
    std::string limits;
    {
      std::unique_lock<std::mutex> g(live->mu, std::try_to_lock);
      if (!g.owns_lock() || live->rec.state != kStateRunning) continue;
      t.id = live->rec.id;
      t.tenant = live->rec.tenant;
      t.started_at_ms = live->rec.created_at_ms;
      limits = live->rec.limits_json;
    }
    // A sandbox with a disk of its own: statvfs of it, exact and cheap, instead of a walk.
    if (auto d = runtime::SandboxDiskStats(SandboxDir(t.id)); d.ok())
      t.disk = *d;
    else
      t.upper_dir = SandboxDir(t.id) + "/upper";
    auto j = nlohmann::json::parse(limits, nullptr, false);
    if (j.is_object()) {
      if (auto c = j.find("cpus"); c != j.end() && c->is_number()) t.cpus = c->get<double>();
      if (auto m = j.find("memory_bytes"); m != j.end() && m->is_number_integer())
        t.memory_limit_bytes = m->get<int64_t>();
    }
    if (auto st = cgroups_->Stats(t.id); st.ok()) t.stats = *st;
    out.push_back(std::move(t));
  }
  return out;
}

std::map<std::string, int64_t> SandboxManager::StateCounts() {
  std::vector<std::shared_ptr<Live>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, live] : sandboxes_) all.push_back(live);
  }
  std::map<std::string, int64_t> counts;
  for (const auto& live : all) {
    std::unique_lock<std::mutex> g(live->mu, std::try_to_lock);
    // A busy sandbox is being created, stopped or removed; creates hold the lock throughout.
    if (!g.owns_lock()) {
      ++counts[kStateCreating];
      continue;
    }
    if (live->rec.state == "removed") continue;
    ++counts[live->rec.state];
  }
  return counts;
}

}  // namespace sbx::sandbox
