// WatchDir stream and the polling watcher registry.
#include "agent/watch_service.h"

#include <algorithm>

#include "agent/connect_io.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::agent {

using protocol::Json;

namespace {

constexpr int64_t kDefaultKeepaliveS = 90;
// A stream sends what each poll gathered before polling again: this bounds one poll's batch.
constexpr size_t kStreamQueue = 4096;

}  // namespace

bool IsWatcherMethod(std::string_view m) {
  return m == "CreateWatcher" || m == "GetWatcherEvents" || m == "RemoveWatcher";
}

void ServeWatchDir(const HttpRequest& req, BodyReader& body, ResponseWriter& w,
                   const User& user) {
  ConnectStream stream(w);
  auto fail = [&](const Error& e) {
    log::Info("watch_failed", {{"error", e.ToString()}});
    (void)stream.Finish(&e);
  };
  auto json = ReadStreamRequest(req, body);
  if (!json.ok()) return fail(json.error());
  auto parsed = protocol::ParseWatchRequest(json.value());
  if (!parsed.ok()) return fail(parsed.error());
  auto timeout = ConnectTimeoutMs(req);
  if (!timeout.ok()) return fail(timeout.error());
  auto watch = DirWatch::Open(user, parsed.value());
  if (!watch.ok()) return fail(watch.error());
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  if (timeout.value() && *timeout.value() > 0) {
    deadline = Clock::now() + std::chrono::milliseconds(*timeout.value());
  }
  const auto keepalive = std::chrono::seconds(KeepaliveSeconds(req, kDefaultKeepaliveS));
  log::Info("watch_started", {{"path", watch.value()->root()},
                              {"user", user.name},
                              {"recursive", parsed->recursive}});
  if (!stream.Send(Json{{"start", Json::object()}}).ok()) return;
  auto last_sent = Clock::now();
  EventQueue queue(kStreamQueue);
  while (true) {
    auto until = std::min(last_sent + keepalive, Clock::now() + std::chrono::seconds(1));
    if (deadline) until = std::min(until, *deadline);
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    auto polled = watch.value()->Poll(static_cast<int>(std::max<int64_t>(0, wait.count())),
                                      &queue);
    if (!polled.ok()) return fail(polled.error());
    for (const auto& ev : queue.Drain()) {
      if (!stream.Send(Json{{"filesystem", protocol::FilesystemEventJson(ev)}}).ok()) return;
      last_sent = Clock::now();
    }
    const auto now = Clock::now();
    if (deadline && now >= *deadline) {
      (void)stream.Finish(nullptr);
      return;
    }
    if (now - last_sent >= keepalive) {
      if (!stream.Send(Json{{"keepalive", Json::object()}}).ok()) return;
      last_sent = now;
    }
    if (stream.writer().PeerClosed()) return;
  }
}

size_t WatcherRegistry::size() {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

Result<Json> WatcherRegistry::Call(std::string_view method, const Json& body, const User& user) {
  if (method == "CreateWatcher") return Create(body, user);
  std::string id;
  ASSIGN_OR_RETURN(auto watcher, Find(body, &id));
  if (method == "RemoveWatcher") {
    std::lock_guard lock(mu_);
    watchers_.erase(id);
    return Json::object();
  }
  std::lock_guard lock(watcher->mu);
  watcher->last_used = Clock::now();
  RETURN_IF_ERROR(watcher->watch->Poll(0, &watcher->queue));
  if (watcher->queue.dropped() != watcher->reported_dropped) {
    log::Warn("watcher_events_dropped",
              {{"watcher_id", id}, {"count", watcher->queue.dropped() - watcher->reported_dropped}});
    watcher->reported_dropped = watcher->queue.dropped();
  }
  Json events = Json::array();
  for (const auto& ev : watcher->queue.Drain()) events.push_back(protocol::FilesystemEventJson(ev));
  return Json{{"events", std::move(events)}};
}

Result<Json> WatcherRegistry::Create(const Json& body, const User& user) {
  ASSIGN_OR_RETURN(auto req, protocol::ParseWatchRequest(body));
  {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (auto it = watchers_.begin(); it != watchers_.end() && watchers_.size() >= kMaxWatchers;) {
      std::unique_lock wl(it->second->mu, std::try_to_lock);
      if (wl.owns_lock() && now - it->second->last_used >= kWatcherIdleExpiry) {
        log::Info("watcher_expired", {{"watcher_id", it->first}});
        wl.unlock();
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
    if (watchers_.size() >= kMaxWatchers) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "too many watchers (at most " + std::to_string(kMaxWatchers) +
                           "); remove some with RemoveWatcher");
    }
  }
  ASSIGN_OR_RETURN(auto watch, DirWatch::Open(user, req));
  auto watcher = std::make_shared<Watcher>();
  watcher->watch = std::move(watch);
  watcher->last_used = Clock::now();
  const std::string id = RandomHex(16);
  std::lock_guard lock(mu_);
  if (watchers_.size() >= kMaxWatchers) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "too many watchers (at most " + std::to_string(kMaxWatchers) + ")");
  }
  watchers_.emplace(id, std::move(watcher));
  log::Info("watcher_created", {{"watcher_id", id}, {"user", user.name}});
  return Json{{"watcherId", id}};
}

Result<std::shared_ptr<WatcherRegistry::Watcher>> WatcherRegistry::Find(const Json& body,
                                                                         std::string* id) {
  ASSIGN_OR_RETURN(auto given, protocol::OptString(body, "watcherId", "watcher_id"));
  if (!given || given->empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "watcherId is required");
  }
  std::lock_guard lock(mu_);
  auto it = watchers_.find(*given);
  if (it == watchers_.end()) {
    return MakeError(ErrorCode::kNotFound,
                     "watcher '" + given->substr(0, 64) + "' not found");
  }
  *id = *given;
  return it->second;
}

}  // namespace sbx::agent
