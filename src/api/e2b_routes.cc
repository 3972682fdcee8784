#include "api/e2b_routes.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "api/auth_gate.h"
#include "api/e2b_json.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

class E2bRoutes : public RouteGroup {
 public:
  E2bRoutes(sandbox::SandboxManager* manager, auth::SandboxTokens tokens, E2bOptions options)
      : manager_(manager), tokens_(std::move(tokens)), options_(std::move(options)) {}

  // The group's routes in the Router's table (api/route_table.h), all Api::kE2b.
  std::vector<api::Route> Routes() override;

 private:
  using Handler = Response (E2bRoutes::*)(const Request& req, const std::string& id);

  Response Create(const Request& req, const std::string&);
  Response List(const Request& req, const std::string&);
  Response Get(const Request& req, const std::string& id);
  Response Kill(const Request& req, const std::string& id);
  Response SetTimeout(const Request& req, const std::string& id);
  Response Connect(const Request& req, const std::string& id);
  Response Pause(const Request& req, const std::string& id);
  Response Templates(const Request& req, const std::string&);

  // The sandbox `id` as this request may see it: running or paused, and its tenant's (or the
  // administrator's). Anything else is a 404, another tenant's sandbox included.
  Result<store::SandboxRecord> Visible(const Request& req, const std::string& id, bool any_state);
  e2b::Access AccessOf(const store::SandboxRecord& r) const;

  sandbox::SandboxManager* manager_;
  auth::SandboxTokens tokens_;
  E2bOptions options_;
};

std::vector<api::Route> E2bRoutes::Routes() {
  struct Entry {
    const char* method;
    const char* pattern;  // "{id}": the sandbox id
    Handler handler;
  };
  static const Entry kEntries[] = {
      {"POST", "/sandboxes", &E2bRoutes::Create},
      {"POST", "/v2/sandboxes", &E2bRoutes::Create},
      {"GET", "/sandboxes", &E2bRoutes::List},
      {"GET", "/v2/sandboxes", &E2bRoutes::List},
      {"GET", "/sandboxes/{id}", &E2bRoutes::Get},
      {"DELETE", "/sandboxes/{id}", &E2bRoutes::Kill},
      {"POST", "/sandboxes/{id}/timeout", &E2bRoutes::SetTimeout},
      {"POST", "/sandboxes/{id}/connect", &E2bRoutes::Connect},
      {"POST", "/v2/sandboxes/{id}/connect", &E2bRoutes::Connect},
      {"POST", "/sandboxes/{id}/pause", &E2bRoutes::Pause},
      {"GET", "/templates", &E2bRoutes::Templates},
  };
  std::vector<api::Route> out;
  for (const Entry& e : kEntries) {
    Handler h = e.handler;
    out.push_back({.method = e.method,
                   .pattern = e.pattern,
                   .handler = [this, h](const Request& req, const PathParams& p) {
                     return (this->*h)(req, p["id"]);
                   },
                   .api = Api::kE2b});
  }
  return out;
}

// E2B's empty success: 204 without a body (a 200 with an empty body breaks the SDK's parser).
Response NoContent() {
  Response resp;
  resp.status = 204;
  return resp;
}

// The `timeout` of a timeout (required) or connect (optional, and the body too) request.
Result<std::optional<int64_t>> TimeoutOf(const Request& req, bool required) {
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req, !required));
  return e2b::ParseTimeout(body, required);
}

Response NotFound(const std::string& id) {
  return e2b::ErrorJson(404, "sandbox '" + id + "' not found");
}

Result<store::SandboxRecord> E2bRoutes::Visible(const Request& req, const std::string& id,
                                                 bool any_state) {
  auto missing = [&] { return MakeError(ErrorCode::kNotFound, "sandbox '" + id + "' not found"); };
  if (!spec::ValidateSandboxId(id).ok()) return missing();
  auto view = manager_->Get(id);
  if (!view.ok()) {
    if (view.error().code == ErrorCode::kNotFound) return missing();
    return view.error();
  }
  if (!auth::CanAccess(PrincipalOf(req), view->record.tenant)) return missing();
  if (!any_state && e2b::StateOf(view->record.state) == nullptr) return missing();
  return view->record;
}

e2b::Access E2bRoutes::AccessOf(const store::SandboxRecord& r) const {
  e2b::Access a;
  a.envd_token = tokens_.EnvdToken(r.id, r.created_at_ms);
  a.domain = options_.domain;
  if (!r.public_traffic) a.traffic_token = tokens_.TrafficToken(r.id, r.created_at_ms);
  return a;
}

Response E2bRoutes::Create(const Request& req, const std::string&) {
  auto body = ParseJsonBody(req, false);
  if (!body.ok()) return ErrorResponse(body.error());
  auto wanted = e2b::ParseNewSandbox(*body);
  if (!wanted.ok()) return ErrorResponse(wanted.error());
  spec::SandboxSpec spec = wanted->spec;
  spec.id = e2b::NewSandboxId();
  spec.on_timeout = wanted->auto_pause ? spec::OnTimeout::kPause : spec::OnTimeout::kStop;
  spec.auto_resume = wanted->auto_resume;
  spec.public_traffic = wanted->public_traffic;
  CreateAdmission admitted = AdmitCreate(options_.create_gate, req, *manager_);
  if (admitted.refused) return std::move(*admitted.refused);
  auto view = manager_->Create(spec, req.request_id, req.admin ? "" : req.tenant);
  if (!view.ok()) return ErrorResponse(view.error());
  return JsonResponse(201, e2b::SandboxJson(view->record, AccessOf(view->record)));
}

