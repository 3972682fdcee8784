// EventType: the kinds of state change the daemon reports, named as the guide names them.
//
// The names are the strings stored, streamed and sent (the `type` of an event, the GitHub
// repository_dispatch `event_type`), so a GitHub workflow's
// `on: repository_dispatch: types: [sandbox_created, execution_complete, execution_failed]`
// (the guide's example) matches them as they are. The guide's Python constants map as
// ON_COMPLETION -> on_completion, ON_ERROR -> on_error, and so on; ParseEventType accepts either
// spelling, in any case.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::events {

enum class EventType {
  kSandboxCreated,     // sandbox_created: a lifecycle's sandbox is running
  kExecutionStarted,   // execution_started: one attempt of one script begins
  kExecutionComplete,  // execution_complete: an attempt exited 0
  kExecutionFailed,    // execution_failed: an attempt failed (exit != 0, timeout, oom, ...)
  kOnCompletion,       // on_completion: every script of a lifecycle succeeded
  kOnError,            // on_error: a lifecycle failed (a script used up its retries, ...)
  kOnTimeout,          // on_timeout: a lifecycle ran past its overall timeout
  kOnCleanup,          // on_cleanup: a lifecycle's sandbox was removed
  kOnAlert,            // on_alert: a monitor sample crossed an alert threshold
  kWorkflowStarted,    // workflow_started: a workflow run began (manual, schedule, webhook)
  kWorkflowFinished,   // workflow_finished: a workflow run ended; data.status says how
  kSandboxPaused,      // sandbox_paused: a sandbox was paused (by request, or at its expiry)
  kSandboxResumed,     // sandbox_resumed: a paused sandbox runs again
};

inline constexpr std::array<EventType, 13> kAllEventTypes = {
    EventType::kSandboxCreated,  EventType::kExecutionStarted, EventType::kExecutionComplete,
    EventType::kExecutionFailed, EventType::kOnCompletion,     EventType::kOnError,
    EventType::kOnTimeout,       EventType::kOnCleanup,        EventType::kOnAlert,
    EventType::kWorkflowStarted, EventType::kWorkflowFinished, EventType::kSandboxPaused,
    EventType::kSandboxResumed};

const char* EventTypeName(EventType t);
// "execution_complete", "EXECUTION_COMPLETE", "ON_COMPLETION"; kInvalidArgument otherwise.
Result<EventType> ParseEventType(std::string_view name);

// The one-word status a receiver sees in `status` (GitHub client_payload.status, generic
// payloads): created, running, completed, failed, succeeded, error, timeout, cleaned_up,
// alert, started, finished, paused, resumed.
const char* EventStatus(EventType t);

}  // namespace sbx::events
