#include "sandbox/agent_logs.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/util.h"

namespace sbx::sandbox {
namespace {

constexpr size_t kReadChunk = 64 * 1024;  // per pipe and wake-up, so no sandbox starves others
constexpr size_t kLastRead = 1 << 20;     // what Forget and Stop read before closing a pipe

// The level the agent wrote (its lines are logfmt: "ts=... level=info comp=agent event=...").
// Anything else (a line that is not ours, say a crash message) is a warning.
log::Level LevelOf(std::string_view line) {
  size_t at = line.find(" level=");
  if (at == std::string_view::npos) return log::Level::kWarn;
  std::string_view rest = line.substr(at + 7);
  std::string_view word = rest.substr(0, rest.find(' '));
  log::Level level;
  if (!log::ParseLevel(word, &level)) return log::Level::kWarn;
  return level;
}

}  // namespace

AgentLogs::~AgentLogs() { Stop(); }

Result<void> AgentLogs::Start() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return SysError("epoll_create1 for the agents' logs");
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) return SysError("eventfd for the agents' logs");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0)
    return SysError("epoll_ctl add the wake-up eventfd");
  thread_ = std::thread([this] { Run(); });
  return Ok();
}

void AgentLogs::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  while (!sources_.empty()) {
    Drain(sources_.begin()->second, kLastRead);
    CloseLocked(sources_.begin()->first);
  }
}

Result<std::pair<UniqueFd, UniqueFd>> AgentLogs::MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return SysError("pipe2 for the agent's log");
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

Result<UniqueFd> AgentLogs::ReopenFromInit(int pidfd) {
  // A copy of the init's write end, held by the pidfd (no pid reuse can swap the process),
  // then a new read end of the same pipe through /proc/self/fd. The copy of the write end is
  // closed at once: holding it would keep the pipe open after the agent has gone.
  UniqueFd write_end(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, 2, 0)));
  if (!write_end) return SysError("pidfd_getfd(init, 2) for the agent's log");
  struct stat st;
  if (::fstat(write_end.get(), &st) != 0) return SysError("fstat the agent's stderr");
  if (!S_ISFIFO(st.st_mode))
    return MakeError(ErrorCode::kFailedPrecondition,
                     "the agent's stderr is not a pipe (launched by an older sandboxd?)");
  std::string path = "/proc/self/fd/" + std::to_string(write_end.get());
  UniqueFd read_end(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!read_end) return SysError("open " + path + " for reading");
  return read_end;
}

void AgentLogs::Watch(const std::string& id, UniqueFd read_end) {
  Forget(id);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || !epoll_) return;  // not started, or shutting down: the pipe just closes
  uint64_t key = next_key_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, read_end.get(), &ev) != 0) {
    log::Warn("agent.log_unwatched", {{"sandbox_id", id}, {"errno", errno}});
    return;
  }
  Source& s = sources_[key];
  s.id = id;
  s.fd = std::move(read_end);
  s.refilled_ns = MonotonicNs();
  by_id_[id] = key;
}

void AgentLogs::WatchAdopted(const std::string& id, int pidfd) {
  auto fd = ReopenFromInit(pidfd);
  if (!fd.ok()) {
    log::Warn("reconcile.agent_log_lost", {{"sandbox_id", id}, {"error", fd.error().ToString()}});
    return;
  }
  Watch(id, std::move(*fd));
}

void AgentLogs::Forget(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  uint64_t key = it->second;
  Drain(sources_.at(key), kLastRead);
  CloseLocked(key);
}

void AgentLogs::CloseLocked(uint64_t key) {
  auto it = sources_.find(key);
  if (it == sources_.end()) return;
  Source& s = it->second;
  if (!s.partial.empty()) Line(s, s.partial, false);
  ReportDropped(s);
  if (epoll_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, s.fd.get(), nullptr);
  by_id_.erase(s.id);
  sources_.erase(it);
}

void AgentLogs::Run() {
  epoll_event events[32];
  while (true) {
    int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::Error("agent.log_reader_failed", {{"errno", errno}});
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    for (int i = 0; i < n; ++i) {
      uint64_t key = events[i].data.u64;
      auto it = sources_.find(key);
      if (key == 0 || it == sources_.end()) continue;  // the wake-up, or forgotten meanwhile
      if (!Drain(it->second, kReadChunk)) CloseLocked(key);
    }
  }
}

bool AgentLogs::Drain(Source& s, size_t budget) {
  char buf[8192];
  while (budget > 0) {
    ssize_t n = ::read(s.fd.get(), buf, std::min(sizeof buf, budget));
    if (n == 0) return false;  // every write end is closed: the agent has gone
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN;
    }
    budget -= static_cast<size_t>(n);
    std::string_view data(buf, static_cast<size_t>(n));
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view piece = data.substr(0, nl);
      if (!s.cutting) {
        size_t room = kMaxLineBytes - s.partial.size();
        s.partial.append(piece.substr(0, room));
        if (piece.size() > room) {
          Line(s, s.partial, true);
          s.partial.clear();
          s.cutting = true;
        }
      }
      if (nl == std::string_view::npos) break;
      if (!s.cutting) Line(s, s.partial, false);
      s.partial.clear();
      s.cutting = false;
      data.remove_prefix(nl + 1);
    }
  }
  return true;
}

void AgentLogs::Line(Source& s, std::string_view line, bool truncated) {
  if (line.empty()) return;
  int64_t now = MonotonicNs();
  s.tokens = std::min(kBurstLines,
                      s.tokens + static_cast<double>(now - s.refilled_ns) / 1e9 * kLinesPerSecond);
  s.refilled_ns = now;
  if (s.tokens < 1) {
    ++s.dropped;
    return;
  }
  s.tokens -= 1;
  ReportDropped(s);
  if (truncated) {
    log::Write(LevelOf(line), "agent.log",
               {{"sandbox_id", s.id}, {"line", line}, {"truncated", true}});
  } else {
    log::Write(LevelOf(line), "agent.log", {{"sandbox_id", s.id}, {"line", line}});
  }
}

void AgentLogs::ReportDropped(Source& s) {
  if (s.dropped == 0) return;
  log::Warn("agent.log_dropped", {{"sandbox_id", s.id},
                                  {"lines", s.dropped},
                                  {"reason", "more than the agent's log rate"}});
  s.dropped = 0;
}

}  // namespace sbx::sandbox
