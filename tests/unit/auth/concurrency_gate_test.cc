// ConcurrencyGate: caps on creates in flight and running sandboxes, under threads.
#include "auth/concurrency_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace sbx::auth {
namespace {

TEST(ConcurrencyGateTest, CreatesInFlightAreCappedAndReleased) {
  ConcurrencyGate gate({/*max_running_sandboxes=*/0, /*max_concurrent_creates=*/2});
  auto a = gate.TryAcquireCreate("k");
  auto b = gate.TryAcquireCreate("k");
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = gate.TryAcquireCreate("k");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(c.error().message.find("at most 2 at once"), std::string::npos);
  EXPECT_TRUE(gate.TryAcquireCreate("other").ok());  // per key
  {
    auto moved = std::move(*a);  // moving keeps one slot, not two
    EXPECT_EQ(gate.InFlightCreates("k"), 2);
  }
  EXPECT_EQ(gate.InFlightCreates("k"), 1);
  EXPECT_TRUE(gate.TryAcquireCreate("k").ok());
  EXPECT_EQ(gate.InFlightCreates("other"), 0);
}

TEST(ConcurrencyGateTest, RunningCapCountsOtherCreatesInFlight) {
  ConcurrencyGate gate({/*max_running_sandboxes=*/3, /*max_concurrent_creates=*/0});
  auto mine = gate.TryAcquireCreate("k");
  ASSERT_TRUE(mine.ok());
  EXPECT_TRUE(mine->CanStart(2).ok());
  auto full = mine->CanStart(3);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(full.error().message.find("the most allowed is 3"), std::string::npos);

  auto other = gate.TryAcquireCreate("k");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(mine->CanStart(1).ok());              // 1 running + 1 other in flight + me = 3
  EXPECT_FALSE(mine->CanStart(2).ok());             // would be 4
  EXPECT_FALSE(gate.CanStartSandbox("k", 1).ok());  // no token: both creates count
  EXPECT_TRUE(gate.CanStartSandbox("k", 0).ok());
  EXPECT_TRUE(gate.CanStartSandbox("someone-else", 2).ok());
}

TEST(ConcurrencyGateTest, NoCapsMeansNoLimit) {
  ConcurrencyGate gate({0, 0});
  std::vector<ConcurrencyGate::CreateToken> held;
  for (int i = 0; i < 100; ++i) {
    auto t = gate.TryAcquireCreate("k");
    ASSERT_TRUE(t.ok());
    held.push_back(std::move(*t));
  }
  EXPECT_TRUE(held.back().CanStart(1'000'000).ok());
}

TEST(ConcurrencyGateTest, ThreadsNeverExceedTheCreateCap) {
  constexpr int kCap = 3;
  ConcurrencyGate gate({0, kCap});
  std::atomic<int> inside{0}, max_inside{0}, admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto token = gate.TryAcquireCreate("k");
        if (!token.ok()) {
          ++refused;
          continue;
        }
        ++admitted;
        int now = ++inside;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        --inside;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(max_inside.load(), kCap);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(admitted.load() + refused.load(), 8 * 200);
  EXPECT_EQ(gate.InFlightCreates("k"), 0);  // every token released
}

TEST(ConcurrencyGateTest, ThreadsNeverExceedTheRunningCap) {
  // Each thread "creates" sandboxes: take a token, check the cap against the shared running
  // count, and on success mark one more running (while still holding the token).
  constexpr int kMaxRunning = 5;
  ConcurrencyGate gate({kMaxRunning, 0});
  std::atomic<int> running{0}, max_running{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto token = gate.TryAcquireCreate("k");
        ASSERT_TRUE(token.ok());
        if (!token->CanStart(running.load()).ok()) continue;
        int now = ++running;
        int seen = max_running.load();
        while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        --running;  // the sandbox stops again
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(max_running.load(), kMaxRunning);
  EXPECT_GT(max_running.load(), 0);
}

}  // namespace
}  // namespace sbx::auth
