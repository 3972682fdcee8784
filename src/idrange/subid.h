// Host id ranges and the subordinate id files (/etc/subuid, /etc/subgid, subuid(5)) that
// assign them to users. Pure parsing and arithmetic: no file is read here except by
// ReadSubidFile.
//
// Thread safety: every function is reentrant; none keeps state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sbx::idrange {

// Ids one sandbox maps (its uid and gid 0..65535): a daemon's range is a whole number of them.
inline constexpr uint64_t kIdsPerSlot = 65536;
// The largest id a range may reach: 2^32 - 1 is (uid_t)-1, "no id", never mapped.
inline constexpr uint64_t kIdLimit = 0xFFFFFFFFull;

// [start, start + count) of host ids.
struct IdRange {
  uint64_t start = 0;
  uint64_t count = 0;

  uint64_t end() const { return start + count; }
  bool Overlaps(const IdRange& o) const { return start < o.end() && o.start < end(); }
  bool Contains(const IdRange& o) const { return start <= o.start && o.end() <= end(); }
  bool operator==(const IdRange& o) const { return start == o.start && count == o.count; }
  // "START:COUNT", the form of --id-range and of the state dir's record.
  std::string ToString() const;
};

// "START:COUNT" in decimal or 0x hex. A daemon's range must hold whole slots (COUNT a
// multiple of 65536), must not touch the host's own ids below 65536, and must end at or below
// 2^32 - 1. Errors name `what` (e.g. "--id-range").
Result<IdRange> ParseIdRange(std::string_view text, const std::string& what);

// One line of a subordinate id file: "owner:start:count" (owner a login name or a uid).
struct SubidEntry {
  std::string owner;
  IdRange range;
  int line = 0;  // 1-based, for messages

  std::string ToString() const;  // "owner:start:count"
};

// Parses the text of a subuid/subgid file. Blank lines and lines starting with '#' are
// skipped; any other line that is not owner:start:count is an error naming `path` and the line.
Result<std::vector<SubidEntry>> ParseSubidFile(std::string_view text, const std::string& path);

// Reads and parses `path`; a missing file has no entries.
Result<std::vector<SubidEntry>> ReadSubidFile(const std::string& path);

}  // namespace sbx::idrange
