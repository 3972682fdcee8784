// ConcurrencyGate: per-key caps on sandboxes running at once and on creates in flight at once,
// so one key cannot take the whole host. In memory: in-flight creates end with the process, and
// running sandboxes are counted by the caller from the store.
//
// Use in a create:
//   auto token = gate.TryAcquireCreate(key_id);        // kResourceExhausted: too many creates
//   RETURN_IF_ERROR(token->CanStart(running_now));      // kResourceExhausted: too many running
//   ... create the sandbox; the token is released when it goes out of scope.
// `running_now` is the number of the key's sandboxes in state `running` (not `creating`): the
// other creates in flight are added by the gate, so concurrent creates cannot overshoot the cap.
// A sandbox that turned `running` while its create still holds its token counts twice for a
// moment; that errs towards refusing, never towards exceeding the cap.
//
// Thread safety: every method may be called from any thread. The gate must outlive its tokens.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/result.h"

namespace sbx::auth {

struct ConcurrencyLimits {
  int64_t max_running_sandboxes = 20;  // per key; 0: no cap
  int64_t max_concurrent_creates = 4;  // per key; 0: no cap
};

class ConcurrencyGate {
 public:
  // One create in flight for a key; releases its slot when destroyed. Movable, not copyable.
  class CreateToken {
   public:
    CreateToken(CreateToken&& o) noexcept;
    CreateToken& operator=(CreateToken&& o) noexcept;
    CreateToken(const CreateToken&) = delete;
    CreateToken& operator=(const CreateToken&) = delete;
    ~CreateToken();

    // Whether this create may start one more sandbox, with running_now sandboxes of the key
    // running and the key's other creates in flight.
    Result<void> CanStart(int64_t running_now) const;
    const std::string& key() const { return key_; }

   private:
    friend class ConcurrencyGate;
    CreateToken(ConcurrencyGate* gate, std::string key) : gate_(gate), key_(std::move(key)) {}
    void Release();
    ConcurrencyGate* gate_ = nullptr;
    std::string key_;
  };

  explicit ConcurrencyGate(ConcurrencyLimits limits) : limits_(limits) {}

  // kResourceExhausted when the key already has max_concurrent_creates creates in flight.
  Result<CreateToken> TryAcquireCreate(const std::string& key);
  // For starts that are not creates (no token held): counts all of the key's creates in flight.
  Result<void> CanStartSandbox(const std::string& key, int64_t running_now) const;
  int64_t InFlightCreates(const std::string& key) const;

 private:
  Result<void> CheckRunningLocked(const std::string& key, int64_t running_now,
                                  int64_t own_creates) const;

  const ConcurrencyLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> in_flight_;  // guarded by mu_; no zero entries
};

}  // namespace sbx::auth
