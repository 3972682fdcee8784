// The retry schedule (see backoff.h).
#include "events/backoff.h"

#include <algorithm>
#include <random>

namespace sbx::events {

int64_t BackoffCeilingMs(const BackoffPolicy& p, int attempt) {
  int64_t delay = std::max<int64_t>(p.base_ms, 0);
  for (int i = 1; i < attempt && delay < p.cap_ms; ++i) delay *= 2;  // no overflow: stops at cap
  return std::min(delay, p.cap_ms);
}

RetryDecision DecideRetry(const BackoffPolicy& p, int attempt, double unit) {
  if (attempt >= p.max_attempts) return {true, 0};
  unit = std::clamp(unit, 0.0, 1.0);
  double ceiling = static_cast<double>(BackoffCeilingMs(p, attempt));
  return {false, static_cast<int64_t>(unit * ceiling)};
}

double DefaultUnitRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace sbx::events
