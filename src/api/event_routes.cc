// Events, webhooks, lifecycles, workflows and incoming hooks over HTTP (see event_routes.h).
#include "api/event_routes.h"

#include <chrono>
#include <cstdlib>
#include <optional>

#include "api/auth_gate.h"
#include "common/log.h"
#include "common/util.h"
#include "events/subscriptions.h"
#include "lifecycle/config.h"
#include "store/webhooks.h"

namespace sbx::api {
namespace {

using nlohmann::json;

Response NotFound(const std::string& what) {
  return ErrorResponse(MakeError(ErrorCode::kNotFound, what + " does not exist"));
}

// A query integer in [lo, hi]; `def` when absent.
Result<int64_t> QueryInt(const Request& req, const std::string& name, int64_t def, int64_t lo,
                         int64_t hi) {
  std::string s = req.Query(name);
  if (s.empty()) return def;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (int64_t{1} << 50))
      return MakeError(ErrorCode::kInvalidArgument,
                       "query parameter '" + name + "' must be an integer");
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi)
    return MakeError(ErrorCode::kInvalidArgument, "query parameter '" + name + "' must be from " +
                                                      std::to_string(lo) + " to " +
                                                      std::to_string(hi));
  return v;
}

// Visible to the request: the administrator sees all, a tenant its own.
bool Visible(const Request& req, const std::string& owner) {
  return req.tenant.empty() || req.tenant == owner;
}

// The event type filter: "" or a type in either spelling, normalised.
Result<std::string> TypeFilter(const Request& req) {
  std::string t = req.Query("type");
  if (t.empty()) return t;
  ASSIGN_OR_RETURN(events::EventType et, events::ParseEventType(t));
  return std::string(events::EventTypeName(et));
}

// ------------------------------------------------------------------------------------------
// Events

class EventRoutes : public RouteGroup {
 public:
  explicit EventRoutes(EventServices s) : s_(s) {}

  std::vector<Route> Routes() override {
    return {
        {.method = "GET", .pattern = "/v1/events",
         .handler = [this](const Request& req, const PathParams&) { return List(req); }},
        {.method = "GET", .pattern = "/v1/events/stream",
         .handler = [this](const Request& req, const PathParams&) { return Stream(req); }},
    };
  }

 private:
  Result<store::EventFilter> Filter(const Request& req) {
    store::EventFilter f;
    ASSIGN_OR_RETURN(f.type, TypeFilter(req));
    f.sandbox_id = req.Query("sandbox_id");
    f.tenant = req.tenant;
    ASSIGN_OR_RETURN(f.since_id, QueryInt(req, "since_id", 0, 0, INT64_C(1) << 50));
    ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
    f.limit = static_cast<int>(limit);
    return f;
  }

  Response List(const Request& req) {
    auto f = Filter(req);
    if (!f.ok()) return ErrorResponse(f.error());
    std::string order = req.Query("order", f->since_id ? "asc" : "desc");
    if (order != "asc" && order != "desc")
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "query parameter 'order' must be asc or desc"));
    f->newest_first = order == "desc";
    auto rows = s_.bus->Query(*f);
    if (!rows.ok()) return ErrorResponse(rows.error());
    json list = json::array();
    for (const auto& e : *rows) list.push_back(events::ToJson(e));
    return JsonResponse(200, {{"success", true},
                              {"events", list},
                              {"count", list.size()},
                              {"last_event_id", s_.bus->last_id()}});
  }

  // text/event-stream: "id: SEQ\nevent: TYPE\ndata: JSON\n\n" per event, ": keep-alive" lines
  // every heartbeat. Resumes after Last-Event-ID (header) or ?since_id; without either it starts
  // with the events published from now on (?since_id=0 replays the whole log).
  Response Stream(const Request& req) {
    auto f = Filter(req);
    if (!f.ok()) return ErrorResponse(f.error());
    int64_t since = s_.bus->last_id();
    std::string last = req.Header("last-event-id");
    if (!last.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(last.c_str(), &end, 10);
      if (end == last.c_str() || *end != 0 || v < 0)
        return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                       "Last-Event-ID must be the integer id of an event"));
      since = v;
    } else if (!req.Query("since_id").empty()) {
      since = f->since_id;
    }
    Response r;
    r.content_type = "text/event-stream";
    r.headers.push_back({"X-Accel-Buffering", "no"});
    EventServices s = s_;
    store::EventFilter filter = *f;
    filter.newest_first = false;
    filter.limit = 1000;
    r.stream = [s, filter, since](const ChunkWriter& write) mutable {
      if (!write(": stream of sandboxd events\nretry: 2000\n\n")) return;
      auto last_beat = std::chrono::steady_clock::now();
      while (!(s.stopping && s.stopping->load())) {
        // Every event up to `newest` is committed before the query below runs, so the cursor
        // may skip to it when nothing matched (other tenants' or types' events).
        int64_t newest = s.bus->last_id();
        auto rows = s.bus->WaitForNewer(since, 1000, filter);
        if (s.stopping && s.stopping->load()) break;
        if (!rows.ok()) {
          log::Warn("events.stream_failed", {{"error", rows.error().ToString()}});
          return;
        }
        std::string out;
        for (const auto& e : *rows) {
          out += "id: " + std::to_string(e.id) + "\nevent: " + e.type + "\ndata: " +
                 events::ToJson(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
          since = std::max(since, e.id);
        }
        if (rows->size() < static_cast<size_t>(filter.limit)) since = std::max(since, newest);
        auto now = std::chrono::steady_clock::now();
        if (out.empty() && now - last_beat >= std::chrono::milliseconds(s.heartbeat_ms))
          out = ": keep-alive\n\n";
        if (!out.empty()) {
          if (!write(out)) return;
          last_beat = now;
        }
      }
    };
    return r;
  }

  EventServices s_;
};

