#include "api/byte_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/util.h"

namespace sbx::api {
namespace {

int64_t In(int ms) { return MonotonicNs() + int64_t{ms} * 1'000'000; }

TEST(ByteBudget, ReservesAndReturns) {
  ByteBudget b(100);
  auto r = b.Reserve(60, In(0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(b.in_use(), 60u);
  {
    auto r2 = b.Reserve(40, In(0));
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(b.in_use(), 100u);
  }
  EXPECT_EQ(b.in_use(), 60u);
  r->Release();
  EXPECT_EQ(b.in_use(), 0u);
}

TEST(ByteBudget, ExhaustedWaitsThenFailsWithUnavailable) {
  ByteBudget b(100);
  auto held = b.Reserve(80, In(0));
  ASSERT_TRUE(held.ok());
  int64_t t0 = MonotonicNs();
  auto r = b.Reserve(30, In(150));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("100 bytes"), std::string::npos) << r.error().message;
  EXPECT_GE(MonotonicNs() - t0, 140'000'000);
  EXPECT_EQ(b.waiting(), 0u);
  EXPECT_EQ(b.in_use(), 80u);
}

TEST(ByteBudget, MoreThanTheWholeBudgetFailsAtOnce) {
  ByteBudget b(100);
  auto r = b.Reserve(101, In(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
}

TEST(ByteBudget, AWaiterIsServedWhenBytesReturn) {
  ByteBudget b(100);
  auto held = b.Reserve(100, In(0));
  ASSERT_TRUE(held.ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held->Release();
  });
  auto r = b.Reserve(70, In(5000));
  releaser.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(b.in_use(), 70u);
}

TEST(ByteBudget, FirstComeFirstServedSoALargeBodyIsNotStarved) {
  ByteBudget b(100);
  auto held = b.Reserve(50, In(0));
  ASSERT_TRUE(held.ok());
  std::atomic<bool> large_done{false};
  std::thread large([&] {
    auto r = b.Reserve(90, In(5000));  // waits for the 50 to come back
    EXPECT_TRUE(r.ok());
    large_done = true;
  });
  while (b.waiting() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // 50 bytes are free, but the large body waits at the head: a small one queues behind it.
  auto small = b.Reserve(10, In(50));
  EXPECT_FALSE(small.ok());
  EXPECT_FALSE(large_done);
  held->Release();
  large.join();
  EXPECT_TRUE(large_done);
}

TEST(ByteBudget, GrowAddsToAReservation) {
  ByteBudget b(100);
  auto r = b.Reserve(10, In(0));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->Grow(30, In(0)).ok());
  EXPECT_EQ(r->bytes(), 40u);
  EXPECT_EQ(b.in_use(), 40u);
  EXPECT_FALSE(r->Grow(61, In(0)).ok());  // past the whole budget
  EXPECT_EQ(b.in_use(), 40u);
}

}  // namespace
}  // namespace sbx::api
