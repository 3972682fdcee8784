// Process output log, subscriptions, input and the reader thread.
#include "agent/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "common/log.h"

namespace sbx::agent {

using protocol::OutputKind;

Process::Process(protocol::ProcessConfig config, std::optional<std::string> tag,
                 SpawnedProcess spawned, std::string cgroup)
    : pid_(static_cast<uint32_t>(spawned.pid)),
      config_(std::move(config)),
      tag_(std::move(tag)),
      cgroup_(std::move(cgroup)),
      stdin_w_(std::move(spawned.stdin_w)),
      stdout_r_(std::move(spawned.stdout_r)),
      stderr_r_(std::move(spawned.stderr_r)),
      pty_master_(std::move(spawned.pty_master)) {}

Process::~Process() = default;

Result<void> Process::StartReader() {
  exit_event_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!exit_event_) return SysError("eventfd");
  try {
    std::thread([self = shared_from_this()] { self->ReaderLoop(); }).detach();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kResourceExhausted, std::string("reader thread: ") + e.what());
  }
  return Ok();
}

void Process::ReaderLoop() {
  struct Source {
    int fd;
    OutputKind kind;
    bool open;
  };
  std::vector<Source> sources;
  if (pty_master_) {
    sources.push_back({pty_master_.get(), OutputKind::kPty, true});
  } else {
    sources.push_back({stdout_r_.get(), OutputKind::kStdout, true});
    sources.push_back({stderr_r_.get(), OutputKind::kStderr, true});
  }
  std::vector<char> buf(64 * 1024);
  // Reads what is available on one source; false once it is closed.
  auto drain = [&](Source& s, size_t budget) {
    while (budget > 0) {
      ssize_t n = read(s.fd, buf.data(), buf.size());
      if (n > 0) {
        Append(s.kind, buf.data(), static_cast<size_t>(n));
        budget -= std::min(budget, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      s.open = false;  // EOF, or EIO from a PTY whose slave side is gone
      return;
    }
  };
  bool exited = false;
  while (!exited) {
    std::vector<pollfd> pfds;
    for (auto& s : sources) {
      if (s.open) pfds.push_back({s.fd, POLLIN, 0});
    }
    if (pfds.empty()) break;
    pfds.push_back({exit_event_.get(), POLLIN, 0});
    if (poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::Error("process_poll_failed", {{"pid", pid_}, {"errno", errno}});
      break;
    }
    if (pfds.back().revents & POLLIN) exited = true;
    for (auto& s : sources) {
      if (!s.open) continue;
      for (size_t i = 0; i + 1 < pfds.size(); ++i) {
        if (pfds[i].fd == s.fd && pfds[i].revents != 0) drain(s, 1u << 20);
      }
    }
  }
  if (exited) {
    // The process is gone: take what is buffered, but do not wait for descendants that
    // still hold the pipe (Go's exec closes the pipes after Wait, too).
    for (auto& s : sources) {
      if (s.open) drain(s, 16u << 20);
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    output_done_ = true;
  }
  cv_.notify_all();
}

void Process::Append(OutputKind kind, const char* data, size_t n) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] {
    if (buffered_ < kMaxBufferedBytes) return true;
    for (const auto& [id, seq] : subs_) {
      if (seq < EndSeqLocked()) return false;
    }
    return true;
  });
  log_.push_back(Chunk{kind, std::string(data, n)});
  buffered_ += n;
  TrimLocked();
  lk.unlock();
  cv_.notify_all();
}

void Process::TrimLocked() {
  uint64_t min_seq = EndSeqLocked();
  for (const auto& [id, seq] : subs_) min_seq = std::min(min_seq, seq);
  while (base_seq_ < min_seq && !log_.empty()) {
    buffered_ -= log_.front().data.size();
    log_.pop_front();
    ++base_seq_;
  }
}

int Process::Subscribe(bool from_start) {
  std::lock_guard<std::mutex> lk(mu_);
  const int id = next_sub_++;
  subs_[id] = from_start ? base_seq_ : EndSeqLocked();
  return id;
}

void Process::Unsubscribe(int id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    subs_.erase(id);
    TrimLocked();
  }
  cv_.notify_all();
}

Process::Batch Process::Wait(int id, Clock::time_point until) {
  Batch batch;
  std::unique_lock<std::mutex> lk(mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return batch;
  cv_.wait_until(lk, until, [&] { return it->second < EndSeqLocked() || EndedLocked(); });
  if (it->second < base_seq_) it->second = base_seq_;
  size_t bytes = 0;
  while (it->second < EndSeqLocked() && bytes < (1u << 20)) {
    const Chunk& c = log_[it->second - base_seq_];
    bytes += c.data.size();
    batch.chunks.push_back(c);
    ++it->second;
  }
  batch.ended = EndedLocked() && it->second == EndSeqLocked();
  if (batch.ended) {
    batch.end = protocol::EndInfoFromWaitStatus(wait_status_);
    batch.deadline_killed = deadline_killed_;
    batch.kill_report = kill_report_;
  }
  TrimLocked();
  lk.unlock();
  cv_.notify_all();
  return batch;
}

Result<void> Process::WriteInput(protocol::InputKind kind, std::string_view data) {
  std::lock_guard<std::mutex> lk(input_mu_);
  if (exited()) return MakeError(ErrorCode::kNotFound, "process " + std::to_string(pid_) +
                                                           " has exited");
  int fd = -1;
  if (kind == protocol::InputKind::kPty) {
    if (!pty_master_) {
      return MakeError(ErrorCode::kFailedPrecondition, "process has no PTY");
    }
    fd = pty_master_.get();
  } else {
    if (pty_master_) {
      fd = pty_master_.get();  // envd also feeds stdin input of a PTY process to the terminal
    } else if (!stdin_w_) {
      return MakeError(ErrorCode::kFailedPrecondition, "stdin of process " +
                                                           std::to_string(pid_) +
                                                           " is closed or not a pipe");
    } else {
      fd = stdin_w_.get();
    }
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                               Clock::now());
      if (left.count() <= 0) {
        return MakeError(ErrorCode::kDeadlineExceeded, "process is not reading its input");
      }
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      continue;
    }
    return SysError("write input to process " + std::to_string(pid_));
  }
  return Ok();
}

Result<void> Process::CloseStdin() {
  std::lock_guard<std::mutex> lk(input_mu_);
  if (pty_master_) {
    return MakeError(ErrorCode::kFailedPrecondition, "cannot close stdin of a PTY process");
  }
  stdin_w_.reset();
  return Ok();
}

Result<void> Process::Resize(const protocol::PtySize& size) {
  if (!pty_master_) return MakeError(ErrorCode::kFailedPrecondition, "process has no PTY");
  return ResizePty(pty_master_.get(), size);
}

void Process::OnExit(int wait_status) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    exited_ = true;
    wait_status_ = wait_status;
  }
  {
    // The child is gone: nobody will read its stdin again.
    std::lock_guard<std::mutex> lk(input_mu_);
    stdin_w_.reset();
  }
  if (exit_event_) {
    uint64_t one = 1;
    ssize_t ignored = write(exit_event_.get(), &one, sizeof one);
    (void)ignored;
  }
  cv_.notify_all();
}

void Process::BeginDeadlineKill() {
  std::lock_guard<std::mutex> lk(mu_);
  deadline_killed_ = true;
  killing_ = true;
}

void Process::EndDeadlineKill(std::string report) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    killing_ = false;
    kill_report_ = std::move(report);
  }
  cv_.notify_all();
}

bool Process::exited() const {
  std::lock_guard<std::mutex> lk(mu_);
  return exited_;
}

}  // namespace sbx::agent
