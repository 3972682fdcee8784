// SandboxManager::Pause / Resume: every process of a sandbox (its agent included) frozen with
// the cgroup freezer, its memory and files kept, its lifetime clock stopped. Nothing is written
// to disk: a paused sandbox survives a daemon restart (its init is adopted without asking the
// frozen agent anything), not a host reboot.
#include "common/log.h"
#include "common/util.h"
#include "sandbox/live.h"
#include "sandbox/manager.h"
#include "sandbox/pause_clock.h"

namespace sbx::sandbox {
Error PausedError(const std::string& id) {
  return MakeError(ErrorCode::kFailedPrecondition,
                   "sandbox '" + id + "' is paused; resume it (POST /v1/sandboxes/" + id +
                       "/resume, sbx resume) first");
}

Result<SandboxView> SandboxManager::Pause(const std::string& id, const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::string tenant;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    RETURN_IF_ERROR(PauseLocked(*live, request_id));
    tenant = live->rec.tenant;
  }
  if (options_.on_event) options_.on_event("sandbox_paused", id, tenant, {{"source", "sandbox"}});
  std::lock_guard<std::mutex> lock(live->mu);
  return SandboxView{live->rec};
}

Result<void> SandboxManager::PauseLocked(Live& live, const std::string& request_id) {
  store::SandboxRecord& r = live.rec;
  if (r.state == kStatePaused)
    return MakeError(ErrorCode::kAlreadyExists, "sandbox '" + r.id + "' is already paused");
  RETURN_IF_ERROR(CheckRunningLocked(live));
  RETURN_IF_ERROR(cgroups_->Freeze(r.id, kFreezeTimeoutMs));
  store::SandboxRecord updated = r;
  updated.state = kStatePaused;
  updated.paused_at_ms = NowUnixMs();
  if (auto u = store_->UpdateSandbox(updated); !u.ok()) {
    (void)cgroups_->Thaw(r.id);
    return u.error();
  }
  r = updated;
  log::Info("sandbox.paused", {{"sandbox_id", r.id}, {"request_id", request_id},
                               {"expires_at", r.expires_at_ms ? ToRfc3339(r.expires_at_ms) : ""}});
  return Ok();
}

Result<ResumeOutcome> SandboxManager::Resume(const std::string& id, int64_t extend_timeout_s,
                                             const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, Find(id));
  std::string tenant;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    store::SandboxRecord& r = live->rec;
    if (r.state == kStateRunning) return ResumeOutcome{SandboxView{r}, false};
    if (r.state != kStatePaused)
      return MakeError(ErrorCode::kFailedPrecondition,
                       "sandbox '" + id + "' is " + r.state + ", not paused" +
                           (r.reason.empty() ? "" : " (" + r.reason + ")"));
    int64_t now = NowUnixMs();
    // Paused by the supervisor when its lifetime ended: nothing was left of it, so it gets its
    // timeout again unless the caller says otherwise.
    int64_t extend = extend_timeout_s;
    if (extend <= 0 && r.expires_at_ms && r.expires_at_ms <= r.paused_at_ms) extend = r.timeout_s;
    store::SandboxRecord updated = r;
    updated.state = kStateRunning;
    updated.expires_at_ms = ResumedExpiry(r.expires_at_ms, r.paused_at_ms, now, extend);
    updated.paused_at_ms = 0;
    RETURN_IF_ERROR(store_->UpdateSandbox(updated));
    if (auto t = cgroups_->Thaw(id); !t.ok()) {
      (void)store_->UpdateSandbox(r);
      return t.error();
    }
    log::Info("sandbox.resumed",
              {{"sandbox_id", id}, {"request_id", request_id},
               {"paused_ms", now - r.paused_at_ms},
               {"expires_at", updated.expires_at_ms ? ToRfc3339(updated.expires_at_ms) : ""}});
    r = updated;
    tenant = r.tenant;
  }
  if (options_.on_event) options_.on_event("sandbox_resumed", id, tenant, {{"source", "sandbox"}});
  std::lock_guard<std::mutex> lock(live->mu);
  return ResumeOutcome{SandboxView{live->rec}, true};
}

Result<void> SandboxManager::CheckNotPaused(const std::string& sandbox_id) {
  auto live = Find(sandbox_id);
  if (!live.ok()) return Ok();  // gone: the caller's own error says what happened
  std::lock_guard<std::mutex> lock((*live)->mu);
  if ((*live)->rec.state == kStatePaused) return PausedError(sandbox_id);
  return Ok();
}

}  // namespace sbx::sandbox
