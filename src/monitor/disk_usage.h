// Disk used by a directory tree (a sandbox's overlay upper layer), as `du` counts it: the sum
// of st_blocks * 512 over the tree, hard links counted once. The walk is bounded (entries,
// depth, time), never follows a symlink (each directory is opened with O_NOFOLLOW relative to
// its parent's fd, so a sandbox swapping a directory for a symlink mid-walk cannot lead it out
// of the tree) and never crosses into another file system.
//
// Thread safety: reentrant; keeps no state.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace sbx::monitor {

struct DiskWalkLimits {
  int64_t max_entries = 200000;  // directory entries looked at
  int max_depth = 64;            // deeper directories are not entered
  int64_t max_ns = 200000000;    // wall-time budget (200 ms); 0 = none
};

struct DiskUsage {
  int64_t bytes = 0;     // allocated bytes found (a lower bound when !complete)
  int64_t entries = 0;   // entries looked at
  bool complete = true;  // false when a limit stopped the walk
  int64_t walk_ns = 0;   // how long the walk took
};

// Fails only when `root` itself cannot be opened (kNotFound when it does not exist);
// unreadable entries below it are skipped.
Result<DiskUsage> MeasureDiskUsage(const std::string& root, const DiskWalkLimits& limits = {});

}  // namespace sbx::monitor
