// The schedule policy, pure (STYLE practice 14): given a workflow's cron expression, the time up
// to which its schedule was handled (the cursor, stored with the workflow) and now, how many
// fire times fell in between.
//
// Policy for runs missed while the daemon was down: when one or more fire times are due, ONE
// run starts (the catch-up) and the others are reported as missed (`missed` = due - 1: logged
// as workflow_missed_runs and put in the run's trigger as "missed_runs"); the cursor moves to
// now. A fire time that comes while the previous run of the workflow is still going is skipped
// (logged), never queued.
#pragma once

#include <cstdint>

#include "lifecycle/cron.h"

namespace sbx::lifecycle {

struct SchedulePlan {
  int64_t due = 0;          // fire times in (cursor, now], counted up to kMaxCounted
  int64_t missed = 0;       // due - 1 when due > 0
  int64_t last_fire_s = 0;  // the latest fire time in that interval (unix s), 0 if none
};

inline constexpr int64_t kMaxCounted = 100000;

SchedulePlan PlanSchedule(const CronExpr& cron, int64_t cursor_ms, int64_t now_ms);

}  // namespace sbx::lifecycle
