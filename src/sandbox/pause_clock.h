// The lifetime arithmetic of pause and resume, pure (unit-tested in
// tests/unit/sandbox/pause_clock_test.cc): a paused sandbox's lifetime clock stands still.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sbx::sandbox {

// The expires_at of a sandbox resumed at now_ms that was paused at paused_at_ms with
// expires_at_ms: moved forward by the paused time, then, when extend_timeout_s > 0, to at
// least now + extend_timeout_s (never shortened). 0 (no expiry) stays 0.
inline int64_t ResumedExpiry(int64_t expires_at_ms, int64_t paused_at_ms, int64_t now_ms,
                             int64_t extend_timeout_s) {
  if (expires_at_ms == 0) return 0;
  int64_t paused_for = paused_at_ms > 0 ? std::max<int64_t>(0, now_ms - paused_at_ms) : 0;
  int64_t expires = expires_at_ms + paused_for;
  if (extend_timeout_s > 0) expires = std::max(expires, now_ms + extend_timeout_s * 1000);
  return expires;
}

}  // namespace sbx::sandbox
