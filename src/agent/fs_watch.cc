// inotify-based directory watches.
#include "agent/fs_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "agent/filesystem_service.h"
#include "agent/fs_identity.h"
#include "agent/paths.h"
#include "common/log.h"

namespace sbx::agent {

using protocol::EventType;
using protocol::FilesystemEvent;

namespace {

constexpr uint32_t kMask = IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                           IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK;
// Reads of the inotify fd per Poll: a busy tree cannot keep one Poll going forever.
constexpr int kMaxReadsPerPoll = 16;

std::string JoinRel(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

}  // namespace

std::vector<EventType> EventTypesForMask(uint32_t mask) {
  std::vector<EventType> out;
  if (mask & (IN_CREATE | IN_MOVED_TO)) out.push_back(EventType::kCreate);
  if (mask & IN_MODIFY) out.push_back(EventType::kWrite);
  if (mask & IN_DELETE) out.push_back(EventType::kRemove);
  if (mask & IN_MOVED_FROM) out.push_back(EventType::kRename);
  if (mask & IN_ATTRIB) out.push_back(EventType::kChmod);
  return out;
}

void EventQueue::Push(FilesystemEvent event) {
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  while (events_.size() >= capacity_) {
    events_.pop_front();
    ++dropped_;
  }
  events_.push_back(std::move(event));
}

std::vector<FilesystemEvent> EventQueue::Drain() {
  std::vector<FilesystemEvent> out(std::make_move_iterator(events_.begin()),
                                   std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

DirWatch::DirWatch(User user, std::string root, bool recursive, bool include_entry)
    : user_(std::move(user)), root_(std::move(root)), recursive_(recursive),
      include_entry_(include_entry) {}

DirWatch::~DirWatch() = default;

Result<std::unique_ptr<DirWatch>> DirWatch::Open(const User& user,
                                                 const protocol::WatchRequest& req) {
  ScopedFsIdentity identity(user);
  RETURN_IF_ERROR(identity.status());
  const std::string root = ResolveUserPath(user, req.path);
  RETURN_IF_ERROR(CheckDirectory(root));
  std::unique_ptr<DirWatch> w(new DirWatch(user, root, req.recursive, req.include_entry));
  w->inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w->inotify_) {
    Error e = SysError("inotify_init1");
    if (errno == EMFILE) e.code = ErrorCode::kResourceExhausted;
    return e;
  }
  const int wd = inotify_add_watch(w->inotify_.get(), root.c_str(), kMask | IN_ONLYDIR);
  if (wd < 0) {
    Error e = SysError("watch " + root);
    if (errno == ENOSPC) e.code = ErrorCode::kResourceExhausted;
    return e;
  }
  w->dirs_[wd] = "";
  if (req.recursive) {
    EventQueue none(0);
    w->AddTree("", /*report_existing=*/false, &none);
  }
  return w;
}

std::string DirWatch::Absolute(const std::string& rel) const {
  return rel.empty() ? root_ : JoinPath(root_, rel);
}

void DirWatch::Emit(const std::string& rel, EventType type, EventQueue* out) {
  FilesystemEvent ev{rel, type, std::nullopt};
  if (include_entry_) {
    if (!db_) {
      auto db = UserDb::Load();
      db_ = db.ok() ? std::move(db).value() : UserDb::Parse("", "");
    }
    const std::string abs = Absolute(rel);
    auto entry = StatEntryAt(*db_, AT_FDCWD, abs.c_str(), abs);
    if (entry.ok()) ev.entry = std::move(entry).value();  // gone already: no entry
  }
  out->Push(std::move(ev));
}

void DirWatch::WarnFull() {
  if (warned_full_) return;
  log::Warn("watch_limit", {{"root", root_}, {"limit", kMaxWatchesPerWatcher}});
  warned_full_ = true;
}

void DirWatch::AddTree(const std::string& top, bool report_existing, EventQueue* out) {
  std::deque<std::string> pending = {top};
  while (!pending.empty()) {
    const std::string rel = std::move(pending.front());
    pending.pop_front();
    const std::string abs = Absolute(rel);
    if (!rel.empty()) {
      if (dirs_.size() >= kMaxWatchesPerWatcher) return WarnFull();
      const int wd =
          inotify_add_watch(inotify_.get(), abs.c_str(), kMask | IN_ONLYDIR | IN_DONT_FOLLOW);
      if (wd < 0) continue;  // gone, a symlink now, or not readable by the user
      dirs_[wd] = rel;
    }
    DIR* d = opendir(abs.c_str());
    if (d == nullptr) continue;
    while (dirent* de = readdir(d)) {
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = JoinRel(rel, name);
      if (report_existing) Emit(child, EventType::kCreate, out);
      bool is_dir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = lstat(Absolute(child).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      if (!is_dir || !recursive_) continue;
      // Queued only while there is room for its watch: the queue stays within the bound too.
      if (dirs_.size() + pending.size() < kMaxWatchesPerWatcher) {
        pending.push_back(child);
      } else {
        WarnFull();
      }
    }
    closedir(d);
  }
}

Result<void> DirWatch::Poll(int timeout_ms, EventQueue* out) {
  pollfd p{inotify_.get(), POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r < 0 && errno != EINTR) return SysError("poll inotify");
  if (r <= 0) return Ok();
  ScopedFsIdentity identity(user_);
  RETURN_IF_ERROR(identity.status());
  db_.reset();  // /etc/passwd may have changed since the last events
  alignas(inotify_event) char buf[64 * 1024];
  for (int i = 0; i < kMaxReadsPerPoll; ++i) {
    ssize_t n = read(inotify_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Ok();
      return SysError("read inotify");
    }
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        out->CountDropped(1);
        log::Warn("watch_queue_overflow", {{"root", root_}});
        continue;
      }
      auto it = dirs_.find(ev->wd);
      if (it == dirs_.end()) continue;
      if (ev->mask & IN_IGNORED) {
        dirs_.erase(it);
        continue;
      }
      const std::string rel = it->second;
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        // The parent reports the removal or rename. A moved directory's watches would carry
        // stale names: drop them with the whole subtree's.
        if (!rel.empty() && (ev->mask & IN_MOVE_SELF)) {
          for (auto d = dirs_.begin(); d != dirs_.end();) {
            if (d->second == rel || d->second.rfind(rel + "/", 0) == 0) {
              inotify_rm_watch(inotify_.get(), d->first);
              d = dirs_.erase(d);
            } else {
              ++d;
            }
          }
        }
        continue;
      }
      const std::string child = ev->len > 0 ? JoinRel(rel, ev->name) : rel;
      for (EventType type : EventTypesForMask(ev->mask)) Emit(child, type, out);
      if (recursive_ && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        AddTree(child, /*report_existing=*/true, out);
      }
    }
  }
  return Ok();
}

}  // namespace sbx::agent
