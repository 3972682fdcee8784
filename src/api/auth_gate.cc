// AuthGate: API keys, tenants and rate limits on the HTTP API (see auth_gate.h).
#include "api/auth_gate.h"

#include <utility>
#include <vector>

#include "api/e2b_json.h"
#include "auth/credentials.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

// The rate-limit headers of the request being handled on this thread (see auth_gate.h).
thread_local std::vector<std::pair<std::string, std::string>> t_rate_headers;


Response Refusal(int status, const std::string& code, const std::string& message, bool e2b) {
  if (e2b) return JsonResponse(status, {{"code", status}, {"message", message}});
  return JsonResponse(status,
                      {{"success", false}, {"error", {{"code", code}, {"message", message}}}});
}

bool SameLimits(const spec::RateLimit& a, const spec::RateLimit& b) {
  return a.enabled == b.enabled && a.requests_per_minute == b.requests_per_minute &&
         a.requests_per_hour == b.requests_per_hour;
}

}  // namespace

AuthGate::AuthGate(auth::KeyManager* keys, RateConfig rate_config, Clock clock)
    : keys_(keys), rate_config_(std::move(rate_config)), clock_(std::move(clock)) {}

Result<auth::Principal> AuthGate::AuthenticateKey(const std::string& key) {
  return keys_->Authenticate(key, clock_ ? clock_() : NowUnixMs());
}

std::shared_ptr<auth::RateLimiter> AuthGate::Limiter(spec::RateLimit* config) {
  spec::RateLimit now = rate_config_ ? rate_config_() : spec::RateLimit{};
  std::lock_guard<std::mutex> lock(mu_);
  if (!limiter_ || !SameLimits(now, limiter_config_)) {
    if (limiter_)
      log::Info("auth.rate_limits_changed",
                {{"enabled", now.enabled ? "true" : "false"},
                 {"per_minute", now.requests_per_minute},
                 {"per_hour", now.requests_per_hour}});
    limiter_ = std::make_shared<auth::RateLimiter>(now);
    limiter_config_ = now;
  }
  *config = limiter_config_;
  return limiter_;
}

std::optional<Response> AuthGate::Check(Request& req) {
  t_rate_headers.clear();
  req.tenant.clear();
  req.key_id.clear();
  if (req.admin) return std::nullopt;  // the unix socket: the administrator

  // Health, and incoming webhooks that authenticate with their own signatures / tokens
  // (src/events): the route table says which (Access::kKeyless).
  if (routes_ != nullptr && routes_->Keyless(req.method, req.path)) return std::nullopt;
  bool e2b_path = e2b::IsE2bPath(req.path);  // E2B's control plane: {"code", "message"}

  auto unauthenticated = [&](const std::string& message) {
    log::Info("auth.denied", {{"request_id", req.request_id}, {"method", req.method},
                              {"path", req.path}, {"status", 401}, {"error", message}});
    Response r = Refusal(401, "unauthenticated", message, e2b_path);
    r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"sandboxd\""});
    return r;
  };

  auth::PresentedHeaders presented;
  auto x = req.headers.find("x-api-key");
  if (x != req.headers.end()) presented.x_api_key = x->second;
  auto a = req.headers.find("authorization");
  if (a != req.headers.end()) presented.authorization = a->second;
  Result<std::string> key = auth::ExtractApiKey(presented);
  if (!key.ok()) return unauthenticated(key.error().message);

  int64_t now = clock_ ? clock_() : NowUnixMs();
  Result<auth::Principal> principal = keys_->Authenticate(*key, now);
  if (!principal.ok()) {
    if (principal.error().code == ErrorCode::kUnauthenticated)
      return unauthenticated(principal.error().message);
    log::Error("auth.failed", {{"request_id", req.request_id},
                               {"error", principal.error().ToString()}});
    return e2b_path ? Refusal(HttpStatus(principal.error().code), ErrorCodeName(principal.error().code),
                         principal.error().message, true)
               : ErrorResponse(principal.error());
  }

  spec::RateLimit limits;
  std::shared_ptr<auth::RateLimiter> limiter = Limiter(&limits);
  if (limits.enabled) {
    auth::RateDecision d = limiter->Check(principal->key_id, now);
    if (!d.allowed) {
      std::string message = auth::RateLimitMessage(d);
      log::Info("auth.rate_limited", {{"request_id", req.request_id},
                                      {"key_id", principal->key_id},
                                      {"tenant", principal->tenant},
                                      {"retry_after_s", d.retry_after_seconds}});
      Response r = Refusal(429, "resource_exhausted", message, e2b_path);
      for (auto& h : auth::RateLimitHeaders(d)) r.headers.push_back(std::move(h));
      return r;
    }
    t_rate_headers = auth::RateLimitHeaders(d);
  }
  req.tenant = principal->tenant;
  req.key_id = principal->key_id;
  // The access log line (http.request) cannot see the principal: this one names it.
  log::Info("auth.ok", {{"request_id", req.request_id}, {"key_id", req.key_id},
                        {"tenant", req.tenant}});
  return std::nullopt;
}

void AuthGate::AddRateLimitHeaders(const Request& req, Response& resp) {
  if (req.admin || t_rate_headers.empty()) return;
  for (auto& h : t_rate_headers) resp.headers.push_back(std::move(h));
  t_rate_headers.clear();
}

void AuthGate::Install(Router& router) {
  routes_ = &router.table();
  router.SetGate([this](Request& req) { return Check(req); });
  router.SetResponseHook(
      [this](const Request& req, Response& resp) { AddRateLimitHeaders(req, resp); });
}

auth::Principal PrincipalOf(const Request& req) {
  if (req.admin) return auth::Principal::Admin();
  return auth::Principal{req.key_id, req.tenant, false};
}

Response SandboxNotFound(const std::string& id) {
  return ErrorResponse(MakeError(ErrorCode::kNotFound, "sandbox '" + id + "' does not exist"));
}

CreateAdmission AdmitCreate(auth::ConcurrencyGate* gate, const Request& req,
                            const std::function<int64_t()>& running_now) {
  CreateAdmission a;
  if (gate == nullptr || req.admin || req.key_id.empty()) return a;
  auto token = gate->TryAcquireCreate(req.key_id);
  if (!token.ok()) {
    Response r = ErrorResponse(token.error());
    r.headers.push_back({"Retry-After", "1"});
    a.refused = std::move(r);
    return a;
  }
  a.token.emplace(std::move(*token));
  if (auto ok = a.token->CanStart(running_now()); !ok.ok()) {
    a.token.reset();
    a.refused = ErrorResponse(ok.error());
  }
  return a;
}

CreateAdmission AdmitCreate(auth::ConcurrencyGate* gate, const Request& req,
                            sandbox::SandboxManager& manager) {
  return AdmitCreate(gate, req, [&]() -> int64_t {
    int64_t running = 0;
    if (auto all = manager.List(); all.ok())
      for (const auto& v : *all) running += v.record.tenant == req.tenant && v.record.state == "running";
    return running;
  });
}

}  // namespace sbx::api
