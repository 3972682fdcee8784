// EventType names and parsing (see event_type.h).
#include "events/event_type.h"

#include <cctype>

namespace sbx::events {

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kSandboxCreated:
      return "sandbox_created";
    case EventType::kExecutionStarted:
      return "execution_started";
    case EventType::kExecutionComplete:
      return "execution_complete";
    case EventType::kExecutionFailed:
      return "execution_failed";
    case EventType::kOnCompletion:
      return "on_completion";
    case EventType::kOnError:
      return "on_error";
    case EventType::kOnTimeout:
      return "on_timeout";
    case EventType::kOnCleanup:
      return "on_cleanup";
    case EventType::kOnAlert:
      return "on_alert";
    case EventType::kWorkflowStarted:
      return "workflow_started";
    case EventType::kWorkflowFinished:
      return "workflow_finished";
    case EventType::kSandboxPaused:
      return "sandbox_paused";
    case EventType::kSandboxResumed:
      return "sandbox_resumed";
  }
  return "unknown";
}

Result<EventType> ParseEventType(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (EventType t : kAllEventTypes)
    if (lower == EventTypeName(t)) return t;
  return MakeError(ErrorCode::kInvalidArgument,
                   "unknown event type '" + std::string(name) +
                       "' (sandbox_created, execution_started, execution_complete, "
                       "execution_failed, on_completion, on_error, on_timeout, on_cleanup, "
                       "on_alert, workflow_started, workflow_finished, sandbox_paused, sandbox_resumed)");
}

const char* EventStatus(EventType t) {
  switch (t) {
    case EventType::kSandboxCreated:
      return "created";
    case EventType::kExecutionStarted:
      return "running";
    case EventType::kExecutionComplete:
      return "completed";
    case EventType::kExecutionFailed:
      return "failed";
    case EventType::kOnCompletion:
      return "succeeded";
    case EventType::kOnError:
      return "error";
    case EventType::kOnTimeout:
      return "timeout";
    case EventType::kOnCleanup:
      return "cleaned_up";
    case EventType::kOnAlert:
      return "alert";
    case EventType::kWorkflowStarted:
      return "started";
    case EventType::kWorkflowFinished:
      return "finished";
    case EventType::kSandboxPaused:
      return "paused";
    case EventType::kSandboxResumed:
      return "resumed";
  }
  return "unknown";
}

}  // namespace sbx::events