// ------------------------------------------------------------------------------------------
// Webhook subscriptions and their deliveries

class WebhookRoutes : public RouteGroup {
 public:
  explicit WebhookRoutes(EventServices s) : s_(s), repo_(s.store) {}

  std::vector<Route> Routes() override {
    using Sub = store::SubscriptionRecord;
    // A route on one subscription the request owns (404 otherwise).
    auto owned = [this](std::function<Response(const Request&, const Sub&, const PathParams&)> fn) {
      return [this, fn](const Request& req, const PathParams& p) {
        auto sub = Owned(req, p["id"]);
        if (!sub.ok()) return ErrorResponse(sub.error());
        return fn(req, *sub, p);
      };
    };
    return {
        {.method = "POST", .pattern = "/v1/webhooks",
         .handler = [this](const Request& req, const PathParams&) { return Create(req); }},
        {.method = "GET", .pattern = "/v1/webhooks",
         .handler = [this](const Request& req, const PathParams&) { return List(req); }},
        {.method = "GET", .pattern = "/v1/webhooks/stats",
         .handler = [this](const Request& req, const PathParams&) { return Stats(req); }},
        {.method = "GET", .pattern = "/v1/webhooks/{id}",
         .handler = owned([](const Request&, const Sub& sub, const PathParams&) {
           return JsonResponse(200, WithSuccess(events::ToPublicJson(sub)));
         })},
        {.method = "PATCH", .pattern = "/v1/webhooks/{id}",
         .handler = owned([this](const Request& req, const Sub& sub, const PathParams&) {
           return Update(req, sub);
         })},
        {.method = "DELETE", .pattern = "/v1/webhooks/{id}",
         .handler = owned([this](const Request&, const Sub& sub, const PathParams&) { return Delete(sub); })},
        {.method = "GET", .pattern = "/v1/webhooks/{id}/deliveries",
         .handler = owned([this](const Request& req, const Sub& sub, const PathParams&) {
           return Deliveries(req, sub);
         })},
        {.method = "POST", .pattern = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
         .handler = owned([this](const Request&, const Sub& sub, const PathParams& p) {
           return Redeliver(sub, p["delivery_id"]);
         })},
    };
  }

 private:
  static json WithSuccess(json j) {
    json out = {{"success", true}};
    for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = it.value();
    return out;
  }

  Result<store::SubscriptionRecord> Owned(const Request& req, const std::string& id) {
    ASSIGN_OR_RETURN(auto r, repo_.GetSubscription(id));
    if (!r || !Visible(req, r->tenant))
      return MakeError(ErrorCode::kNotFound, "webhook '" + id + "' does not exist");
    return *r;
  }