Response E2bRoutes::List(const Request& req, const std::string&) {
  auto query = e2b::ParseListQuery(req.query);
  if (!query.ok()) return ErrorResponse(query.error());
  auto all = manager_->List();
  if (!all.ok()) return ErrorResponse(all.error());
  auth::Principal who = PrincipalOf(req);
  std::vector<store::SandboxRecord> mine;
  for (auto& v : *all)
    if (auth::CanAccess(who, v.record.tenant)) mine.push_back(std::move(v.record));
  e2b::Page page = e2b::SelectPage(std::move(mine), *query);
  json list = json::array();
  for (const auto& r : page.items) list.push_back(e2b::ListedSandboxJson(r));
  Response resp = JsonResponse(200, list);
  if (!page.next_token.empty()) resp.headers.push_back({"X-Next-Token", page.next_token});
  return resp;
}

Response E2bRoutes::Get(const Request& req, const std::string& id) {
  auto r = Visible(req, id, false);
  if (!r.ok()) return ErrorResponse(r.error());
  return JsonResponse(200, e2b::SandboxDetailJson(*r, AccessOf(*r)));
}

Response E2bRoutes::Kill(const Request& req, const std::string& id) {
  auto r = Visible(req, id, true);  // a stopped sandbox is removed too
  if (!r.ok()) return ErrorResponse(r.error());
  if (auto done = manager_->Remove(id, req.request_id); !done.ok()) {
    if (done.error().code == ErrorCode::kNotFound) return NotFound(id);
    return ErrorResponse(done.error());
  }
  return NoContent();
}

Response E2bRoutes::SetTimeout(const Request& req, const std::string& id) {
  auto timeout = TimeoutOf(req, true);
  if (!timeout.ok()) return ErrorResponse(timeout.error());
  auto r = Visible(req, id, false);
  if (!r.ok()) return ErrorResponse(r.error());
  auto view = manager_->SetTimeout(id, **timeout, req.request_id);
  if (!view.ok()) return ErrorResponse(view.error());
  return NoContent();
}

Response E2bRoutes::Connect(const Request& req, const std::string& id) {
  auto timeout = TimeoutOf(req, false);
  if (!timeout.ok()) return ErrorResponse(timeout.error());
  int64_t seconds = timeout->value_or(e2b::kDefaultTimeoutS);
  auto r = Visible(req, id, false);
  if (!r.ok()) return ErrorResponse(r.error());
  store::SandboxRecord rec = *r;
  if (rec.state == "paused") {
    // Resumed: 201, and the lifetime is at least `timeout` from now (Resume never shortens).
    auto resumed = manager_->Resume(id, seconds, req.request_id);
    if (!resumed.ok()) return ErrorResponse(resumed.error());
    rec = resumed->view.record;
    return JsonResponse(resumed->resumed ? 201 : 200, e2b::SandboxJson(rec, AccessOf(rec)));
  }
  // The lifetime is extended, never shortened: a sandbox that lives longer keeps its end.
  int64_t wanted_end = NowUnixMs() + seconds * 1000;
  if (rec.expires_at_ms > 0 && rec.expires_at_ms < wanted_end) {
    auto view = manager_->SetTimeout(id, seconds, req.request_id);
    if (!view.ok()) return ErrorResponse(view.error());
    rec = view->record;
  }
  return JsonResponse(200, e2b::SandboxJson(rec, AccessOf(rec)));
}

// E2B's pause: 204; 409 when it is paused already (the SDK's pause() then says false).
Response E2bRoutes::Pause(const Request& req, const std::string& id) {
  auto r = Visible(req, id, false);
  if (!r.ok()) return ErrorResponse(r.error());
  auto view = manager_->Pause(id, req.request_id);
  if (!view.ok()) {
    if (view.error().code == ErrorCode::kAlreadyExists)
      return ErrorResponse(MakeError(ErrorCode::kAlreadyExists, "sandbox '" + id + "' is already paused"));
    return ErrorResponse(view.error());
  }
  return NoContent();
}

Response E2bRoutes::Templates(const Request&, const std::string&) {
  auto all = manager_->ListTemplates();
  if (!all.ok()) return ErrorResponse(all.error());
  json list = json::array();
  for (const auto& v : *all) {
    std::string build_id = v.current ? v.current->version : "";
    int64_t built = v.current ? v.current->built_at_ms : 0;
    list.push_back(e2b::TemplateJson(v.definition, v.up_to_date(), build_id, built));
  }
  return JsonResponse(200, list);
}

}  // namespace

std::unique_ptr<RouteGroup> MakeE2bRoutes(sandbox::SandboxManager* manager,
                                          auth::SandboxTokens tokens, E2bOptions options) {
  return std::make_unique<E2bRoutes>(manager, std::move(tokens), std::move(options));
}

}  // namespace sbx::api
