// RateLimiter with an injected clock; ConcurrencyGate is in concurrency_gate_test.cc.
#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

#include <map>

namespace sbx::auth {
namespace {

constexpr int64_t kT0 = 1'780'000'020'000;  // a whole minute, unix ms

spec::RateLimit Limits(int64_t per_minute, int64_t per_hour) {
  spec::RateLimit r;
  r.enabled = true;
  r.requests_per_minute = per_minute;
  r.requests_per_hour = per_hour;
  return r;
}

std::map<std::string, std::string> HeaderMap(const RateDecision& d) {
  std::map<std::string, std::string> m;
  for (auto& [k, v] : RateLimitHeaders(d)) m[k] = v;
  return m;
}

TEST(RateLimiterTest, DisabledAllowsEverythingWithoutHeaders) {
  RateLimiter rl(spec::RateLimit{});  // enabled = false
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(rl.Check("k", kT0).allowed);
  EXPECT_TRUE(RateLimitHeaders(rl.Check("k", kT0)).empty());
  EXPECT_EQ(rl.TrackedKeys(), 0u);
}

TEST(RateLimiterTest, HundredAndFirstRequestInAMinuteIsDenied) {
  RateLimiter rl(Limits(100, 5000));
  for (int i = 0; i < 100; ++i) {
    RateDecision d = rl.Check("k", kT0 + i * 10);  // all within the first second
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 100);
    EXPECT_EQ(d.remaining, 99 - i);
    EXPECT_EQ(d.reset_seconds, 60);
    EXPECT_EQ(d.retry_after_seconds, 0);
  }
  RateDecision d = rl.Check("k", kT0 + 10'000);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.window_seconds, 60);
  EXPECT_EQ(d.retry_after_seconds, 50);  // the first second's requests leave at kT0 + 60 s
  EXPECT_EQ(d.reset_seconds, 50);
  auto h = HeaderMap(d);
  EXPECT_EQ(h["X-RateLimit-Limit"], "100");
  EXPECT_EQ(h["X-RateLimit-Remaining"], "0");
  EXPECT_EQ(h["X-RateLimit-Reset"], "50");
  EXPECT_EQ(h["Retry-After"], "50");
  EXPECT_EQ(RateLimitMessage(d),
            "rate limit exceeded: at most 100 requests per minute per API key; retry in 50 s");

  // Denied requests do not count; other keys are independent.
  EXPECT_FALSE(rl.Check("k", kT0 + 59'999).allowed);
  EXPECT_EQ(rl.Check("k", kT0 + 59'999).retry_after_seconds, 1);  // always >= 1
  EXPECT_TRUE(rl.Check("other", kT0 + 10'000).allowed);

  // After the window, allowed again with a fresh quota.
  RateDecision later = rl.Check("k", kT0 + 60'000);
  ASSERT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 99);
}

TEST(RateLimiterTest, WindowSlidesRequestByRequest) {
  RateLimiter rl(Limits(3, 5000));
  ASSERT_TRUE(rl.Check("k", kT0).allowed);
  ASSERT_TRUE(rl.Check("k", kT0 + 20'000).allowed);
  ASSERT_TRUE(rl.Check("k", kT0 + 40'000).allowed);
  RateDecision d = rl.Check("k", kT0 + 50'000);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_seconds, 10);              // when the first request leaves
  EXPECT_EQ(d.reset_seconds, 50);                    // when the last one leaves
  ASSERT_TRUE(rl.Check("k", kT0 + 60'000).allowed);  // exactly one slot came back
  EXPECT_FALSE(rl.Check("k", kT0 + 61'000).allowed);
}

TEST(RateLimiterTest, HourlyCapIsIndependentOfTheMinute) {
  RateLimiter rl(Limits(100, 150));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl.Check("k", kT0 + i).allowed);
  EXPECT_FALSE(rl.Check("k", kT0 + 1000).allowed);  // minute cap
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += rl.Check("k", kT0 + 60'000 + i).allowed;
  EXPECT_EQ(allowed, 50);  // the hour has 150 in all
  RateDecision d = rl.Check("k", kT0 + 120'000);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.window_seconds, 3600);
  EXPECT_EQ(d.limit, 150);
  // The first minute's 100 leave the hour window at kT0 + 3600 s.
  EXPECT_EQ(d.retry_after_seconds, 3600 - 120);
  EXPECT_EQ(HeaderMap(d)["Retry-After"], std::to_string(3600 - 120));
  EXPECT_FALSE(rl.Check("k", kT0 + 3'599'999).allowed);
  EXPECT_TRUE(rl.Check("k", kT0 + 3'600'000).allowed);
}

TEST(RateLimiterTest, ReportsTheTighterWindow) {
  RateLimiter rl(Limits(100, 10));
  RateDecision d = rl.Check("k", kT0);
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 10);
  EXPECT_EQ(d.remaining, 9);
  EXPECT_EQ(d.window_seconds, 3600);
  EXPECT_EQ(d.reset_seconds, 3600);
}

TEST(RateLimiterTest, IdleKeysAreEvictedAndMemoryIsBounded) {
  RateLimiter rl(Limits(10, 100), 100);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rl.Check("k" + std::to_string(i), kT0).allowed);
  EXPECT_EQ(rl.TrackedKeys(), 100u);
  // Over the cap: the least recently seen key makes room.
  ASSERT_TRUE(rl.Check("new", kT0 + 1000).allowed);
  EXPECT_EQ(rl.TrackedKeys(), 100u);
  // An hour later everything idle is swept.
  ASSERT_TRUE(rl.Check("late", kT0 + 3600'000 + 1000).allowed);
  EXPECT_EQ(rl.TrackedKeys(), 1u);
}

TEST(RateLimiterTest, ClockSteppingBackDoesNotCrash) {
  RateLimiter rl(Limits(2, 100));
  ASSERT_TRUE(rl.Check("k", kT0 + 5000).allowed);
  ASSERT_TRUE(rl.Check("k", kT0).allowed);
  RateDecision d = rl.Check("k", kT0);
  ASSERT_FALSE(d.allowed);
  EXPECT_GE(d.retry_after_seconds, 1);
}

}  // namespace
}  // namespace sbx::auth
