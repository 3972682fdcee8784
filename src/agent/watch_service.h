// filesystem.Filesystem watch RPCs (E2B-PROTOCOL.md 3.3): WatchDir, a server stream
// ({"start":{}}, then {"filesystem":FilesystemEvent} and {"keepalive":{}}, ended at
// Connect-Timeout-Ms or when the client goes away), and the polling form of the Python SDK:
// CreateWatcher -> {"watcherId"}, GetWatcherEvents -> {"events":[...]} (drained),
// RemoveWatcher. Both run fs_watch.h's DirWatch under the requesting user's identity.
//
// Limits: kMaxWatchers polling watchers at once (one idle for kWatcherIdleExpiry is removed
// to make room for a new one); each keeps at most kWatcherQueue events between polls
// (older ones are dropped and counted in the log). Polling watchers read the kernel's queue
// when polled, so events between polls wait there (the kernel's bound applies too).
//
// Thread safety: ServeWatchDir runs on its connection's thread; WatcherRegistry is
// thread-safe (one lock for the table, one per watcher).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "agent/fs_watch.h"
#include "agent/http_types.h"
#include "agent/users.h"
#include "protocol/json_fields.h"

namespace sbx::agent {

inline constexpr size_t kMaxWatchers = 64;
inline constexpr size_t kWatcherQueue = 4096;
inline constexpr auto kWatcherIdleExpiry = std::chrono::minutes(30);

bool IsWatcherMethod(std::string_view method);  // CreateWatcher, GetWatcherEvents, RemoveWatcher

// Serves filesystem.Filesystem/WatchDir.
void ServeWatchDir(const HttpRequest& req, BodyReader& body, ResponseWriter& w,
                   const User& user);

class WatcherRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  // Runs one of the IsWatcherMethod RPCs; unknown watcher ids are kNotFound.
  Result<protocol::Json> Call(std::string_view method, const protocol::Json& body,
                              const User& user);
  size_t size();

 private:
  struct Watcher {
    std::mutex mu;
    std::unique_ptr<DirWatch> watch;
    EventQueue queue{kWatcherQueue};
    uint64_t reported_dropped = 0;
    Clock::time_point last_used;
  };
  Result<protocol::Json> Create(const protocol::Json& body, const User& user);
  Result<std::shared_ptr<Watcher>> Find(const protocol::Json& body, std::string* id);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Watcher>> watchers_;
};

}  // namespace sbx::agent