  Response Create(const Request& req) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    auto created = events::SubscriptionFromJson(*body, req.tenant);
    if (!created.ok()) return ErrorResponse(created.error());
    if (auto r = repo_.InsertSubscription(created->record); !r.ok()) return ErrorResponse(r.error());
    log::Info("webhook_created", {{"webhook_id", created->record.id},
                                  {"kind", created->record.kind},
                                  {"request_id", req.request_id}});
    json j = WithSuccess(events::ToPublicJson(created->record));
    if (!created->secret.empty()) {
      j["secret"] = created->secret;
      j["secret_note"] = "shown once: keep it to verify X-Sandboxd-Signature-256";
    }
    return JsonResponse(201, j);
  }

  Response List(const Request& req) {
    auto rows = repo_.ListSubscriptions(req.tenant);
    if (!rows.ok()) return ErrorResponse(rows.error());
    json list = json::array();
    for (const auto& r : *rows) list.push_back(events::ToPublicJson(r));
    return JsonResponse(200, {{"success", true}, {"webhooks", list}, {"count", list.size()}});
  }

  // {"enabled": bool, "description": "..."}: the only fields that change in place.
  Response Update(const Request& req, store::SubscriptionRecord sub) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() == "enabled" && it->is_boolean()) {
        sub.enabled = it->get<bool>();
      } else if (it.key() == "description" && it->is_string()) {
        sub.description = it->get<std::string>();
      } else {
        return ErrorResponse(MakeError(
            ErrorCode::kInvalidArgument,
            "webhook." + it.key() + ": only enabled (bool) and description (string) can change; "
                                    "delete and create the webhook to change the rest"));
      }
    }
    if (auto r = repo_.UpdateSubscription(sub); !r.ok()) return ErrorResponse(r.error());
    return JsonResponse(200, WithSuccess(events::ToPublicJson(sub)));
  }

  Response Delete(const store::SubscriptionRecord& sub) {
    if (auto r = repo_.DeleteSubscription(sub.id); !r.ok()) return ErrorResponse(r.error());
    return JsonResponse(200, {{"success", true}, {"id", sub.id}, {"deleted", true}});
  }

  Response Deliveries(const Request& req, const store::SubscriptionRecord& sub) {
    store::OutboxFilter f;
    f.subscription_id = sub.id;
    f.state = req.Query("state");
    if (!f.state.empty() && f.state != "pending" && f.state != "in_flight" &&
        f.state != "delivered" && f.state != "dead")
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "query parameter 'state' must be pending, in_flight, "
                                     "delivered or dead"));
    auto limit = QueryInt(req, "limit", 100, 1, 1000);
    if (!limit.ok()) return ErrorResponse(limit.error());
    f.limit = static_cast<int>(*limit);
    auto rows = repo_.ListOutbox(f);
    if (!rows.ok()) return ErrorResponse(rows.error());
    store::EventRepo events_repo(s_.store);
    json list = json::array();
    for (const auto& o : *rows) {
      json j = events::ToJson(o);
      if (auto e = events_repo.Get(o.event_id); e.ok() && *e) {
        j["event_uid"] = (*e)->uid;
        j["event_type"] = (*e)->type;
      }
      json attempts = json::array();
      if (auto log = repo_.DeliveryLog(o.id); log.ok())
        for (const auto& a : *log) attempts.push_back(events::ToJson(a));
      j["log"] = attempts;
      list.push_back(j);
    }
    return JsonResponse(200, {{"success", true},
                              {"webhook_id", sub.id},
                              {"deliveries", list},
                              {"count", list.size()}});
  }

  Response Redeliver(const store::SubscriptionRecord& sub, const std::string& outbox_text) {
    char* end = nullptr;
    long long id = std::strtoll(outbox_text.c_str(), &end, 10);
    if (end == outbox_text.c_str() || *end != 0 || id <= 0)
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "delivery id must be a positive integer"));
    auto row = repo_.GetOutbox(id);
    if (!row.ok()) return ErrorResponse(row.error());
    if (!*row || (*row)->subscription_id != sub.id)
      return NotFound("delivery " + outbox_text + " of webhook '" + sub.id + "'");
    auto r = s_.deliverer->Redeliver(id);
    if (!r.ok()) return ErrorResponse(r.error());
    s_.deliverer->Wake();
    json j = events::ToJson(*r);
    j["success"] = true;
    return JsonResponse(200, j);
  }

  Response Stats(const Request& req) {
    if (!req.tenant.empty())
      return ErrorResponse(MakeError(ErrorCode::kPermissionDenied,
                                     "delivery statistics are for the administrator"));
    auto st = s_.deliverer->Stats();
    if (!st.ok()) return ErrorResponse(st.error());
    return JsonResponse(200, {{"success", true},
                              {"outbox", st->outbox},
                              {"attempts", st->attempts},
                              {"delivered", st->delivered},
                              {"failed_attempts", st->failed_attempts},
                              {"dead", st->dead},
                              {"event_to_delivery_p50_ms", st->event_to_delivery_p50_ms},
                              {"event_to_delivery_p99_ms", st->event_to_delivery_p99_ms}});
  }

  EventServices s_;
  store::WebhookRepo repo_;
};

