// The range decision of choose.h.
#include "idrange/choose.h"

#include <algorithm>

namespace sbx::idrange {
namespace {

bool OwnedBy(const SubidEntry& e, const std::vector<std::string>& owner) {
  return std::find(owner.begin(), owner.end(), e.owner) != owner.end();
}

std::vector<IdRange> OwnerRanges(const std::vector<SubidEntry>& entries,
                                 const std::vector<std::string>& owner) {
  std::vector<IdRange> out;
  for (const SubidEntry& e : entries)
    if (OwnedBy(e, owner)) out.push_back(e.range);
  return out;
}

bool InsideOwner(const IdRange& r, const ChooseInput& in) {
  auto inside = [&](const std::vector<SubidEntry>& entries) {
    for (const IdRange& o : OwnerRanges(entries, in.owner))
      if (o.Contains(r)) return true;
    return false;
  };
  return inside(in.subuid) && inside(in.subgid);
}

Error Refuse(std::string message) {
  return MakeError(ErrorCode::kFailedPrecondition, std::move(message));
}

// Both files and the live daemons.
Result<void> CheckAll(const IdRange& r, const ChooseInput& in) {
  RETURN_IF_ERROR(CheckSubids(r, in.subuid, in.owner, in.subuid_path));
  RETURN_IF_ERROR(CheckSubids(r, in.subgid, in.owner, in.subgid_path));
  return CheckLive(r, in.live);
}

std::string OwnerName(const ChooseInput& in) { return in.owner.empty() ? "?" : in.owner[0]; }

}  // namespace

Result<void> CheckSubids(const IdRange& r, const std::vector<SubidEntry>& entries,
                         const std::vector<std::string>& owner, const std::string& path) {
  for (const SubidEntry& e : entries) {
    if (OwnedBy(e, owner) || !e.range.Overlaps(r)) continue;
    return Refuse("host id range " + r.ToString() + " overlaps the entry '" + e.ToString() +
                  "' (line " + std::to_string(e.line) + ") of " + path +
                  ", which gives those ids to another user; choose a range outside it");
  }
  return Ok();
}

Result<void> CheckLive(const IdRange& r, const std::vector<LiveRange>& live) {
  for (const LiveRange& l : live) {
    if (!l.range.Overlaps(r)) continue;
    return Refuse("host id range " + r.ToString() + " overlaps the range " + l.range.ToString() +
                  " of the running sandboxd pid " + std::to_string(l.pid) + " (state dir " +
                  l.state_dir + "); two daemons must not share host ids");
  }
  return Ok();
}

std::vector<IdRange> CandidateBlocks(const ChooseInput& in, uint64_t count) {
  std::vector<IdRange> out;
  if (count == 0) return out;
  for (const IdRange& u : OwnerRanges(in.subuid, in.owner)) {
    for (const IdRange& g : OwnerRanges(in.subgid, in.owner)) {
      uint64_t lo = std::max({u.start, g.start, kIdsPerSlot});
      uint64_t hi = std::min({u.end(), g.end(), kIdLimit});
      for (uint64_t s = lo; s < hi && hi - s >= count; s += count) out.push_back({s, count});
    }
  }
  return out;
}

Result<Choice> Choose(const ChooseInput& in) {
  const std::string record = in.recorded ? in.recorded->ToString() : "";
  if (in.requested) {
    const IdRange& r = *in.requested;
    if (in.recorded && !(*in.recorded == r) && in.has_sandboxes)
      return Refuse("--id-range " + r.ToString() + " differs from the range " + record +
                    " recorded in " + in.recorded_path +
                    ", and the state dir still has sandboxes whose files belong to those ids; "
                    "start with --id-range " + record + " (or without --id-range), or delete "
                    "the sandboxes first");
    RETURN_IF_ERROR(CheckAll(r, in));
    Choice c{r, "--id-range", ""};
    if (!InsideOwner(r, in))
      c.warning = "--id-range " + r.ToString() + " is not inside an entry of '" + OwnerName(in) +
                  "' in both " + in.subuid_path + " and " + in.subgid_path +
                  ": add one so that no other tool hands these ids out";
    return c;
  }
  if (in.recorded && in.has_sandboxes) {
    // The sandboxes' files belong to the recorded ids: keep them, or refuse.
    auto ok = CheckAll(*in.recorded, in);
    if (!ok.ok())
      return Refuse(ok.error().message + " (the range is recorded in " + in.recorded_path +
                    " and this state dir's sandboxes use it)");
    Choice c{*in.recorded, "recorded", ""};
    if (!InsideOwner(c.range, in))
      c.warning = "the recorded range " + record + " is no longer inside an entry of '" +
                  OwnerName(in) + "' in both " + in.subuid_path + " and " + in.subgid_path;
    return c;
  }
  if (in.recorded && in.recorded->count == in.auto_count && InsideOwner(*in.recorded, in) &&
      CheckAll(*in.recorded, in).ok())
    return Choice{*in.recorded, "recorded", ""};
  std::vector<IdRange> owned_uids = OwnerRanges(in.subuid, in.owner);
  std::vector<IdRange> owned_gids = OwnerRanges(in.subgid, in.owner);
  if (owned_uids.empty() || owned_gids.empty())
    return Refuse("no entry for '" + OwnerName(in) + "' in " +
                  (owned_uids.empty() ? in.subuid_path : in.subgid_path) +
                  ": run scripts/setup.sh (it adds sandboxd:268435456:2147483648 to /etc/subuid "
                  "and /etc/subgid), add an entry, or pass --id-range START:COUNT");
  // The owner's own entries must not be shared with another user.
  for (const IdRange& r : owned_uids) RETURN_IF_ERROR(CheckSubids(r, in.subuid, in.owner, in.subuid_path));
  for (const IdRange& r : owned_gids) RETURN_IF_ERROR(CheckSubids(r, in.subgid, in.owner, in.subgid_path));
  std::vector<IdRange> blocks = CandidateBlocks(in, in.auto_count);
  for (const IdRange& b : blocks)
    if (CheckLive(b, in.live).ok()) return Choice{b, "picked", ""};
  std::string pids;
  for (const LiveRange& l : in.live) pids += (pids.empty() ? "" : ", ") + std::to_string(l.pid);
  return Refuse("no free block of " + std::to_string(in.auto_count) + " ids (" +
                std::to_string(in.auto_count / kIdsPerSlot) + " slots) in the entries of '" +
                OwnerName(in) + "' in " + in.subuid_path + " and " + in.subgid_path + ": " +
                std::to_string(blocks.size()) + " blocks fit, all used by running daemons (pids " +
                (pids.empty() ? "none" : pids) + "); give --id-slots fewer slots, or a larger entry");
}

}  // namespace sbx::idrange
