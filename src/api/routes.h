// REST v1 handlers (docs/api.md): a plain function from Request to Response over the
// SandboxManager. No sockets here.
#pragma once

#include <string>

#include "api/http.h"
#include "sandbox/manager.h"

namespace sbx::api {

struct ApiOptions {
  std::string version = "0.1.0";
  size_t max_file_bytes = 100 << 20;  // E2B_MAX_FILE_SIZE
};

class Router {
 public:
  Router(sandbox::SandboxManager* manager, ApiOptions options)
      : manager_(manager), options_(options) {}
  // Thread safety: may be called concurrently.
  Response Handle(const Request& request);
  const ApiOptions& options() const { return options_; }

 private:
  Response Health();
  Response Templates();
  Response CreateSandbox(const Request& req);
  Response ListSandboxes(const Request& req);
  Response GetSandbox(const std::string& id);
  Response ExecIn(const std::string& id, const Request& req);
  Response StopSandbox(const std::string& id, const Request& req);
  Response RemoveSandbox(const std::string& id, const Request& req);
  Response PutFile(const std::string& id, const Request& req);
  Response GetFile(const std::string& id, const Request& req);
  Response Executions(const Request& req);

  sandbox::SandboxManager* manager_;
  ApiOptions options_;
};

}  // namespace sbx::api