// ------------------------------------------------------------------------------------------
// Lifecycles, workflows, incoming hooks

class LifecycleRoutes : public RouteGroup {
 public:
  explicit LifecycleRoutes(EventServices s) : s_(s) {}

  std::vector<Route> Routes() override {
    using Wf = lifecycle::Workflow;
    // A route on one workflow the request owns (404 otherwise).
    auto owned = [this](std::function<Response(const Request&, const Wf&)> fn) {
      return [this, fn](const Request& req, const PathParams& p) {
        auto wf = OwnedWorkflow(req, p["name"]);
        if (!wf.ok()) return ErrorResponse(wf.error());
        return fn(req, *wf);
      };
    };
    auto runs = owned([this](const Request& req, const Wf& wf) { return ListRuns(req, wf.record.id); });
    // Incoming hooks carry their own credentials (a signature, a token): no API key.
    auto token_hook = [this](const Request& req, const PathParams& p) {
      std::string token = p["token"].empty() ? req.Header("x-sandboxd-hook-token") : p["token"];
      return Hook(s_.workflows->HandleTokenHook(token, req.body));
    };
    return {
        {.method = "POST", .pattern = "/v1/lifecycles",
         .handler = [this](const Request& req, const PathParams&) { return CreateLifecycle(req); }},
        {.method = "GET", .pattern = "/v1/lifecycles",
         .handler = [this](const Request& req, const PathParams&) { return ListRuns(req, ""); }},
        {.method = "GET", .pattern = "/v1/lifecycles/{run_id}",
         .handler = [this](const Request& req, const PathParams& p) { return GetRun(req, p["run_id"]); }},
        {.method = "POST", .pattern = "/v1/workflows",
         .handler = [this](const Request& req, const PathParams&) { return CreateWorkflow(req); }},
        {.method = "GET", .pattern = "/v1/workflows",
         .handler = [this](const Request& req, const PathParams&) { return ListWorkflows(req); }},
        {.method = "GET", .pattern = "/v1/workflows/{name}",
         .handler = owned([](const Request&, const Wf& wf) { return JsonResponse(200, WorkflowJson(wf)); })},
        {.method = "DELETE", .pattern = "/v1/workflows/{name}",
         .handler = owned([this](const Request&, const Wf& wf) { return DeleteWorkflow(wf); })},
        {.method = "POST", .pattern = "/v1/workflows/{name}/run",
         .handler = owned([this](const Request& req, const Wf& wf) { return RunWorkflow(req, wf); })},
        {.method = "GET", .pattern = "/v1/workflows/{name}/runs", .handler = runs},
        {.method = "GET", .pattern = "/v1/workflows/{name}/history", .handler = runs},
        {.method = "POST", .pattern = "/v1/hooks/github",
         .handler = [this](const Request& req, const PathParams&) { return Github(req); },
         .access = Access::kKeyless},
        {.method = "POST", .pattern = "/v1/hooks/token", .handler = token_hook, .access = Access::kKeyless},
        {.method = "POST", .pattern = "/v1/hooks/token/{token}", .handler = token_hook,
         .access = Access::kKeyless},
    };
  }

 private:
  static json RunJson(const store::LifecycleRunRecord& r) {
    json j = lifecycle::RunToJson(r);
    j["run_id"] = r.id;
    return j;
  }

