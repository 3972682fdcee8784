// Deliverer: sends the outbox to the webhooks, at least once.
//
// A pool of worker threads claims due outbox rows (store::WebhookRepo::ClaimDue: atomic, with
// a lease, at most one row in flight per subscription, so one dead receiver occupies at most
// one worker), builds the request (payload.h), sends it (http_sender.h: connect and total
// timeouts bound what a slow receiver costs), records the attempt in the delivery log, and
// moves the row to delivered, to pending with a backoff delay (backoff.h), or to dead after
// the last attempt. Dead rows wait for Redeliver. A row whose subscription is disabled goes
// dead with the error "webhook disabled".
//
// At least once: a row is marked delivered only after a 2xx answer. Rows left in flight by a
// daemon that was killed are returned to pending by Start(), so a delivery interrupted by a
// crash is sent again (receivers deduplicate on X-Sandboxd-Delivery / client_payload.event_id).
// There is no ordering guarantee between events.
//
// Thread safety: every public method may be called from any thread. The Store must outlive
// the Deliverer; Stop() (or the destructor) joins the workers, waiting at most for the sends
// in progress (each bounded by the total timeout).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/backoff.h"
#include "events/http_sender.h"
#include "store/store.h"
#include "store/webhooks.h"

namespace sbx::events {

struct DelivererOptions {
  int workers = 4;
  BackoffPolicy backoff;
  SendTimeouts timeouts;
  // How long a claim is exclusive; 0: twice the total timeout plus 30 s. After it expires the
  // row may be claimed again (only when a worker hangs, or another process shares the DB).
  int64_t lease_ms = 0;
  int idle_poll_ms = 1000;  // the longest a worker sleeps without a wake-up
  std::function<double()> unit_random = DefaultUnitRandom;  // jitter source, [0, 1)
  // Called after every attempt (on a worker thread; must be cheap), for metrics: the event
  // type and the outcome: "delivered", "retry" (will be tried again) or "dead".
  std::function<void(const std::string& event_type, const std::string& outcome)> on_attempt;
};

struct DelivererStats {
  std::map<std::string, int64_t> outbox;  // rows by state: pending, in_flight, delivered, dead
  int64_t attempts = 0;                   // since Start
  int64_t delivered = 0;
  int64_t failed_attempts = 0;
  int64_t dead = 0;
  // From the event's time to its successful delivery, over the last kLatencyWindow deliveries.
  double event_to_delivery_p50_ms = 0;
  double event_to_delivery_p99_ms = 0;
};

class Deliverer {
 public:
  static constexpr size_t kLatencyWindow = 4096;

  Deliverer(store::Store* store, DelivererOptions options);
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // Returns in-flight rows of a previous process to pending and starts the workers.
  Result<void> Start();
  void Stop();
  // New rows are due: wake idle workers (EventBus::SetOutboxListener).
  void Wake();
  // A dead (or delivered) row goes back to pending, due now.
  Result<store::OutboxRecord> Redeliver(int64_t outbox_id);
  Result<DelivererStats> Stats();

 private:
  void Work(int index);
  void DeliverOne(HttpSender& sender, const store::Delivery& d);
  void WaitForWork(uint64_t seen_generation);

  store::WebhookRepo repo_;
  DelivererOptions options_;
  std::vector<std::thread> workers_;

  std::mutex mu_;  // guards generation_, stopping_, latencies_
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // bumped by Wake and by every completed attempt
  bool stopping_ = false;
  bool started_ = false;
  std::vector<double> latencies_;  // ring of event-to-delivery latencies
  size_t latency_next_ = 0;

  std::atomic<int64_t> attempts_{0}, delivered_{0}, failed_{0}, dead_{0};
};

}  // namespace sbx::events
