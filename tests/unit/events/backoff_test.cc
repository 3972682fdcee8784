#include "events/backoff.h"

#include <gtest/gtest.h>

namespace sbx::events {
namespace {

TEST(Backoff, CeilingDoublesUpToTheCap) {
  BackoffPolicy p{1000, 10000, 8};
  EXPECT_EQ(BackoffCeilingMs(p, 1), 1000);
  EXPECT_EQ(BackoffCeilingMs(p, 2), 2000);
  EXPECT_EQ(BackoffCeilingMs(p, 3), 4000);
  EXPECT_EQ(BackoffCeilingMs(p, 4), 8000);
  EXPECT_EQ(BackoffCeilingMs(p, 5), 10000);
  EXPECT_EQ(BackoffCeilingMs(p, 60), 10000);  // no overflow
}

TEST(Backoff, FullJitterSpansZeroToCeiling) {
  BackoffPolicy p{1000, 10000, 8};
  EXPECT_EQ(DecideRetry(p, 3, 0.0).delay_ms, 0);
  EXPECT_EQ(DecideRetry(p, 3, 0.5).delay_ms, 2000);
  EXPECT_EQ(DecideRetry(p, 3, 0.999999).delay_ms, 3999);
  EXPECT_FALSE(DecideRetry(p, 3, 0.5).dead);
  EXPECT_EQ(DecideRetry(p, 3, 7.0).delay_ms, 4000);  // clamped source
}

TEST(Backoff, DeadAfterMaxAttempts) {
  BackoffPolicy p{1000, 10000, 3};
  EXPECT_FALSE(DecideRetry(p, 1, 0.5).dead);
  EXPECT_FALSE(DecideRetry(p, 2, 0.5).dead);
  EXPECT_TRUE(DecideRetry(p, 3, 0.5).dead);
  EXPECT_TRUE(DecideRetry(p, 4, 0.5).dead);
}

TEST(Backoff, DefaultRandomIsInRange) {
  for (int i = 0; i < 1000; ++i) {
    double u = DefaultUnitRandom();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace sbx::events
