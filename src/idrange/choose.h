// Which host id range a daemon uses: the pure decision, from what the daemon was told (flags),
// what its state dir recorded, the subordinate id files and the ranges of the other live
// daemons on the host. No I/O: registry.h gathers the inputs and records the outcome.
//
// Rules (docs/security.md, "Host id ranges"):
//  - no range may overlap an entry of another owner in /etc/subuid or /etc/subgid;
//  - no range may overlap the range of another live daemon;
//  - while the state dir has sandboxes, the recorded range is kept: their files belong to it
//    (a different --id-range is refused);
//  - without --id-range, the recorded range is adopted when it is still allowed, else the
//    first free block of `auto_count` ids in the owner's entries (the same numbers in both
//    files: uid and gid ranges are equal).
//
// Thread safety: reentrant, no state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "idrange/subid.h"

namespace sbx::idrange {

// Another daemon's range, read from the registry.
struct LiveRange {
  IdRange range;
  int64_t pid = 0;
  std::string state_dir;
};

struct ChooseInput {
  std::optional<IdRange> requested;  // --id-range
  uint64_t auto_count = 0;           // ids to pick when not requested (slots * 65536)
  std::vector<std::string> owner;    // names of the owner in the files: login name, uid
  std::vector<SubidEntry> subuid, subgid;
  std::string subuid_path, subgid_path;
  std::optional<IdRange> recorded;  // the state dir's record
  std::string recorded_path;
  bool has_sandboxes = false;  // the state dir holds sandboxes (running or stopped)
  std::vector<LiveRange> live;  // other live daemons
};

struct Choice {
  IdRange range;
  std::string source;  // "--id-range", "recorded", "picked"
  // Set when the range is not inside the owner's entries of both files (allowed for an
  // explicit --id-range, worth a warning: nothing stops another tool from handing ids out).
  std::string warning;
};

// Fails with kFailedPrecondition and a message naming the conflicting entry and file, the
// other daemon (pid, state dir) or the record.
Result<Choice> Choose(const ChooseInput& in);

// Pieces of Choose, exposed for tests.
// An entry of another owner that overlaps `r`, as an error naming it and `path`.
Result<void> CheckSubids(const IdRange& r, const std::vector<SubidEntry>& entries,
                         const std::vector<std::string>& owner, const std::string& path);
// A live daemon whose range overlaps `r`, as an error naming its pid and state dir.
Result<void> CheckLive(const IdRange& r, const std::vector<LiveRange>& live);
// Blocks of `count` ids inside both an owner's subuid entry and an owner's subgid entry, in
// order, aligned to the start of their intersection.
std::vector<IdRange> CandidateBlocks(const ChooseInput& in, uint64_t count);

}  // namespace sbx::idrange
