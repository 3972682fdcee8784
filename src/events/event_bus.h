// EventBus: the durable event log with in-process subscribers (the guide's
// `event_bus.subscribe`).
//
// Publish() writes the event and the outbox rows of every webhook subscription that wants it
// in ONE SQLite transaction (store::EventRepo::InsertWithOutbox): once Publish returns ok, the
// event will be delivered at least once, whatever happens to the process. It then hands the
// event to a dispatcher thread, which calls the in-process subscribers in publication order;
// a slow subscriber delays other subscribers, never Publish. In-process delivery is best
// effort (at most kMaxQueued events wait; beyond that the oldest are dropped with a warning):
// the durable log, read with Query/WaitForNewer, is the record.
//
// Thread safety: every method may be called from any thread. Callbacks run on the dispatcher
// thread, never under a lock of the bus, so they may call Publish or Unsubscribe. The Store
// must outlive the bus.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event_type.h"
#include "store/events.h"
#include "store/store.h"

namespace sbx::events {

struct Event {
  EventType type = EventType::kOnAlert;
  std::string sandbox_id;
  std::string tenant;
  nlohmann::json data = nlohmann::json::object();
  // false: stored, streamed and given to in-process subscribers, but sent to no webhook
  // (LifecycleConfig.enable_webhooks = false).
  bool webhooks = true;
};

using EventCallback = std::function<void(const store::EventRecord&)>;

class EventBus {
 public:
  static constexpr size_t kMaxQueued = 10000;

  explicit EventBus(store::Store* store);
  ~EventBus();  // stops the dispatcher after the queued events were handed out
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Stores the event (uid evt_<16 hex>, time now) with its outbox rows; returns the record.
  Result<store::EventRecord> Publish(const Event& e);

  // Calls `cb` for every event of `type` (nullopt: every event) published from now on.
  // Returns a handle for Unsubscribe.
  uint64_t Subscribe(std::optional<EventType> type, EventCallback cb);
  // After it returns, `cb` is not running and will not be called again (unless called from the
  // callback itself, when it returns after the current call).
  void Unsubscribe(uint64_t handle);

  // Called (on the publishing thread, after the commit) whenever Publish wrote outbox rows:
  // the deliverer's wake-up. One listener; set before publishing starts.
  void SetOutboxListener(std::function<void()> listener);

  Result<std::vector<store::EventRecord>> Query(const store::EventFilter& f);
  // Waits until an event newer than since_id exists or timeout_ms passes, then returns the
  // events after since_id that match `f` (f.since_id is replaced). For SSE streaming with
  // Last-Event-ID: the id of a record is its `id` (seq).
  Result<std::vector<store::EventRecord>> WaitForNewer(int64_t since_id, int timeout_ms,
                                                       store::EventFilter f = {});
  // Wakes every WaitForNewer (at shutdown, so SSE streams end promptly).
  void WakeWaiters();

  int64_t last_id();

 private:
  void Dispatch();

  store::EventRepo repo_;
  std::function<void()> outbox_listener_;

  std::mutex mu_;                     // guards everything below
  std::condition_variable queue_cv_;  // dispatcher: new events or stopping
  std::condition_variable newer_cv_;  // WaitForNewer
  std::condition_variable idle_cv_;   // Unsubscribe: callback finished
  std::deque<store::EventRecord> queue_;
  struct Sub {
    std::optional<EventType> type;
    std::shared_ptr<EventCallback> cb;
  };
  std::map<uint64_t, Sub> subs_;
  uint64_t next_handle_ = 1;
  uint64_t running_handle_ = 0;  // the subscriber being called now, 0 if none
  int64_t last_id_ = 0;
  uint64_t wake_generation_ = 0;
  bool stopping_ = false;
  std::thread dispatcher_;
  std::thread::id dispatcher_id_;
};

}  // namespace sbx::events
