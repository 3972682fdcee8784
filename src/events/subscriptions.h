// Subscriptions: the API's JSON for webhook subscriptions, validated in one function, and the
// public view that never contains a secret or a token.
//
// Request: {"kind": "generic"|"github"|"zapier", "url": "https://...", "events": ["*"] or
// [types], "secret": "...", "repository": "owner/repo", "token": "ghp_...",
// "api_base": "https://github.example.com/api/v3", "enabled": true, "description": "..."}.
// A generic or zapier subscription without a secret gets a generated one (whsec_<32 hex>),
// returned once in the create answer (CreatedSubscription::secret), never again.
//
// Thread safety: pure functions, except EnsureZapierFromEnv (the repo's).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "store/webhooks.h"

namespace sbx::events {

struct CreatedSubscription {
  store::SubscriptionRecord record;
  std::string secret;  // the generated secret to show once, "" if the caller chose one
};

// Validates a create request for `tenant`; the record gets a new id and created_at = now.
Result<CreatedSubscription> SubscriptionFromJson(const nlohmann::json& j,
                                                 const std::string& tenant);
// id, kind, url, events, enabled, created_at, description, repository, api_base,
// has_secret, has_token.
nlohmann::json ToPublicJson(const store::SubscriptionRecord& r);
nlohmann::json ToJson(const store::OutboxRecord& r);
nlohmann::json ToJson(const store::DeliveryLogRecord& r);
nlohmann::json ToJson(const store::EventRecord& e);

// The guide's `.env` setting: when ZAPIER_WEBHOOK_URL is set (`url` not empty), makes sure a
// zapier subscription "whk_env_zapier" for every event exists with that URL (created or
// updated); when it is empty, disables that subscription if it exists.
Result<void> EnsureZapierFromEnv(store::WebhookRepo& repo, const std::string& url);

}  // namespace sbx::events
