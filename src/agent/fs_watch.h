// Directory watching for filesystem.Filesystem/WatchDir and the CreateWatcher polling form:
// inotify on a directory and, when recursive, on every subdirectory below it (those created
// later too: their existing entries are reported as created, so nothing made between the
// directory's creation and its watch is missed). Events are named relative to the watched
// directory. Watches are added, and entries stat'ed, under the watching user's file-system
// identity, so the kernel decides what the user may watch.
//
// Limits: kMaxWatchesPerWatcher directories per watcher (deeper trees are watched in part and
// the overflow is logged); the kernel's own queue overflowing is counted as dropped events.
//
// Thread safety: a DirWatch is used by one thread at a time. EventQueue likewise.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/users.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "protocol/fs_messages.h"

namespace sbx::agent {

inline constexpr size_t kMaxWatchesPerWatcher = 4096;

// The event types one inotify event mask stands for, in a fixed order (envd's mapping:
// create and moved-to are CREATE, modify WRITE, delete REMOVE, moved-from RENAME, attrib
// CHMOD). Self events and bookkeeping bits give none.
std::vector<protocol::EventType> EventTypesForMask(uint32_t mask);

// A bounded FIFO of events: when full, the oldest is dropped and counted.
class EventQueue {
 public:
  explicit EventQueue(size_t capacity) : capacity_(capacity) {}
  void Push(protocol::FilesystemEvent event);
  void CountDropped(uint64_t n) { dropped_ += n; }
  std::vector<protocol::FilesystemEvent> Drain();
  size_t size() const { return events_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  size_t capacity_;
  std::deque<protocol::FilesystemEvent> events_;
  uint64_t dropped_ = 0;
};

class DirWatch {
 public:
  // Watches req.path resolved for the user. Missing: kNotFound; not a directory:
  // kInvalidArgument.
  static Result<std::unique_ptr<DirWatch>> Open(const User& user,
                                                const protocol::WatchRequest& req);
  ~DirWatch();

  // Waits at most timeout_ms (0: not at all) for events and pushes them to out.
  Result<void> Poll(int timeout_ms, EventQueue* out);
  const std::string& root() const { return root_; }
  size_t watch_count() const { return dirs_.size(); }

 private:
  DirWatch(User user, std::string root, bool recursive, bool include_entry);
  // Watches the directory at rel (and, recursively, its subdirectories); entries found in it
  // are reported as created when report_existing. Runs under the user's identity.
  void AddTree(const std::string& rel, bool report_existing, EventQueue* out);
  void WarnFull();  // logs once that the watch limit left directories unwatched
  void Emit(const std::string& rel, protocol::EventType type, EventQueue* out);
  std::string Absolute(const std::string& rel) const;

  User user_;
  std::string root_;
  bool recursive_;
  bool include_entry_;
  UniqueFd inotify_;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory relative to root ("")
  bool warned_full_ = false;
  std::optional<UserDb> db_;  // for include_entry: loaded once per Poll, when first needed
};

}  // namespace sbx::agent
