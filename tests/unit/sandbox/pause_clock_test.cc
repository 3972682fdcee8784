#include "sandbox/pause_clock.h"

#include <gtest/gtest.h>

namespace sbx::sandbox {
namespace {

TEST(ResumedExpiry, PausedTimeDoesNotCount) {
  // 60 s left when paused at t=100 s; resumed at t=400 s: still 60 s left.
  EXPECT_EQ(ResumedExpiry(160'000, 100'000, 400'000, 0), 460'000);
}

TEST(ResumedExpiry, ExtendsToAtLeastTheRequestedTimeout) {
  EXPECT_EQ(ResumedExpiry(160'000, 100'000, 400'000, 300), 700'000);
}

TEST(ResumedExpiry, NeverShortens) {
  // 60 s left after the shift; asking for 10 s keeps the 60.
  EXPECT_EQ(ResumedExpiry(160'000, 100'000, 400'000, 10), 460'000);
}

TEST(ResumedExpiry, NoExpiryStaysNone) { EXPECT_EQ(ResumedExpiry(0, 100'000, 400'000, 30), 0); }

TEST(ResumedExpiry, PausedAfterExpiryKeepsNoRemainder) {
  // Paused by the supervisor at its expiry (t=160 s): resumed, it has the time it had left (0)
  // plus what the caller asks.
  EXPECT_EQ(ResumedExpiry(160'000, 160'000, 500'000, 0), 500'000);
  EXPECT_EQ(ResumedExpiry(160'000, 160'000, 500'000, 30), 530'000);
}

TEST(ResumedExpiry, ClockGoingBackwardsDoesNotShorten) {
  EXPECT_EQ(ResumedExpiry(160'000, 100'000, 90'000, 0), 160'000);
}

}  // namespace
}  // namespace sbx::sandbox
