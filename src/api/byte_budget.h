// ByteBudget: a daemon-wide cap on request-body bytes held in memory at once. A request
// reserves the bytes of its body before reading them (the whole Content-Length up front, or
// step by step for a chunked body), and gives them back when the body is freed. When the
// budget is spent, a reservation waits, first come first served, until earlier ones are
// returned or its deadline passes; then it fails and the server answers 503 (docs/security.md,
// "API input and what it may cost the daemon").
//
// Waiters are served strictly in arrival order: a large body at the head of the queue is not
// overtaken by a stream of small ones (they wait behind it), so it cannot starve; every wait is
// bounded by its deadline.
//
// Thread safety: every method may be called from any thread. The budget must outlive its
// reservations.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

#include "common/result.h"

namespace sbx::api {

class ByteBudget {
 public:
  // Bytes held by one request; returned to the budget when destroyed. Movable.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& o) noexcept { *this = std::move(o); }
    Reservation& operator=(Reservation&& o) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }

    // Adds `more` bytes to this reservation, waiting as Reserve does.
    Result<void> Grow(uint64_t more, int64_t deadline_ns);
    uint64_t bytes() const { return bytes_; }
    void Release();

   private:
    friend class ByteBudget;
    ByteBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  explicit ByteBudget(uint64_t capacity) : capacity_(capacity) {}

  // Reserves n bytes, waiting until they are free or MonotonicNs() passes deadline_ns
  // (kUnavailable, naming the budget). n above the whole capacity fails at once
  // (kResourceExhausted): it could never be granted.
  Result<Reservation> Reserve(uint64_t n, int64_t deadline_ns);

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const;
  size_t waiting() const;

 private:
  Result<void> Acquire(uint64_t n, int64_t deadline_ns);
  void Return(uint64_t n);

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t in_use_ = 0;         // guarded by mu_
  std::deque<uint64_t> queue_;  // tickets of waiters in arrival order; guarded by mu_
  uint64_t next_ticket_ = 0;    // guarded by mu_
};

}  // namespace sbx::api
