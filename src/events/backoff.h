// Backoff: the retry schedule of webhook deliveries, as a pure function (STYLE practice 14).
//
// After attempt n (1-based) fails, the next attempt waits a delay drawn uniformly from
// [0, min(cap, base * 2^(n-1))] ("full jitter": retries of many events to one receiver spread
// out instead of arriving in waves). After max_attempts failed attempts the delivery is dead:
// it stays in the outbox as a dead letter until someone redelivers it by hand.
//
// Thread safety: pure; the random source is the caller's.
#pragma once

#include <cstdint>
#include <functional>

namespace sbx::events {

struct BackoffPolicy {
  int64_t base_ms = 5000;
  int64_t cap_ms = 3600 * 1000;  // one hour
  // 12 attempts: the 11 waits have ceilings 5 s, 10 s, ... 2560 s, 3600 s, which add up to
  // 2 h 25 min at most (about half of that in expectation).
  int max_attempts = 12;
};

// What to do after an attempt.
struct RetryDecision {
  bool dead = false;     // give up: dead letter
  int64_t delay_ms = 0;  // when !dead: wait this long before the next attempt
};

// The upper bound of the delay after failed attempt `attempt` (1-based): min(cap, base*2^(n-1)).
int64_t BackoffCeilingMs(const BackoffPolicy& p, int attempt);
// The decision after failed attempt `attempt`; `unit` is a uniform random number in [0, 1).
RetryDecision DecideRetry(const BackoffPolicy& p, int attempt, double unit);
// A uniform [0, 1) source for DecideRetry: a seeded PRNG per thread (not cryptographic; jitter
// only needs to spread retries).
double DefaultUnitRandom();

}  // namespace sbx::events
