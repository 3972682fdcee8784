// Route groups of events, webhooks, lifecycles, workflows and incoming hooks (docs/api.md,
// docs/events.md). Thin: parse the request, scope it by tenant, call the component, answer.
//
//   EventRoutes     GET /v1/events, GET /v1/events/stream (server-sent events, Last-Event-ID)
//   WebhookRoutes   /v1/webhooks[/{id}[/deliveries[/{n}/redeliver]]], GET /v1/webhooks/stats
//   LifecycleRoutes /v1/lifecycles[/{run_id}], /v1/workflows[/{name}[/run|/runs]],
//                   POST /v1/hooks/github, POST /v1/hooks/token[/{token}]
//
// Tenancy: Request.tenant "" is the administrator (sees every tenant's); otherwise lists show
// only the tenant's and another tenant's object answers 404 as if it did not exist.
//
// Thread safety: the handlers are called concurrently from connection threads; the components are
// thread-safe and outlive the groups. `stopping` ends open event streams at shutdown (set it,
// then EventBus::WakeWaiters()).
#pragma once

#include <atomic>
#include <memory>

#include "api/routes.h"
#include "events/deliverer.h"
#include "events/event_bus.h"
#include "lifecycle/runner.h"
#include "lifecycle/workflow.h"
#include "store/store.h"

namespace sbx::api {

struct EventServices {
  store::Store* store = nullptr;
  events::EventBus* bus = nullptr;
  events::Deliverer* deliverer = nullptr;
  lifecycle::LifecycleRunner* runner = nullptr;
  lifecycle::WorkflowService* workflows = nullptr;
  const std::atomic<bool>* stopping = nullptr;
  int heartbeat_ms = 5000;  // SSE comment lines, so a gone client is noticed
  // Admission of a lifecycle's create against the key's caps (docs/auth.md); null: none.
  auth::ConcurrencyGate* create_gate = nullptr;
  sandbox::SandboxManager* manager = nullptr;  // counts the tenant's running sandboxes
};

std::unique_ptr<RouteGroup> MakeEventRoutes(const EventServices& s);
std::unique_ptr<RouteGroup> MakeWebhookRoutes(const EventServices& s);
std::unique_ptr<RouteGroup> MakeLifecycleRoutes(const EventServices& s);

}  // namespace sbx::api
