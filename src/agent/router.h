// Router: maps an agent request to its handler and resolves the requesting user (Basic-auth
// username for RPCs, `username` query for /files, else the default user; unknown users get
// unauthenticated / 401). Catches anything a handler throws so a bad request can never take
// the agent down.
//
// Thread safety: Route may be called concurrently from connection threads.
#pragma once

#include "agent/config.h"
#include "agent/http_types.h"
#include "agent/process_service.h"
#include "agent/process_table.h"
#include "agent/watch_service.h"

namespace sbx::agent {

class Router {
 public:
  Router(const AgentConfig& config, ProcessTable& table)
      : config_(config), processes_(config, table) {}
  void Route(const HttpRequest& req, BodyReader& body, ResponseWriter& w);

 private:
  void RouteInner(const HttpRequest& req, BodyReader& body, ResponseWriter& w);
  Result<User> ResolveUser(const std::string& explicit_name) const;

  const AgentConfig& config_;
  ProcessService processes_;
  WatcherRegistry watchers_;
};

// The username of an "Authorization: Basic base64(user:pass)" header ("" when absent).
Result<std::string> BasicAuthUser(std::string_view authorization);

}  // namespace sbx::agent
