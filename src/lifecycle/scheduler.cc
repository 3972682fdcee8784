// The schedule policy and the scheduler thread of WorkflowService (see scheduler.h,
// workflow.h).
#include "lifecycle/scheduler.h"

#include "common/log.h"
#include "common/util.h"
#include "lifecycle/workflow.h"

namespace sbx::lifecycle {

SchedulePlan PlanSchedule(const CronExpr& cron, int64_t cursor_ms, int64_t now_ms) {
  SchedulePlan p;
  // Fire times are whole minutes: t is due when cursor < t*1000 <= now.
  int64_t t = cursor_ms / 1000;  // Next is strict: a fire time at exactly t was handled
  while (p.due < kMaxCounted) {
    auto next = cron.Next(t);
    if (!next || *next * 1000 > now_ms) break;
    if (*next * 1000 > cursor_ms) {
      ++p.due;
      p.last_fire_s = *next;
    }
    t = *next;
  }
  p.missed = p.due > 0 ? p.due - 1 : 0;
  return p;
}

std::vector<std::string> WorkflowService::TickSchedules(int64_t now_ms) {
  std::vector<std::string> started;
  auto all = repo_.List("");
  if (!all.ok()) {
    log::Error("scheduler_list_failed", {{"error", all.error().ToString()}});
    return started;
  }
  for (const auto& rec : *all) {
    if (!rec.enabled) continue;
    auto wf = Decode(rec);
    if (!wf.ok() || wf->trigger.type != "schedule") continue;
    auto cron = CronExpr::Parse(wf->trigger.cron);
    if (!cron.ok()) continue;
    SchedulePlan plan = PlanSchedule(*cron, rec.schedule_cursor_ms, now_ms);
    if (plan.due == 0) continue;
    // The cursor moves before the run starts: a crash in between loses that run rather than
    // starting it twice.
    auto c = repo_.SetScheduleCursor(rec.id, now_ms);
    if (!c.ok()) {
      log::Error("scheduler_cursor_failed",
                 {{"workflow", rec.name}, {"error", c.error().ToString()}});
      continue;
    }
    if (plan.missed > 0)
      log::Warn("workflow_missed_runs", {{"workflow", rec.name},
                                         {"missed", plan.missed},
                                         {"since", ToRfc3339(rec.schedule_cursor_ms)},
                                         {"policy", "one catch-up run, the others skipped"}});
    if (runner_->WorkflowRunning(rec.id)) {
      log::Warn("workflow_run_skipped", {{"workflow", rec.name},
                                         {"reason", "the previous run is still going"},
                                         {"scheduled_for", ToRfc3339(plan.last_fire_s * 1000)}});
      continue;
    }
    nlohmann::json trigger = {{"type", "schedule"},
                              {"cron", wf->trigger.cron},
                              {"scheduled_for", ToRfc3339(plan.last_fire_s * 1000)}};
    if (plan.missed > 0) {
      trigger["catch_up"] = true;
      trigger["missed_runs"] = plan.missed;
    }
    auto run = StartRun(*wf, trigger);
    if (!run.ok()) {
      log::Error("workflow_run_failed",
                 {{"workflow", rec.name}, {"error", run.error().ToString()}});
      continue;
    }
    log::Info("workflow_scheduled_run", {{"workflow", rec.name}, {"run_id", run->id}});
    started.push_back(run->id);
  }
  return started;
}

Result<void> WorkflowService::StartScheduler() {
  std::lock_guard<std::mutex> lock(mu_);
  if (scheduler_.joinable()) return Ok();
  stopping_ = false;
  scheduler_ = std::thread([this] {
    while (true) {
      TickSchedules(NowUnixMs());
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(options_.scheduler_tick_ms),
                       [&] { return stopping_; }))
        return;
    }
  });
  return Ok();
}

void WorkflowService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
}

}  // namespace sbx::lifecycle
