// RateLimiter: per-key request limits from templates.json `security.rateLimit` (requests per
// minute and per hour). Pure: the caller passes the time, so tests drive the clock.
//
// Algorithm: two sliding windows per key, each a ring of 60 counters: the minute window counts
// requests in 1 s buckets, the hour window in 1 min buckets. A request is allowed when both
// windows are below their limits; only allowed requests are counted. Chosen over token buckets
// because "N requests per minute" then means what it says (never more than N in the last 60 s,
// to within one bucket) rather than allowing a burst of N on top of a refilled N, and because a
// denied client gets an exact time at which the next request will pass. Memory is fixed per key
// (about 0.5 KiB) and the buckets make a bucket's worth of leniency (1 s, 1 min) at the far edge
// of each window: a request leaves the window between 59 s and 60 s after it was made.
//
// Memory is bounded: keys idle for an hour (both windows empty) are evicted by a sweep that runs
// at most once a minute; beyond max_tracked_keys the least recently seen key is evicted (it
// loses its counts, which only matters with that many keys active within one hour).
//
// Thread safety: Check and TrackedKeys may be called from any thread (one internal mutex).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "spec/spec.h"

namespace sbx::auth {

struct RateDecision {
  bool allowed = true;
  bool enforced = false;            // false when rate limiting is disabled: send no headers
  int64_t limit = 0;                // of the reported window (the tighter one)
  int64_t remaining = 0;            // requests left in that window after this one
  int64_t reset_seconds = 0;        // until that window's quota is whole again
  int64_t retry_after_seconds = 0;  // >= 1 when denied, 0 when allowed
  int64_t window_seconds = 0;       // 60 or 3600: which window is reported
};

// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (delta seconds), and Retry-After
// (integer seconds) when denied. Empty when the decision is not enforced.
std::vector<std::pair<std::string, std::string>> RateLimitHeaders(const RateDecision& d);
// "rate limit exceeded: at most 100 requests per minute per API key; retry in 50 s".
std::string RateLimitMessage(const RateDecision& d);

class RateLimiter {
 public:
  explicit RateLimiter(spec::RateLimit config, size_t max_tracked_keys = 100000);

  // Counts the request if allowed. `now_ms` is unix ms (any monotonic-enough clock works; a
  // clock that steps back counts the request in the newest bucket).
  RateDecision Check(const std::string& key_id, int64_t now_ms);
  size_t TrackedKeys() const;

 private:
  static constexpr int kBuckets = 60;
  struct Window {
    int64_t head = 0;  // absolute index of the newest bucket
    int64_t total = 0;
    std::array<uint32_t, kBuckets> counts{};
    void Advance(int64_t bucket);
    void Add() {
      ++counts[Slot(head)];
      ++total;
    }
    // Unix ms at which total drops below `limit` / to zero, given no new requests.
    int64_t BelowAtMs(int64_t limit, int64_t bucket_ms) const;
    int64_t EmptyAtMs(int64_t bucket_ms) const;
    static size_t Slot(int64_t b) {
      return static_cast<size_t>(((b % kBuckets) + kBuckets) % kBuckets);
    }
  };
  struct KeyState {
    Window minute;  // 1 s buckets
    Window hour;    // 60 s buckets
    int64_t last_seen_ms = 0;
  };

  void SweepLocked(int64_t now_ms);
  KeyState& StateLocked(const std::string& key_id, int64_t now_ms);

  const spec::RateLimit config_;
  const size_t max_tracked_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, KeyState> keys_;  // guarded by mu_
  int64_t last_sweep_ms_ = 0;                       // guarded by mu_
};

}  // namespace sbx::auth
