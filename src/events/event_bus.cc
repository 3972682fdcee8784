// EventBus: durable publish, in-process dispatch, waiting for new events (see event_bus.h).
#include "events/event_bus.h"

#include "common/log.h"
#include "common/util.h"

namespace sbx::events {

EventBus::EventBus(store::Store* store) : repo_(store) {
  auto max = repo_.MaxId();
  last_id_ = max.ok() ? *max : 0;
  dispatcher_ = std::thread([this] { Dispatch(); });
  dispatcher_id_ = dispatcher_.get_id();
}

EventBus::~EventBus() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  newer_cv_.notify_all();
  dispatcher_.join();
}

Result<store::EventRecord> EventBus::Publish(const Event& e) {
  store::EventRecord rec;
  rec.uid = "evt_" + RandomHex(8);
  rec.type = EventTypeName(e.type);
  rec.sandbox_id = e.sandbox_id;
  rec.tenant = e.tenant;
  rec.time_ms = NowUnixMs();
  rec.data_json = e.data.is_object() ? e.data.dump() : nlohmann::json::object().dump();
  rec.webhooks = e.webhooks;
  int rows = 0;
  ASSIGN_OR_RETURN(rec, repo_.InsertWithOutbox(std::move(rec), &rows));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rec.id > last_id_) last_id_ = rec.id;
    if (queue_.size() >= kMaxQueued) {
      log::Warn("event_dropped_in_process",
                {{"event_id", queue_.front().uid}, {"reason", "subscriber queue full"}});
      queue_.pop_front();
    }
    queue_.push_back(rec);
  }
  queue_cv_.notify_one();
  newer_cv_.notify_all();
  if (rows > 0 && outbox_listener_) outbox_listener_();
  return rec;
}

uint64_t EventBus::Subscribe(std::optional<EventType> type, EventCallback cb) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t h = next_handle_++;
  subs_[h] = Sub{type, std::make_shared<EventCallback>(std::move(cb))};
  return h;
}

void EventBus::Unsubscribe(uint64_t handle) {
  std::unique_lock<std::mutex> lock(mu_);
  subs_.erase(handle);
  if (std::this_thread::get_id() == dispatcher_id_) return;  // from inside a callback
  idle_cv_.wait(lock, [&] { return running_handle_ != handle; });
}

void EventBus::SetOutboxListener(std::function<void()> listener) {
  outbox_listener_ = std::move(listener);
}

void EventBus::Dispatch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything was handed out
    store::EventRecord rec = std::move(queue_.front());
    queue_.pop_front();
    auto type = ParseEventType(rec.type);
    // Snapshot the handles, then look each one up again before calling it, so that an
    // Unsubscribe that returned is never followed by a call.
    std::vector<uint64_t> handles;
    for (const auto& [h, sub] : subs_) handles.push_back(h);
    for (uint64_t h : handles) {
      auto it = subs_.find(h);
      if (it == subs_.end()) continue;
      if (it->second.type && (!type.ok() || *it->second.type != *type)) continue;
      auto cb = it->second.cb;
      running_handle_ = h;
      lock.unlock();
      (*cb)(rec);
      lock.lock();
      running_handle_ = 0;
      idle_cv_.notify_all();
    }
  }
}

Result<std::vector<store::EventRecord>> EventBus::Query(const store::EventFilter& f) {
  return repo_.Query(f);
}

Result<std::vector<store::EventRecord>> EventBus::WaitForNewer(int64_t since_id, int timeout_ms,
                                                               store::EventFilter f) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t gen = wake_generation_;
    newer_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                       [&] { return last_id_ > since_id || stopping_ || wake_generation_ != gen; });
  }
  f.since_id = since_id;
  f.newest_first = false;
  return repo_.Query(f);
}

void EventBus::WakeWaiters() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_generation_;
  }
  newer_cv_.notify_all();
}

int64_t EventBus::last_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_id_;
}

}  // namespace sbx::events
