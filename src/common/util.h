// Small helpers shared by every component: random tokens, time, whole-file I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx {

// n random bytes from getrandom(2), hex encoded (2n characters).
std::string RandomHex(size_t n_bytes);

// Wall-clock time as RFC 3339 with milliseconds, UTC ("2026-11-26T14:30:00.123Z").
std::string NowRfc3339();
std::string ToRfc3339(int64_t unix_ms);
int64_t NowUnixMs();
// Monotonic clock in nanoseconds.
int64_t MonotonicNs();

Result<std::string> ReadFile(const std::string& path);
// Writes via a temporary file in the same directory and rename(2).
Result<void> WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// Writes to an existing file (cgroup and proc files): open O_WRONLY, one write.
Result<void> WriteExisting(const std::string& path, std::string_view data);

std::string Trim(std::string_view s);

}  // namespace sbx
