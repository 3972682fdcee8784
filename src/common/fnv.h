// FNV-1a, 64 bits: stable short names derived from a path (the daemon's cgroup directory, its
// id-range registry file). Not a security hash.
#pragma once

#include <cstdint>
#include <string_view>

namespace sbx {

inline uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace sbx
