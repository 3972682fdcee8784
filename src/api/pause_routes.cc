// POST /v1/sandboxes/{id}/pause and /resume (docs/api.md): SandboxManager::Pause / Resume,
// tenant-checked like the other sandbox routes, answering with the Sandbox.
#include <cmath>

#include "api/http.h"
#include "api/routes.h"

namespace sbx::api {
namespace {

constexpr int64_t kMaxResumeTimeoutS = 30 * 86400;

// The optional body of resume: nothing, {} or {"timeout": whole seconds from 1 to 30 days}.
Result<int64_t> ResumeTimeout(const Request& req) {
  ASSIGN_OR_RETURN(nlohmann::json body, ParseJsonBody(req, true));
  for (const auto& [key, value] : body.items())
    if (key != "timeout")
      return MakeError(ErrorCode::kInvalidArgument,
                       "request." + key + ": unknown field (allowed: timeout)");
  auto t = body.find("timeout");
  if (t == body.end() || t->is_null()) return int64_t{0};
  double v = t->is_number() ? t->get<double>() : 0;
  if (!(v >= 1 && v <= static_cast<double>(kMaxResumeTimeoutS) && std::floor(v) == v))
    return MakeError(ErrorCode::kInvalidArgument,
                     "request.timeout: must be a whole number of seconds from 1 to " +
                         std::to_string(kMaxResumeTimeoutS));
  return static_cast<int64_t>(v);
}

}  // namespace

Response Router::PauseSandbox(const std::string& id, const Request& req) {
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto view = manager_->Pause(id, req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  return JsonResponse(200, view->ToJson());
}

Response Router::ResumeSandbox(const std::string& id, const Request& req) {
  auto timeout = ResumeTimeout(req);
  if (!timeout.ok()) return ErrorResponse(timeout.error());
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto outcome = manager_->Resume(id, *timeout, req.request_id);
  if (!outcome.ok()) return ErrorResponse(outcome.error());
  nlohmann::json j = outcome->view.ToJson();
  j["resumed"] = outcome->resumed;
  return JsonResponse(200, j);
}

}  // namespace sbx::api
