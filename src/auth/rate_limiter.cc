// RateLimiter: sliding windows of 60 buckets per key (see rate_limiter.h).
#include "auth/rate_limiter.h"

#include <algorithm>

namespace sbx::auth {
namespace {

constexpr int64_t kMinuteBucketMs = 1000;
constexpr int64_t kHourBucketMs = 60 * 1000;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kSweepEveryMs = 60 * 1000;

int64_t CeilSeconds(int64_t ms) { return ms <= 0 ? 0 : (ms + 999) / 1000; }

}  // namespace

void RateLimiter::Window::Advance(int64_t bucket) {
  if (bucket <= head) return;
  if (bucket - head >= kBuckets) {
    counts.fill(0);
    total = 0;
  } else {
    for (int64_t b = head + 1; b <= bucket; ++b) {
      total -= counts[Slot(b)];
      counts[Slot(b)] = 0;
    }
  }
  head = bucket;
}

int64_t RateLimiter::Window::BelowAtMs(int64_t limit, int64_t bucket_ms) const {
  int64_t left = total;
  // Bucket b leaves the window when bucket b + kBuckets begins.
  for (int64_t b = head - kBuckets + 1; b <= head; ++b) {
    if (left < limit) return (b - 1 + kBuckets) * bucket_ms;
    left -= counts[Slot(b)];
  }
  return (head + kBuckets) * bucket_ms;
}

int64_t RateLimiter::Window::EmptyAtMs(int64_t bucket_ms) const {
  for (int64_t b = head; b > head - kBuckets; --b)
    if (counts[Slot(b)] != 0) return (b + kBuckets) * bucket_ms;
  return 0;
}

std::vector<std::pair<std::string, std::string>> RateLimitHeaders(const RateDecision& d) {
  std::vector<std::pair<std::string, std::string>> h;
  if (!d.enforced) return h;
  h.emplace_back("X-RateLimit-Limit", std::to_string(d.limit));
  h.emplace_back("X-RateLimit-Remaining", std::to_string(d.remaining));
  h.emplace_back("X-RateLimit-Reset", std::to_string(d.reset_seconds));
  if (!d.allowed) h.emplace_back("Retry-After", std::to_string(d.retry_after_seconds));
  return h;
}

std::string RateLimitMessage(const RateDecision& d) {
  return "rate limit exceeded: at most " + std::to_string(d.limit) + " requests per " +
         (d.window_seconds == 60 ? "minute" : "hour") + " per API key; retry in " +
         std::to_string(d.retry_after_seconds) + " s";
}

RateLimiter::RateLimiter(spec::RateLimit config, size_t max_tracked_keys)
    : config_(config), max_tracked_keys_(std::max<size_t>(1, max_tracked_keys)) {}

size_t RateLimiter::TrackedKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

void RateLimiter::SweepLocked(int64_t now_ms) {
  last_sweep_ms_ = now_ms;
  std::erase_if(keys_, [&](const auto& kv) { return now_ms - kv.second.last_seen_ms >= kHourMs; });
}

RateLimiter::KeyState& RateLimiter::StateLocked(const std::string& key_id, int64_t now_ms) {
  if (now_ms - last_sweep_ms_ >= kSweepEveryMs) SweepLocked(now_ms);
  auto it = keys_.find(key_id);
  if (it != keys_.end()) return it->second;
  if (keys_.size() >= max_tracked_keys_) {
    SweepLocked(now_ms);
    if (keys_.size() >= max_tracked_keys_) {
      auto lru = std::min_element(keys_.begin(), keys_.end(), [](const auto& a, const auto& b) {
        return a.second.last_seen_ms < b.second.last_seen_ms;
      });
      keys_.erase(lru);
    }
  }
  return keys_[key_id];
}

RateDecision RateLimiter::Check(const std::string& key_id, int64_t now_ms) {
  RateDecision d;
  if (!config_.enabled) return d;
  d.enforced = true;
  const int64_t rpm = config_.requests_per_minute;
  const int64_t rph = config_.requests_per_hour;

  std::lock_guard<std::mutex> lock(mu_);
  KeyState& s = StateLocked(key_id, now_ms);
  s.last_seen_ms = std::max(s.last_seen_ms, now_ms);
  s.minute.Advance(now_ms / kMinuteBucketMs);
  s.hour.Advance(now_ms / kHourBucketMs);

  const bool minute_ok = s.minute.total < rpm;
  const bool hour_ok = s.hour.total < rph;
  if (minute_ok && hour_ok) {
    s.minute.Add();
    s.hour.Add();
    // Report the window with fewer requests left (the minute window on a tie).
    bool use_hour = rph - s.hour.total < rpm - s.minute.total;
    const Window& w = use_hour ? s.hour : s.minute;
    d.allowed = true;
    d.limit = use_hour ? rph : rpm;
    d.remaining = d.limit - w.total;
    d.window_seconds = use_hour ? 3600 : 60;
    d.reset_seconds = CeilSeconds(w.EmptyAtMs(use_hour ? kHourBucketMs : kMinuteBucketMs) - now_ms);
    return d;
  }

  // Denied: report the window that keeps the client waiting longest.
  int64_t minute_at = minute_ok ? 0 : s.minute.BelowAtMs(rpm, kMinuteBucketMs);
  int64_t hour_at = hour_ok ? 0 : s.hour.BelowAtMs(rph, kHourBucketMs);
  bool use_hour = hour_at > minute_at;
  d.allowed = false;
  d.limit = use_hour ? rph : rpm;
  d.remaining = 0;
  d.window_seconds = use_hour ? 3600 : 60;
  d.retry_after_seconds = std::max<int64_t>(1, CeilSeconds(std::max(minute_at, hour_at) - now_ms));
  const Window& w = use_hour ? s.hour : s.minute;
  d.reset_seconds =
      std::max(d.retry_after_seconds,
               CeilSeconds(w.EmptyAtMs(use_hour ? kHourBucketMs : kMinuteBucketMs) - now_ms));
  return d;
}

}  // namespace sbx::auth
