// Payload: the HTTP request that delivers one event to one subscription, per kind. Pure (no
// I/O): the deliverer sends what this builds, and tests check its shape.
//
//   generic  POST url, body {"id","type","status","time","sandbox_id","tenant","data"},
//            headers X-Sandboxd-Event, X-Sandboxd-Delivery (the event uid, the same on every
//            retry: receivers deduplicate on it), X-Sandboxd-Timestamp (unix seconds of this
//            attempt), and with a secret X-Sandboxd-Signature-256 (timestamp + "." + body) and
//            X-Hub-Signature-256 (body only, for receivers written for GitHub).
//   zapier   the same request to the catch-hook URL (Zapier ignores the extra headers).
//   github   POST {api_base}/repos/{owner}/{repo}/dispatches with Authorization: Bearer TOKEN,
//            Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28, body
//            {"event_type": TYPE, "client_payload": {"sandbox_id","status","event_id","type",
//            "time","tenant","data"}}.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/events.h"
#include "store/webhooks.h"

namespace sbx::events {

inline constexpr const char* kDefaultGithubApi = "https://api.github.com";
inline constexpr const char* kUserAgent = "sandboxd-webhooks/0.1";

struct OutgoingRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The value of a header by name (case-insensitive), "" if absent. For tests and logs.
  std::string Header(const std::string& name) const;
};

// The JSON every generic and Zapier receiver gets (compact, keys in a fixed order).
std::string GenericBody(const store::EventRecord& e);
// The request delivering `e` to `s` at `now_s` (the timestamp that is signed).
Result<OutgoingRequest> BuildRequest(const store::SubscriptionRecord& s,
                                     const store::EventRecord& e, int64_t now_s);

}  // namespace sbx::events
