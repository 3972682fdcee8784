#include "api/byte_budget.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "common/util.h"

namespace sbx::api {

ByteBudget::Reservation& ByteBudget::Reservation::operator=(Reservation&& o) noexcept {
  if (this != &o) {
    Release();
    budget_ = o.budget_;
    bytes_ = o.bytes_;
    o.budget_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void ByteBudget::Reservation::Release() {
  if (budget_ != nullptr && bytes_ > 0) budget_->Return(bytes_);
  bytes_ = 0;
}

Result<void> ByteBudget::Reservation::Grow(uint64_t more, int64_t deadline_ns) {
  if (budget_ == nullptr) return MakeError(ErrorCode::kInternal, "grow of an empty reservation");
  if (more == 0) return Ok();
  if (bytes_ + more > budget_->capacity_)
    return MakeError(ErrorCode::kResourceExhausted,
                     "request body needs more than the daemon's whole budget for bodies in "
                     "memory (" + std::to_string(budget_->capacity_) + " bytes)");
  RETURN_IF_ERROR(budget_->Acquire(more, deadline_ns));
  bytes_ += more;
  return Ok();
}

Result<ByteBudget::Reservation> ByteBudget::Reserve(uint64_t n, int64_t deadline_ns) {
  if (n > capacity_)
    return MakeError(ErrorCode::kResourceExhausted,
                     "request body of " + std::to_string(n) +
                         " bytes exceeds the daemon's whole budget for bodies in memory (" +
                         std::to_string(capacity_) + " bytes)");
  Reservation r;
  r.budget_ = this;
  if (n > 0) {
    RETURN_IF_ERROR(Acquire(n, deadline_ns));
    r.bytes_ = n;
  }
  return r;
}

Result<void> ByteBudget::Acquire(uint64_t n, int64_t deadline_ns) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty() && in_use_ + n <= capacity_) {
    in_use_ += n;
    return Ok();
  }
  uint64_t ticket = next_ticket_++;
  queue_.push_back(ticket);
  for (;;) {
    if (queue_.front() == ticket && in_use_ + n <= capacity_) {
      queue_.pop_front();
      in_use_ += n;
      cv_.notify_all();  // the next waiter may fit too
      return Ok();
    }
    int64_t left = deadline_ns - MonotonicNs();
    if (left <= 0) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
      cv_.notify_all();  // a waiter behind this one may now be at the head
      return MakeError(ErrorCode::kUnavailable,
                       "the daemon holds its limit of " + std::to_string(capacity_) +
                           " bytes of request bodies in memory (" + std::to_string(in_use_) +
                           " in use); retry shortly");
    }
    cv_.wait_for(lock, std::chrono::nanoseconds(left));
  }
}

void ByteBudget::Return(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  in_use_ -= std::min(n, in_use_);
  cv_.notify_all();
}

uint64_t ByteBudget::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

size_t ByteBudget::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace sbx::api
