// Exec and executions over HTTP (docs/api.md, "Exec" and "Streaming and background
// executions"):
//
//   POST /v1/sandboxes/{id}/exec          run code: the JSON result when it ends (default);
//                                         NDJSON events as output arrives ("stream": true or
//                                         Accept: application/x-ndjson); server-sent events
//                                         (Accept: text/event-stream); 202 with the execution
//                                         id at once ("background": true)
//   GET  /v1/executions/{eid}             the execution: running (output so far) or finished
//   GET  /v1/executions/{eid}/wait        the result once it ends (?timeout=S, else 408)
//   GET  /v1/executions/{eid}/stream      its events from the start, then live until the end
//   POST /v1/executions/{eid}/input       {"data": "...", "eof": bool} to its stdin
//   POST /v1/executions/{eid}/kill        {"signal": "SIGKILL" | "SIGTERM"}
//
// GET /v1/executions (the history list) stays with the Router (routes.cc).
//
// Tenancy: a key sees its tenant's executions only; another tenant's id answers 404 as if it
// did not exist. A client that goes away from a stream does not stop the execution: it runs to
// its end and is recorded, and can be streamed again.
//
// Thread safety: the handlers are called concurrently; the manager is thread-safe and outlives it.
#pragma once

#include <memory>

#include "api/routes.h"
#include "sandbox/manager.h"

namespace sbx::api {

struct ExecRouteOptions {
  // A stream with nothing to say sends a keep-alive this often ({"type": "keepalive"} in NDJSON,
  // a comment in SSE), so idle-timeouts of proxies hold and a gone client is noticed.
  int heartbeat_ms = 15000;
  // POST .../kill waits this long for the end, to answer with the result.
  int kill_wait_ms = 5000;
};

// An execution as the API shows it (GET /v1/executions and /v1/executions/{eid}): the guide's
// history fields (timestamp, command, status, exit_code, execution_time, ...) and more.
nlohmann::json ExecutionRecordJson(const store::ExecutionRecord& r, bool done);

std::unique_ptr<RouteGroup> MakeExecRoutes(sandbox::SandboxManager* manager,
                                           ExecRouteOptions options = {});

}  // namespace sbx::api
