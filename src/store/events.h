// EventRepo: the events table (migration 3), the durable event log. An event and the outbox
// rows of every webhook subscription that wants it are written in one transaction, so an event
// that is stored is always delivered (store/webhooks.h has the outbox's other half).
//
// Thread safety: any number of threads; every call runs under the Store's lock
// (Store::WithDb). The Store must outlive the EventRepo.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace sbx::store {

struct EventRecord {
  int64_t id = 0;          // monotonically increasing; the SSE cursor (Last-Event-ID)
  std::string uid;         // evt_<16 hex>: the id receivers see (X-Sandboxd-Delivery)
  std::string type;        // events::EventType name: "execution_complete"
  std::string sandbox_id;  // "" when none (workflow events)
  std::string tenant;      // "" for the administrator
  int64_t time_ms = 0;     // unix ms
  std::string data_json = "{}";
  bool webhooks = true;  // false: stored and streamed, but no outgoing delivery
};

struct EventFilter {
  std::string type;           // "" any
  std::string sandbox_id;     // "" any
  std::string tenant;         // "" any (administrator); else only that tenant's events
  int64_t since_id = 0;       // events with id > since_id
  int64_t since_ms = 0;       // events with time >= since_ms (0: any)
  int limit = 100;            // 1..1000
  bool newest_first = false;  // false: oldest first (streaming); true: the latest `limit`
};

class EventRepo {
 public:
  explicit EventRepo(Store* store) : store_(store) {}

  // Inserts `e` (its id is assigned and returned in the record) and, when e.webhooks, one
  // pending outbox row for every enabled subscription that matches: its tenant is "" or the
  // event's, and its events filter is [] or contains the type or "*". One transaction.
  // `outbox_rows` receives the number of outbox rows written.
  Result<EventRecord> InsertWithOutbox(EventRecord e, int* outbox_rows);
  Result<std::optional<EventRecord>> Get(int64_t id);
  Result<std::optional<EventRecord>> GetByUid(const std::string& uid);
  Result<std::vector<EventRecord>> Query(const EventFilter& f);
  // The highest event id (0 when there is none).
  Result<int64_t> MaxId();

 private:
  Store* store_;
};

}  // namespace sbx::store
