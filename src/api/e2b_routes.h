// E2B's control plane (docs/e2b.md, "The control plane"): the REST routes E2B's SDKs call to
// create, list, inspect, extend, connect to and kill sandboxes, on the same Router as the v1
// API (TCP and the unix socket). The mapping to and from E2B's JSON is e2b_json.h; this file
// calls the SandboxManager. GET /sandboxes/{id}/metrics is MetricsRoutes' (metrics_routes.h).
//
// Thread safety: the handlers may be called concurrently from every connection thread.
#pragma once

#include <memory>
#include <string>

#include "api/routes.h"
#include "auth/concurrency_gate.h"
#include "auth/sandbox_tokens.h"
#include "sandbox/manager.h"

namespace sbx::api {

struct E2bOptions {
  std::string domain;                            // --e2b-domain; "" -> `domain: null`
  auth::ConcurrencyGate* create_gate = nullptr;  // per-key create caps, as v1's
};

std::unique_ptr<RouteGroup> MakeE2bRoutes(sandbox::SandboxManager* manager,
                                          auth::SandboxTokens tokens, E2bOptions options);

}  // namespace sbx::api