  Response CreateLifecycle(const Request& req) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    auto config = lifecycle::LifecycleConfigFromJson(*body);
    if (!config.ok()) return ErrorResponse(config.error());
    if (config->scripts.empty())
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "lifecycle.scripts: give at least one script"));
    lifecycle::RunContext ctx;
    ctx.tenant = req.tenant;
    ctx.request_id = req.request_id;
    // The run creates a sandbox of the key's tenant: the same caps as POST /v1/sandboxes. The
    // create slot is held until the run's create step ends.
    if (s_.manager != nullptr) {
      CreateAdmission admitted = AdmitCreate(s_.create_gate, req, *s_.manager);
      if (admitted.refused) return std::move(*admitted.refused);
      if (admitted.token) {
        auto slot = std::make_shared<std::optional<auth::ConcurrencyGate::CreateToken>>(
            std::move(admitted.token));
        ctx.on_created = [slot] { slot->reset(); };
      }
    }
    auto run = s_.runner->Start(*config, ctx);
    if (!run.ok()) return ErrorResponse(run.error());
    json j = RunJson(*run);
    j["success"] = true;
    return JsonResponse(202, j);
  }

  Response ListRuns(const Request& req, const std::string& workflow_id) {
    store::RunFilter f;
    f.tenant = req.tenant;
    f.workflow_id = workflow_id;
    f.sandbox_id = req.Query("sandbox_id");
    f.state = req.Query("state");
    auto limit = QueryInt(req, "limit", 50, 1, 1000);
    if (!limit.ok()) return ErrorResponse(limit.error());
    f.limit = static_cast<int>(*limit);
    auto rows = s_.runner->List(f);
    if (!rows.ok()) return ErrorResponse(rows.error());
    json list = json::array();
    for (const auto& r : *rows) list.push_back(RunJson(r));
    return JsonResponse(200, {{"success", true}, {"runs", list}, {"count", list.size()}});
  }

  Response GetRun(const Request& req, const std::string& id) {
    auto r = s_.runner->Get(id);
    if (!r.ok()) return ErrorResponse(r.error());
    if (!Visible(req, r->tenant)) return NotFound("lifecycle run '" + id + "'");
    json j = RunJson(*r);
    j["success"] = true;
    return JsonResponse(200, j);
  }

  Result<lifecycle::Workflow> OwnedWorkflow(const Request& req, const std::string& name) {
    auto wf = s_.workflows->Get(name);
    if (!wf.ok()) return wf.error();
    if (!Visible(req, wf->record.tenant))
      return MakeError(ErrorCode::kNotFound, "workflow '" + name + "' does not exist");
    return wf;
  }

  static json WorkflowJson(const lifecycle::Workflow& wf) {
    json j = {{"success", true}};
    json w = wf.ToJson();
    for (auto it = w.begin(); it != w.end(); ++it) j[it.key()] = it.value();
    return j;
  }

  Response CreateWorkflow(const Request& req) {
    auto body = ParseJsonBody(req, false);
    if (!body.ok()) return ErrorResponse(body.error());
    auto created = s_.workflows->Create(*body, req.tenant);
    if (!created.ok()) return ErrorResponse(created.error());
    json j = WorkflowJson(created->workflow);
    if (!created->hook_token.empty()) {
      j["hook_token"] = created->hook_token;
      j["hook_url"] = "/v1/hooks/token/" + created->hook_token;
      j["hook_token_note"] = "shown once";
    }
    return JsonResponse(201, j);
  }

  Response ListWorkflows(const Request& req) {
    auto all = s_.workflows->List(req.tenant);
    if (!all.ok()) return ErrorResponse(all.error());
    json list = json::array();
    for (const auto& wf : *all) list.push_back(wf.ToJson());
    return JsonResponse(200, {{"success", true}, {"workflows", list}, {"count", list.size()}});
  }

  Response DeleteWorkflow(const lifecycle::Workflow& wf) {
    if (auto r = s_.workflows->Delete(wf.record.name); !r.ok()) return ErrorResponse(r.error());
    return JsonResponse(200, {{"success", true}, {"name", wf.record.name}, {"deleted", true}});
  }

  Response RunWorkflow(const Request& req, const lifecycle::Workflow& wf) {
    json trigger = {{"type", "manual"}};
    if (!req.body.empty()) {
      auto body = ParseJsonBody(req, true);
      if (!body.ok()) return ErrorResponse(body.error());
      if (body->contains("payload")) trigger["payload"] = (*body)["payload"];
    }
    auto run = s_.workflows->Run(wf.record.name, trigger);
    if (!run.ok()) return ErrorResponse(run.error());
    json j = RunJson(*run);
    j["success"] = true;
    j["workflow"] = wf.record.name;
    return JsonResponse(202, j);
  }

  static Response Hook(const lifecycle::HookOutcome& o) {
    json j = o.ToJson();
    j["success"] = o.status < 300;
    return JsonResponse(o.status, j);
  }

  Response Github(const Request& req) {
    return Hook(s_.workflows->HandleGithubDelivery(req.headers, req.body));
  }

  EventServices s_;
};

}  // namespace

std::unique_ptr<RouteGroup> MakeEventRoutes(const EventServices& s) {
  return std::make_unique<EventRoutes>(s);
}
std::unique_ptr<RouteGroup> MakeWebhookRoutes(const EventServices& s) {
  return std::make_unique<WebhookRoutes>(s);
}
std::unique_ptr<RouteGroup> MakeLifecycleRoutes(const EventServices& s) {
  return std::make_unique<LifecycleRoutes>(s);
}

}  // namespace sbx::api
