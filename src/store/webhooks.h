// WebhookRepo: webhook subscriptions, the delivery outbox and the delivery log (migration 3).
//
// Outbox rows move pending -> in_flight (claimed by one delivery worker, with a lease) ->
// delivered | pending (retry later) | dead (attempts exhausted; Redeliver puts it back).
// A row left in_flight by a killed daemon is returned to pending by ResetInFlight at start, or
// claimed again once its lease has expired: delivery is at least once.
//
// Subscription secrets and GitHub tokens are stored in plaintext because delivery needs them
// to sign and authenticate; callers must never log or return them (see ToPublicJson in
// events/subscriptions, docs/events.md).
//
// Thread safety: any number of threads; every call runs under the Store's lock, so a claim is
// atomic: two workers never claim the same row. The Store must outlive the WebhookRepo.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/events.h"
#include "store/store.h"

namespace sbx::store {

struct SubscriptionRecord {
  std::string id;                  // whk_<12 hex>
  std::string tenant;              // "" : the administrator's, sees every tenant's events
  std::string kind;                // generic | github | zapier
  std::string url;                 // generic and zapier
  std::string events_json = "[]";  // JSON array of event types; [] or ["*"]: all
  std::string secret;              // HMAC key (generic, zapier); never returned
  std::string github_owner, github_repo;
  std::string github_token;     // never returned
  std::string github_api_base;  // "" : https://api.github.com
  bool enabled = true;
  int64_t created_at_ms = 0;
  std::string description;
};

struct OutboxRecord {
  int64_t id = 0;
  int64_t event_id = 0;
  std::string subscription_id;
  std::string state;  // pending | in_flight | delivered | dead
  int attempts = 0;   // attempts completed
  int64_t next_attempt_at_ms = 0;
  int64_t lease_until_ms = 0;
  int last_status = 0;  // HTTP status of the last attempt, 0 if none was received
  std::string last_error;
  int64_t created_at_ms = 0;
  int64_t delivered_at_ms = 0;
};

// What a worker needs to send one outbox row.
struct Delivery {
  OutboxRecord outbox;
  EventRecord event;
  SubscriptionRecord subscription;
};

struct DeliveryLogRecord {
  int64_t id = 0;
  int64_t outbox_id = 0;
  int attempt = 0;
  int64_t time_ms = 0;
  int status_code = 0;  // 0: no HTTP answer (refused, timeout, DNS)
  double latency_ms = 0;
  std::string error;
};

// The result of one attempt and what it does to the row.
struct AttemptResult {
  int attempt = 0;  // 1-based
  int64_t time_ms = 0;
  int status_code = 0;
  double latency_ms = 0;
  std::string error;
  std::string new_state;           // delivered | pending | dead
  int64_t next_attempt_at_ms = 0;  // for pending
};

struct OutboxFilter {
  std::string state;            // "" any
  std::string subscription_id;  // "" any
  int64_t event_id = 0;         // 0 any
  int limit = 100;
};

class WebhookRepo {
 public:
  explicit WebhookRepo(Store* store) : store_(store) {}

  // Subscriptions. Insert: kAlreadyExists on a duplicate id. Delete removes its outbox rows.
  Result<void> InsertSubscription(const SubscriptionRecord& r);
  Result<void> UpdateSubscription(const SubscriptionRecord& r);  // by id; kNotFound
  Result<std::optional<SubscriptionRecord>> GetSubscription(const std::string& id);
  // The tenant's subscriptions, or all when tenant is "", oldest first.
  Result<std::vector<SubscriptionRecord>> ListSubscriptions(const std::string& tenant);
  Result<void> DeleteSubscription(const std::string& id);  // kNotFound

  // Outbox. Returns in_flight rows to pending (daemon start); the number of rows.
  Result<int> ResetInFlight();
  // Claims the oldest due row whose subscription has no other row in flight: state in_flight,
  // lease until now + lease_ms. nullopt when nothing is due.
  Result<std::optional<Delivery>> ClaimDue(int64_t now_ms, int64_t lease_ms);
  // The earliest next_attempt_at of pending rows, nullopt if none.
  Result<std::optional<int64_t>> NextDueAt();
  // Records one attempt in the delivery log and applies it to the row, in one transaction.
  Result<void> CompleteAttempt(int64_t outbox_id, const AttemptResult& a);
  // A dead (or delivered) row goes back to pending with attempts 0, due now.
  // kNotFound; kFailedPrecondition while pending or in flight.
  Result<OutboxRecord> Redeliver(int64_t outbox_id, int64_t now_ms);
  Result<std::optional<OutboxRecord>> GetOutbox(int64_t id);
  // Newest first.
  Result<std::vector<OutboxRecord>> ListOutbox(const OutboxFilter& f);
  Result<std::vector<DeliveryLogRecord>> DeliveryLog(int64_t outbox_id);
  // Row counts by state.
  Result<std::map<std::string, int64_t>> CountByState();

 private:
  Store* store_;
};

}  // namespace sbx::store
