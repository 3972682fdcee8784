// Subscription JSON, validation and the public view (see subscriptions.h).
#include "events/subscriptions.h"

#include <set>

#include "common/util.h"
#include "events/event_type.h"

namespace sbx::events {
namespace {

using nlohmann::json;

Error Bad(const std::string& field, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "webhook." + field + ": " + why);
}

bool IsHttpUrl(const std::string& u) {
  return (u.rfind("http://", 0) == 0 && u.size() > 7) ||
         (u.rfind("https://", 0) == 0 && u.size() > 8);
}

Result<std::string> GetString(const json& j, const char* key, size_t max_len) {
  if (!j.contains(key)) return std::string();
  if (!j[key].is_string()) return Bad(key, "must be a string");
  std::string v = j[key].get<std::string>();
  if (v.size() > max_len) return Bad(key, "longer than " + std::to_string(max_len));
  return v;
}

}  // namespace

Result<CreatedSubscription> SubscriptionFromJson(const json& j, const std::string& tenant) {
  if (!j.is_object()) return Bad("body", "must be a JSON object");
  static const std::set<std::string> kKnown = {"kind",     "url",        "events",
                                               "secret",   "repository", "token",
                                               "api_base", "enabled",    "description"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnown.count(it.key())) return Bad(it.key(), "unknown field");
  CreatedSubscription out;
  auto& r = out.record;
  r.id = "whk_" + RandomHex(6);
  r.tenant = tenant;
  r.created_at_ms = NowUnixMs();
  ASSIGN_OR_RETURN(r.kind, GetString(j, "kind", 16));
  if (r.kind.empty()) r.kind = "generic";
  if (r.kind != "generic" && r.kind != "github" && r.kind != "zapier")
    return Bad("kind", "'" + r.kind + "' is not one of generic, github, zapier");
  ASSIGN_OR_RETURN(r.url, GetString(j, "url", 2048));
  ASSIGN_OR_RETURN(r.secret, GetString(j, "secret", 256));
  ASSIGN_OR_RETURN(r.description, GetString(j, "description", 256));
  json events = json::array();
  if (j.contains("events")) {
    if (!j["events"].is_array()) return Bad("events", "must be an array of event types");
    for (const auto& e : j["events"]) {
      if (!e.is_string()) return Bad("events", "must be an array of event types");
      std::string name = e.get<std::string>();
      if (name == "*") {
        events.push_back(name);
        continue;
      }
      auto t = ParseEventType(name);
      if (!t.ok()) return Bad("events", t.error().message);
      events.push_back(EventTypeName(*t));
    }
  }
  r.events_json = events.dump();
  if (j.contains("enabled")) {
    if (!j["enabled"].is_boolean()) return Bad("enabled", "must be true or false");
    r.enabled = j["enabled"].get<bool>();
  }
  if (r.kind == "github") {
    ASSIGN_OR_RETURN(std::string repo, GetString(j, "repository", 200));
    auto slash = repo.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == repo.size() ||
        repo.find('/', slash + 1) != std::string::npos)
      return Bad("repository", "must be owner/repo");
    r.github_owner = repo.substr(0, slash);
    r.github_repo = repo.substr(slash + 1);
    ASSIGN_OR_RETURN(r.github_token, GetString(j, "token", 512));
    if (r.github_token.empty()) return Bad("token", "is required for a github webhook");
    ASSIGN_OR_RETURN(r.github_api_base, GetString(j, "api_base", 2048));
    if (!r.github_api_base.empty() && !IsHttpUrl(r.github_api_base))
      return Bad("api_base", "must be an http(s) URL");
    if (!r.url.empty()) return Bad("url", "not used by a github webhook (use api_base)");
  } else {
    if (!IsHttpUrl(r.url)) return Bad("url", "must be an http:// or https:// URL");
    for (const char* k : {"repository", "token", "api_base"})
      if (j.contains(k)) return Bad(k, "only for a github webhook");
    if (r.secret.empty()) {
      r.secret = "whsec_" + RandomHex(16);
      out.secret = r.secret;
    }
  }
  return out;
}

json ToPublicJson(const store::SubscriptionRecord& r) {
  json j;
  j["id"] = r.id;
  j["kind"] = r.kind;
  j["tenant"] = r.tenant;
  if (!r.url.empty()) j["url"] = r.url;
  j["events"] = json::parse(r.events_json, nullptr, false);
  if (j["events"].is_discarded()) j["events"] = json::array();
  j["enabled"] = r.enabled;
  j["created_at"] = ToRfc3339(r.created_at_ms);
  j["description"] = r.description;
  if (r.kind == "github") {
    j["repository"] = r.github_owner + "/" + r.github_repo;
    j["api_base"] = r.github_api_base.empty() ? "https://api.github.com" : r.github_api_base;
    j["has_token"] = !r.github_token.empty();
  } else {
    j["has_secret"] = !r.secret.empty();
  }
  return j;
}

json ToJson(const store::OutboxRecord& r) {
  json j = {{"id", r.id},
            {"event_id", r.event_id},
            {"webhook_id", r.subscription_id},
            {"state", r.state},
            {"attempts", r.attempts},
            {"last_status", r.last_status},
            {"last_error", r.last_error},
            {"created_at", ToRfc3339(r.created_at_ms)}};
  if (r.state == "pending") j["next_attempt_at"] = ToRfc3339(r.next_attempt_at_ms);
  if (r.delivered_at_ms) j["delivered_at"] = ToRfc3339(r.delivered_at_ms);
  return j;
}

json ToJson(const store::DeliveryLogRecord& r) {
  return {{"attempt", r.attempt},
          {"time", ToRfc3339(r.time_ms)},
          {"status_code", r.status_code},
          {"latency_ms", r.latency_ms},
          {"error", r.error}};
}

json ToJson(const store::EventRecord& e) {
  json data = json::parse(e.data_json, nullptr, false);
  if (data.is_discarded()) data = json::object();
  return {{"id", e.uid},
          {"seq", e.id},
          {"type", e.type},
          {"time", ToRfc3339(e.time_ms)},
          {"sandbox_id", e.sandbox_id},
          {"tenant", e.tenant},
          {"data", std::move(data)}};
}

Result<void> EnsureZapierFromEnv(store::WebhookRepo& repo, const std::string& url) {
  constexpr const char* kId = "whk_env_zapier";
  ASSIGN_OR_RETURN(auto existing, repo.GetSubscription(kId));
  if (url.empty()) {
    if (!existing || !existing->enabled) return Ok();
    existing->enabled = false;
    return repo.UpdateSubscription(*existing);
  }
  if (!IsHttpUrl(url))
    return MakeError(ErrorCode::kInvalidArgument, "ZAPIER_WEBHOOK_URL must be an http(s) URL");
  if (existing) {
    if (existing->url == url && existing->enabled) return Ok();
    existing->url = url;
    existing->enabled = true;
    return repo.UpdateSubscription(*existing);
  }
  store::SubscriptionRecord r;
  r.id = kId;
  r.kind = "zapier";
  r.url = url;
  r.events_json = "[]";
  r.created_at_ms = NowUnixMs();
  r.description = "from ZAPIER_WEBHOOK_URL";
  return repo.InsertSubscription(r);
}

}  // namespace sbx::events
