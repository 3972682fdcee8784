// The host's registry of daemons' id ranges, and Acquire: the daemon's start-up step that
// chooses its range (choose.h), checks it against /etc/subuid, /etc/subgid and the other live
// daemons, records it in the state dir and holds it for the daemon's life.
//
// The registry is a directory (default /run/sandboxd/ranges) with one file per daemon, named
// by a hash of its state dir, holding "pid=", "state_dir=" and "range=" lines. A daemon holds
// an exclusive flock(2) on its file for its whole life, so the kernel drops it when the daemon
// dies however it dies: a file nobody holds is a dead daemon's and is removed. Registering is
// serialised by an flock on "registry.lock" in the same directory, so two daemons starting
// together cannot pick the same block. The record <state dir>/id-range ("START:COUNT") lets a
// restart, also after kill -9, come back on the same ids.
//
// Thread safety: Acquire is reentrant; a Lease is not shared.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "idrange/choose.h"

namespace sbx::idrange {

struct AcquireOptions {
  std::string state_dir;             // canonical
  std::optional<IdRange> requested;  // --id-range
  int64_t slots = 1024;              // --id-slots, used when not requested
  std::string owner = "sandboxd";    // --id-user: whose subordinate ids the daemon uses
  std::string subuid_path = "/etc/subuid";
  std::string subgid_path = "/etc/subgid";
  std::string registry_dir = "/run/sandboxd/ranges";
  bool has_sandboxes = false;  // the state dir's database holds sandboxes
};

// A daemon's hold on its range: its registry file stays locked until the Lease is destroyed,
// which removes the file.
class Lease {
 public:
  Lease(Choice choice, UniqueFd fd, std::string path)
      : choice_(std::move(choice)), fd_(std::move(fd)), path_(std::move(path)) {}
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  const IdRange& range() const { return choice_.range; }
  int64_t slots() const { return static_cast<int64_t>(choice_.range.count / kIdsPerSlot); }
  const std::string& source() const { return choice_.source; }
  const std::string& warning() const { return choice_.warning; }

 private:
  Choice choice_;
  UniqueFd fd_;
  std::string path_;
};

// Errors: kFailedPrecondition with the reason to refuse the start (an overlap, the state dir
// held by another live daemon, a different range while sandboxes exist); kInvalidArgument for
// an unparsable file, naming it.
Result<std::unique_ptr<Lease>> Acquire(const AcquireOptions& options);

// The live daemons in `registry_dir` other than the one whose file is `own_name`; removes the
// files of dead ones. For tests and Acquire.
Result<std::vector<LiveRange>> ListLive(const std::string& registry_dir,
                                        const std::string& own_name);

}  // namespace sbx::idrange
