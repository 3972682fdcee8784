// AuthGate: the api side of src/auth (docs/auth.md, "HTTP behaviour"). Installed with
// Router::SetGate, it runs before every route of every request:
//
//   unix socket (req.admin)       -> the administrator: tenant "", no key, no rate limit
//   TCP GET /health               -> open (no key), for load balancers and scripts
//   TCP POST /v1/hooks/...        -> no key: incoming webhooks carry their own signatures or
//                                    tokens (src/events); the request has no tenant
//   any other TCP request         -> ExtractApiKey + KeyManager::Authenticate (401 with
//                                    WWW-Authenticate), then RateLimiter::Check (429 with
//                                    Retry-After and X-RateLimit-*), then req.tenant/key_id
//
// Allowed, rate-limited responses get the three X-RateLimit-* headers through the router's
// response hook (AddRateLimitHeaders). Bodies are the API's error body, or E2B's
// {"code": 401, "message": ...} on paths outside /v1 and /health (the E2B control plane).
//
// The rate limits follow templates.json `security.rateLimit` as it is now: after a reload
// (SIGHUP) that changes them, counting starts afresh under the new limits.
//
// Thread safety: Check and AddRateLimitHeaders may be called from any thread. The decision of
// a request is handed from Check to AddRateLimitHeaders in a thread-local, which is right
// because the Router runs the gate, the handler and the hook on the connection's thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "api/http.h"
#include "api/routes.h"
#include "auth/concurrency_gate.h"
#include "auth/keys.h"
#include "auth/principal.h"
#include "auth/rate_limiter.h"
#include "spec/spec.h"

namespace sbx::api {

class AuthGate {
 public:
  using RateConfig = std::function<spec::RateLimit()>;  // the limits in force
  using Clock = std::function<int64_t()>;               // unix ms; nullptr: wall clock

  AuthGate(auth::KeyManager* keys, RateConfig rate_config, Clock clock = nullptr);

  // The RequestGate: nullopt lets the request through (with req.tenant / req.key_id set).
  std::optional<Response> Check(Request& req);
  // The router's response hook: adds the X-RateLimit-* headers of this request, if any.
  void AddRateLimitHeaders(const Request& req, Response& resp);

  // The principal of an API key value, without rate limiting: the E2B gateway's check of an
  // X-API-Key on envd and port traffic (api/gateway.h). An Error when the key is not valid.
  Result<auth::Principal> AuthenticateKey(const std::string& key);

  // Installs Check and AddRateLimitHeaders on the router. The gate must outlive it.
  void Install(Router& router);

 private:
  std::shared_ptr<auth::RateLimiter> Limiter(spec::RateLimit* config);

  auth::KeyManager* keys_;
  RateConfig rate_config_;
  Clock clock_;
  std::mutex mu_;  // guards limiter_, limiter_config_
  std::shared_ptr<auth::RateLimiter> limiter_;
  spec::RateLimit limiter_config_;
  const RouteTable* routes_ = nullptr;  // the router's (Install); keyless routes skip the key
};

// Who the request is, as src/auth sees it: the administrator on the unix socket, else the
// tenant and key the gate found (a request without a key, such as a webhook, sees nothing).
auth::Principal PrincipalOf(const Request& req);

// The 404 a missing sandbox id gets; also the answer for another tenant's sandbox.
Response SandboxNotFound(const std::string& id);

// Admission of a create for a TCP request (docs/auth.md, "Concurrency caps"): takes a create
// slot of the request's key and checks the tenant's running sandboxes (`running_now`, counted
// lazily by the caller's function). The token returned holds the slot until destroyed. The
// administrator, and a null gate, pass with no token. Refusals are 429 (Retry-After: 1 for the
// creates-in-flight cap).
struct CreateAdmission {
  std::optional<auth::ConcurrencyGate::CreateToken> token;
  std::optional<Response> refused;
};
CreateAdmission AdmitCreate(auth::ConcurrencyGate* gate, const Request& req,
                            const std::function<int64_t()>& running_now);
// AdmitCreate with `running_now` counted from the manager: the request's tenant's sandboxes in
// state running. Every route that creates a sandbox for a key (sandboxes, lifecycles) uses it.
CreateAdmission AdmitCreate(auth::ConcurrencyGate* gate, const Request& req,
                            sandbox::SandboxManager& manager);

}  // namespace sbx::api
