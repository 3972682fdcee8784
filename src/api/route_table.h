// The HTTP API's routes, declared once: method, path pattern, handler, metrics label, who may
// call it and which API documents it. The Router dispatches through it, the auth gate asks it
// which routes are keyless, the daemon labels HTTP metrics with it, and a unit test holds the
// v1 routes against docs/openapi.yaml (docs/architecture.md, "Routing").
//
// A pattern is a path of segments; a segment "{name}" matches any one non-empty segment and
// hands it to the handler as params["name"]. When several patterns match a path, the one with
// a literal segment at the first place where they differ wins ("/v1/webhooks/stats" before
// "/v1/webhooks/{id}"). A path that matches a pattern but none of its methods answers
// MethodNotAllowed (400), a path that matches none the 404 "no such endpoint".
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/http.h"
#include "common/result.h"

namespace sbx::api {

// The values of a route's "{name}" segments.
class PathParams {
 public:
  void Set(std::string name, std::string value) { v_.emplace_back(std::move(name), std::move(value)); }
  // The segment named `name`; "" when the pattern has none.
  const std::string& operator[](std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> v_;
};

// Who may call a route.
enum class Access {
  kAnyKey,   // any API key over TCP (the gate authenticates it), and the unix socket
  kAdmin,    // the unix socket only; over TCP 403 permission_denied with the route's refusal
  kKeyless,  // no key: the route checks its own credentials (incoming hooks) or has none (health)
};

// Which API a route belongs to, i.e. which document describes it.
enum class Api {
  kV1,   // sandboxd's own (docs/openapi.yaml)
  kE2b,  // E2B's control plane (docs/e2b.md)
};

using RouteHandler = std::function<Response(const Request& req, const PathParams& params)>;

struct Route {
  std::string method;   // "GET", "POST", ...
  std::string pattern;  // "/v1/sandboxes/{id}/files"
  RouteHandler handler;
  Access access = Access::kAnyKey;
  Api api = Api::kV1;
  std::string label;  // metrics label; "" means the pattern
  // kAdmin only: the message of the 403 over TCP; "{method}" and "{path}" are replaced by the
  // request's. "" means "{method} {path} is only available to the administrator".
  std::string refusal;
};

// Thread safety: Add only before serving; every const member may be called concurrently.
class RouteTable {
 public:
  // Refuses a malformed pattern and a method + pattern that is already in the table.
  Result<void> Add(Route route);
  Result<void> AddAll(std::vector<Route> routes);

  // Calls the route of the request, or answers 403 (kAdmin over TCP), 400 (method not
  // allowed) or 404 (no route). Access kKeyless / kAnyKey are the gate's business (it runs
  // before, see Router::Admit).
  Response Dispatch(const Request& req) const;

  // The route `method` + `path` reaches, nullptr if none; fills *params when given.
  const Route* Find(std::string_view method, std::string_view path, PathParams* params = nullptr) const;
  // Whether `method` + `path` reaches a kKeyless route (the gate lets it through without a key).
  bool Keyless(std::string_view method, std::string_view path) const;
  // The metrics label of a request to `path` (a query is ignored): the label of the pattern it
  // matches (whatever the method), "unmatched" if none.
  std::string Label(std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  // The index in routes_ of the first route of the most specific pattern matching `parts`,
  // -1 if none.
  int MatchPattern(const std::vector<std::string_view>& parts) const;

  std::vector<Route> routes_;
  std::vector<std::vector<std::string>> segments_;  // routes_[i].pattern split on '/'
};

// The non-empty segments of a path split on '/' (views into `path`).
std::vector<std::string_view> PathSegments(std::string_view path);

// The 403 of a kAdmin route over TCP (logged as auth.admin_only).
Response AdminRefusal(const Request& req, const Route& route);

}  // namespace sbx::api
