// REST v1 handlers (docs/api.md): a plain function from Request to Response over the
// SandboxManager. No sockets here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "api/route_table.h"
#include "auth/concurrency_gate.h"
#include "sandbox/manager.h"

namespace sbx::api {

struct ApiOptions {
  std::string version = "0.1.0";
  size_t max_file_bytes = 100 << 20;  // E2B_MAX_FILE_SIZE
  std::string openapi_yaml;           // served at GET /v1/openapi.yaml (docs/openapi.yaml)
  // Per-key caps on creates over TCP (docs/auth.md); nullptr: none. Outlives the Router.
  auth::ConcurrencyGate* create_gate = nullptr;
};

// A group of routes living in its own file (events, metrics, keys, ...), registered with the
// Router at start: Routes() declares them as RouteTable entries (route_table.h), whose handlers
// capture the group (the Router keeps it alive). Thread safety: the handlers are called
// concurrently from every connection thread.
class RouteGroup {
 public:
  virtual ~RouteGroup() = default;
  virtual std::vector<Route> Routes() = 0;
};

// Runs before any route: fills req.tenant / req.key_id from the credentials, or answers (401,
// 429) itself. Requests on the unix socket are the administrator's (tenant "").
using RequestGate = std::function<std::optional<Response>(Request& req)>;
// Runs after the route of a request the gate let through (adds X-RateLimit-* headers).
using ResponseHook = std::function<void(const Request& req, Response& resp)>;

class Router {
 public:
  // Registers the routes of this file and template_routes.cc / file_routes.cc.
  Router(sandbox::SandboxManager* manager, ApiOptions options);
  // Thread safety: may be called concurrently. AddGroup and SetGate only before serving.
  //
  // Runs the gate on a request of which only the header has arrived (the server calls it
  // before reading any byte of the body): fills req.tenant / req.key_id and marks it admitted,
  // or returns the refusal (401, 429) to send instead.
  std::optional<Response> Admit(Request& req);
  // Routes a request that Admit let through (any other is a 500: a request never reaches a
  // route past the gate).
  Response Handle(const Request& req);
  const ApiOptions& options() const { return options_; }
  // Adds the group's routes to the table; refuses one that is already there.
  Result<void> AddGroup(std::unique_ptr<RouteGroup> group);
  const RouteTable& table() const { return table_; }
  void SetGate(RequestGate gate) { gate_ = std::move(gate); }
  void SetResponseHook(ResponseHook hook) { response_hook_ = std::move(hook); }
  // The path split on '/', without empty parts.
  static std::vector<std::string> SplitPath(const std::string& path);

 private:
  std::vector<Route> Routes();
  Response Health();
  Response Templates();
  // template_routes.cc
  Response GetTemplate(const std::string& name);
  Response BuildTemplate(const std::string& name, const Request& req);
  Response RemoveTemplate(const std::string& name);
  Response CreateSandbox(const Request& req);
  Response ListSandboxes(const Request& req);
  Response GetSandbox(const std::string& id, const Request& req);
  // The 404 of a missing id when the sandbox is another tenant's (docs/auth.md); nullopt when
  // the request may see it or it does not exist (the handler then answers as usual).
  std::optional<Response> CheckTenant(const Request& req, const std::string& id);
  Response StopSandbox(const std::string& id, const Request& req);
  Response SetSandboxTimeout(const std::string& id, const Request& req);
  // pause_routes.cc
  Response PauseSandbox(const std::string& id, const Request& req);
  Response ResumeSandbox(const std::string& id, const Request& req);
  Response RemoveSandbox(const std::string& id, const Request& req);
  Response PutFile(const std::string& id, const Request& req);
  Response GetFile(const std::string& id, const Request& req);
  Response Executions(const Request& req);

  sandbox::SandboxManager* manager_;
  ApiOptions options_;
  RouteTable table_;
  std::vector<std::unique_ptr<RouteGroup>> groups_;
  RequestGate gate_;
  ResponseHook response_hook_;
};

}  // namespace sbx::api
