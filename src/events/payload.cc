// Per-kind webhook requests (see payload.h).
#include "events/payload.h"

#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/util.h"
#include "events/event_type.h"
#include "events/signing.h"

namespace sbx::events {
namespace {

using nlohmann::ordered_json;

ordered_json ParseData(const std::string& text) {
  auto j = ordered_json::parse(text, nullptr, false);
  return j.is_discarded() ? ordered_json::object() : j;
}

// data.status wins (a workflow_finished event says "failed"); else the type's own word.
std::string StatusOf(const store::EventRecord& e, const ordered_json& data) {
  if (data.is_object() && data.contains("status") && data["status"].is_string())
    return data["status"].get<std::string>();
  auto t = ParseEventType(e.type);
  return t.ok() ? EventStatus(*t) : e.type;
}

}  // namespace

std::string OutgoingRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

std::string GenericBody(const store::EventRecord& e) {
  ordered_json data = ParseData(e.data_json);
  ordered_json j;
  j["id"] = e.uid;
  j["type"] = e.type;
  j["status"] = StatusOf(e, data);
  j["time"] = ToRfc3339(e.time_ms);
  j["sandbox_id"] = e.sandbox_id;
  j["tenant"] = e.tenant;
  j["data"] = std::move(data);
  return j.dump();
}

Result<OutgoingRequest> BuildRequest(const store::SubscriptionRecord& s,
                                     const store::EventRecord& e, int64_t now_s) {
  OutgoingRequest r;
  r.headers.emplace_back("User-Agent", kUserAgent);
  r.headers.emplace_back("Content-Type", "application/json");
  if (s.kind == "generic" || s.kind == "zapier") {
    if (s.url.empty())
      return MakeError(ErrorCode::kInvalidArgument, "webhook " + s.id + " has no url");
    r.url = s.url;
    r.body = GenericBody(e);
    r.headers.emplace_back("X-Sandboxd-Event", e.type);
    r.headers.emplace_back("X-Sandboxd-Delivery", e.uid);
    r.headers.emplace_back("X-Sandboxd-Timestamp", std::to_string(now_s));
    if (!s.secret.empty()) {
      r.headers.emplace_back("X-Sandboxd-Signature-256",
                             TimestampedSignature(s.secret, now_s, r.body));
      r.headers.emplace_back("X-Hub-Signature-256", GithubSignature(s.secret, r.body));
    }
    return r;
  }
  if (s.kind == "github") {
    if (s.github_owner.empty() || s.github_repo.empty())
      return MakeError(ErrorCode::kInvalidArgument, "webhook " + s.id + " has no repository");
    std::string base = s.github_api_base.empty() ? kDefaultGithubApi : s.github_api_base;
    while (!base.empty() && base.back() == '/') base.pop_back();
    r.url = base + "/repos/" + s.github_owner + "/" + s.github_repo + "/dispatches";
    ordered_json data = ParseData(e.data_json);
    ordered_json payload;
    payload["sandbox_id"] = e.sandbox_id;
    payload["status"] = StatusOf(e, data);
    payload["event_id"] = e.uid;
    payload["type"] = e.type;
    payload["time"] = ToRfc3339(e.time_ms);
    payload["tenant"] = e.tenant;
    payload["data"] = std::move(data);  // GitHub allows at most 10 top-level keys: we send 7
    ordered_json body;
    body["event_type"] = e.type;
    body["client_payload"] = std::move(payload);
    r.body = body.dump();
    r.headers.emplace_back("Accept", "application/vnd.github+json");
    r.headers.emplace_back("X-GitHub-Api-Version", "2022-11-28");
    if (!s.github_token.empty())
      r.headers.emplace_back("Authorization", "Bearer " + s.github_token);
    r.headers.emplace_back("X-Sandboxd-Delivery", e.uid);
    return r;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "webhook " + s.id + ": unknown kind '" + s.kind + "' (generic, github, zapier)");
}

}  // namespace sbx::events
