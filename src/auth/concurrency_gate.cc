// ConcurrencyGate: counters of creates in flight per key (see concurrency_gate.h).
#include "auth/concurrency_gate.h"

#include <utility>

namespace sbx::auth {

ConcurrencyGate::CreateToken::CreateToken(CreateToken&& o) noexcept
    : gate_(std::exchange(o.gate_, nullptr)), key_(std::move(o.key_)) {}

ConcurrencyGate::CreateToken& ConcurrencyGate::CreateToken::operator=(CreateToken&& o) noexcept {
  if (this != &o) {
    Release();
    gate_ = std::exchange(o.gate_, nullptr);
    key_ = std::move(o.key_);
  }
  return *this;
}

ConcurrencyGate::CreateToken::~CreateToken() { Release(); }

void ConcurrencyGate::CreateToken::Release() {
  if (!gate_) return;
  std::lock_guard<std::mutex> lock(gate_->mu_);
  auto it = gate_->in_flight_.find(key_);
  if (it != gate_->in_flight_.end() && --it->second <= 0) gate_->in_flight_.erase(it);
  gate_ = nullptr;
}

Result<void> ConcurrencyGate::CreateToken::CanStart(int64_t running_now) const {
  if (!gate_) return MakeError(ErrorCode::kInternal, "CanStart on a released create token");
  std::lock_guard<std::mutex> lock(gate_->mu_);
  return gate_->CheckRunningLocked(key_, running_now, 1);
}

Result<ConcurrencyGate::CreateToken> ConcurrencyGate::TryAcquireCreate(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& n = in_flight_[key];
  if (limits_.max_concurrent_creates > 0 && n >= limits_.max_concurrent_creates) {
    if (n == 0) in_flight_.erase(key);
    return MakeError(ErrorCode::kResourceExhausted,
                     "too many sandbox creates in flight for this API key (at most " +
                         std::to_string(limits_.max_concurrent_creates) +
                         " at once); retry when one has finished");
  }
  ++n;
  return CreateToken(this, key);
}

Result<void> ConcurrencyGate::CanStartSandbox(const std::string& key, int64_t running_now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return CheckRunningLocked(key, running_now, 0);
}

int64_t ConcurrencyGate::InFlightCreates(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_flight_.find(key);
  return it == in_flight_.end() ? 0 : it->second;
}

Result<void> ConcurrencyGate::CheckRunningLocked(const std::string& key, int64_t running_now,
                                                 int64_t own_creates) const {
  if (limits_.max_running_sandboxes <= 0) return Ok();
  auto it = in_flight_.find(key);
  int64_t others = (it == in_flight_.end() ? 0 : it->second) - own_creates;
  if (others < 0) others = 0;
  if (running_now + others >= limits_.max_running_sandboxes)
    return MakeError(ErrorCode::kResourceExhausted,
                     "this API key has " + std::to_string(running_now) + " sandboxes running" +
                         (others > 0 ? " and " + std::to_string(others) + " being created" : "") +
                         ", the most allowed is " + std::to_string(limits_.max_running_sandboxes) +
                         "; stop one (`sbx stop <id>`) before creating another");
  return Ok();
}

}  // namespace sbx::auth
