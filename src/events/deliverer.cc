// The delivery worker pool (see deliverer.h).
#include "events/deliverer.h"

#include <algorithm>

#include "common/log.h"
#include "common/util.h"
#include "events/payload.h"

namespace sbx::events {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

Deliverer::Deliverer(store::Store* store, DelivererOptions options)
    : repo_(store), options_(std::move(options)) {
  if (options_.workers < 1) options_.workers = 1;
  if (options_.lease_ms <= 0) options_.lease_ms = 2LL * options_.timeouts.total_ms + 30000;
  if (!options_.unit_random) options_.unit_random = DefaultUnitRandom;
  InitCurlOnce();
}

Deliverer::~Deliverer() { Stop(); }

Result<void> Deliverer::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Ok();
  ASSIGN_OR_RETURN(int reset, repo_.ResetInFlight());
  if (reset > 0) log::Info("webhook_inflight_requeued", {{"rows", reset}});
  stopping_ = false;
  started_ = true;
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { Work(i); });
  return Ok();
}

void Deliverer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  started_ = false;
}

void Deliverer::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

void Deliverer::Work(int index) {
  HttpSender sender(options_.timeouts);
  while (true) {
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      gen = generation_;
    }
    auto claimed = repo_.ClaimDue(NowUnixMs(), options_.lease_ms);
    if (!claimed.ok()) {
      log::Error("webhook_claim_failed",
                 {{"worker", index}, {"error", claimed.error().ToString()}});
      WaitForWork(gen);
      continue;
    }
    if (!*claimed) {
      WaitForWork(gen);
      continue;
    }
    DeliverOne(sender, **claimed);
    Wake();  // the subscription is free again; its next row may be due
  }
}

void Deliverer::WaitForWork(uint64_t seen_generation) {
  int64_t wait_ms = options_.idle_poll_ms;
  auto due = repo_.NextDueAt();
  if (due.ok() && *due) {
    int64_t until = **due - NowUnixMs();
    if (until > 0) wait_ms = std::min<int64_t>(wait_ms, until);
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 1)),
               [&] { return stopping_ || generation_ != seen_generation; });
}

void Deliverer::DeliverOne(HttpSender& sender, const store::Delivery& d) {
  const auto& sub = d.subscription;
  int64_t now_ms = NowUnixMs();
  store::AttemptResult a;
  a.attempt = d.outbox.attempts + 1;
  a.time_ms = now_ms;
  bool permanent = false;
  if (!sub.enabled) {
    a.error = "webhook disabled";
    permanent = true;
  } else {
    auto req = BuildRequest(sub, d.event, now_ms / 1000);
    if (!req.ok()) {
      a.error = req.error().message;
      permanent = true;
    } else {
      SendResult res = sender.Send(*req);
      a.status_code = res.status_code;
      a.latency_ms = res.latency_ms;
      a.error = res.error;
    }
  }
  bool ok = !permanent && a.status_code >= 200 && a.status_code < 300;
  attempts_++;
  if (ok) {
    a.new_state = "delivered";
    delivered_++;
  } else {
    failed_++;
    RetryDecision decision = DecideRetry(options_.backoff, a.attempt, options_.unit_random());
    if (permanent || decision.dead) {
      a.new_state = "dead";
      dead_++;
    } else {
      a.new_state = "pending";
      a.next_attempt_at_ms = NowUnixMs() + decision.delay_ms;
    }
  }
  auto r = repo_.CompleteAttempt(d.outbox.id, a);
  if (options_.on_attempt)
    options_.on_attempt(d.event.type, a.new_state == "pending" ? "retry" : a.new_state);
  // Never log the subscription's secret, token or the body: ids, status and timing only.
  log::Write(ok ? log::Level::kDebug : log::Level::kWarn, "webhook_attempt",
             {{"delivery", d.outbox.id},
              {"event_id", d.event.uid},
              {"webhook_id", sub.id},
              {"kind", sub.kind},
              {"attempt", a.attempt},
              {"status_code", a.status_code},
              {"latency_ms", a.latency_ms},
              {"state", a.new_state},
              {"error", a.error}});
  if (!r.ok()) {
    // The row stays in flight until its lease expires (or the next start): sent again later.
    log::Error("webhook_record_failed",
               {{"delivery", d.outbox.id}, {"error", r.error().ToString()}});
    return;
  }
  if (ok) {
    std::lock_guard<std::mutex> lock(mu_);
    double lat = static_cast<double>(NowUnixMs() - d.event.time_ms);
    if (latencies_.size() < kLatencyWindow) {
      latencies_.push_back(lat);
    } else {
      latencies_[latency_next_] = lat;
      latency_next_ = (latency_next_ + 1) % kLatencyWindow;
    }
  }
}

Result<store::OutboxRecord> Deliverer::Redeliver(int64_t outbox_id) {
  ASSIGN_OR_RETURN(auto row, repo_.Redeliver(outbox_id, NowUnixMs()));
  log::Info("webhook_redeliver", {{"delivery", outbox_id}, {"webhook_id", row.subscription_id}});
  Wake();
  return row;
}

Result<DelivererStats> Deliverer::Stats() {
  DelivererStats s;
  ASSIGN_OR_RETURN(s.outbox, repo_.CountByState());
  s.attempts = attempts_;
  s.delivered = delivered_;
  s.failed_attempts = failed_;
  s.dead = dead_;
  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lat = latencies_;
  }
  s.event_to_delivery_p50_ms = Percentile(lat, 0.5);
  s.event_to_delivery_p99_ms = Percentile(lat, 0.99);
  return s;
}

}  // namespace sbx::events
