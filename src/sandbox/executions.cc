// ExecLog, Execution, ExecutionRegistry (see executions.h).
#include "sandbox/executions.h"

#include <algorithm>

#include "common/util.h"

namespace sbx::sandbox {

const char* OutputStreamName(OutputStream s) {
  return s == OutputStream::kStdout ? "stdout" : "stderr";
}

size_t Utf8CompletePrefix(std::string_view d) {
  const size_t n = d.size();
  // Walk back over continuation bytes (10xxxxxx) to the lead byte of the last sequence.
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(d[n - back]);
    if ((c & 0xC0) == 0x80) continue;
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;  // not UTF-8 that more bytes could complete: hand it out as it is
}

// ------------------------------------------------------------------------------------------
// ExecLog

void ExecLog::Append(OutputStream s, std::string_view d) {
  const int i = static_cast<int>(s);
  if (d.empty() || truncated_[i]) return;
  const size_t room = cap_ - data_[i].size();
  std::string_view keep = d.substr(0, room);
  if (!keep.empty()) {
    const size_t begin = data_[i].size();
    data_[i].append(keep);
    if (!segments_.empty() && segments_.back().stream == s && !segments_.back().marker &&
        segments_.back().end == begin) {
      segments_.back().end = data_[i].size();
    } else {
      segments_.push_back({s, false, begin, data_[i].size()});
    }
  }
  if (d.size() > room) {
    truncated_[i] = true;
    segments_.push_back({s, true, cap_, cap_});
  }
}

std::vector<OutputPiece> ExecLog::Read(Cursor* c, bool final) const {
  std::vector<OutputPiece> out;
  const size_t n = segments_.size();
  for (size_t k = c->segment; k < n; ++k) {
    const Segment& g = segments_[k];
    const int i = static_cast<int>(g.stream);
    if (g.marker) {
      out.push_back({g.stream, true, ""});
      continue;
    }
    size_t from = std::max(g.begin, c->consumed[i]);
    size_t to = g.end;
    if (to <= from) continue;
    // Only the last segment can still grow, so only there may a character be unfinished.
    if (!final && k + 1 == n)
      to = from + Utf8CompletePrefix(std::string_view(data_[i]).substr(from, to - from));
    if (to > from) {
      out.push_back({g.stream, false, data_[i].substr(from, to - from)});
      c->consumed[i] = to;
    }
  }
  // The cursor stays on the last segment while it may grow; a marker never does.
  if (n > 0) c->segment = segments_[n - 1].marker ? n : n - 1;
  return out;
}

bool ExecLog::HasMore(const Cursor& c, bool final) const {
  const size_t n = segments_.size();
  for (size_t k = c.segment; k < n; ++k) {
    const Segment& g = segments_[k];
    if (g.marker) return true;
    const int i = static_cast<int>(g.stream);
    size_t from = std::max(g.begin, c.consumed[i]);
    if (g.end <= from) continue;
    if (final || k + 1 < n) return true;
    if (Utf8CompletePrefix(std::string_view(data_[i]).substr(from, g.end - from)) > 0) return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------
// Execution

Execution::Execution(Info info, size_t output_cap) : info_(std::move(info)), log_(output_cap) {
  initial_stdin_fed_ = !info_.stdin_has_data;
}

void Execution::Output(OutputStream s, std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.Append(s, data);
  }
  cv_.notify_all();
}

int Execution::Started(std::shared_ptr<agentclient::AgentClient> agent, uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  agent_ = std::move(agent);
  pid_ = pid;
  cv_.notify_all();
  return kill_signal_;
}

void Execution::Ended() {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

void Execution::InitialStdinFed() {
  std::lock_guard<std::mutex> lock(mu_);
  initial_stdin_fed_ = true;
  cv_.notify_all();
}

void Execution::Finish(spec::ExecResult result, store::ExecutionRecord record) {
  result.stdout_data.clear();
  result.stderr_data.clear();
  record.stdout_data.clear();
  record.stderr_data.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = std::move(result);
    record_ = std::move(record);
    ended_ = true;
    finished_at_ = std::chrono::steady_clock::now();
  }
  cv_.notify_all();
}

bool Execution::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_.has_value();
}

std::optional<std::chrono::steady_clock::time_point> Execution::finished_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!result_) return std::nullopt;
  return finished_at_;
}

size_t Execution::output_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_.bytes();
}

std::optional<spec::ExecResult> Execution::FinalResultLocked() const {
  if (!result_) return std::nullopt;
  spec::ExecResult r = *result_;
  r.stdout_data = log_.data(OutputStream::kStdout);
  r.stderr_data = log_.data(OutputStream::kStderr);
  r.stdout_truncated = log_.truncated(OutputStream::kStdout);
  r.stderr_truncated = log_.truncated(OutputStream::kStderr);
  return r;
}

std::optional<spec::ExecResult> Execution::FinalResult() const {
  std::lock_guard<std::mutex> lock(mu_);
  return FinalResultLocked();
}

std::optional<spec::ExecResult> Execution::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return result_.has_value(); });
  return FinalResultLocked();
}

spec::ExecResult Execution::WaitForResult() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return result_.has_value(); });
  return *FinalResultLocked();
}

store::ExecutionRecord Execution::Record() const {
  std::lock_guard<std::mutex> lock(mu_);
  store::ExecutionRecord r;
  if (result_) {
    r = record_;
  } else {
    r.id = info_.id;
    r.sandbox_id = info_.sandbox_id;
    r.tenant = info_.tenant;
    r.started_at_ms = info_.started_at_ms;
    r.language = info_.language;
    r.code = info_.code;
    r.status = "running";
    r.duration_s = static_cast<double>(NowUnixMs() - info_.started_at_ms) / 1000.0;
  }
  r.stdout_data = log_.data(OutputStream::kStdout);
  r.stderr_data = log_.data(OutputStream::kStderr);
  r.stdout_truncated = log_.truncated(OutputStream::kStdout);
  r.stderr_truncated = log_.truncated(OutputStream::kStderr);
  return r;
}

Execution::Update Execution::Next(ExecLog::Cursor* cursor, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!result_ && !log_.HasMore(*cursor, false)) {
    cv_.wait_for(lock, timeout,
                 [&] { return result_.has_value() || log_.HasMore(*cursor, false); });
  }
  const bool final = result_.has_value();
  Update u;
  u.pieces = log_.Read(cursor, final);
  if (final) u.result = FinalResultLocked();
  return u;
}

Result<Execution::Target> Execution::RequestKill(int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  // Once the process is over, a kill would only mislabel how it ended.
  if (result_ || ended_)
    return MakeError(ErrorCode::kFailedPrecondition,
                     "execution '" + info_.id + "' has already finished");
  kill_signal_ = sig;
  if (pid_ == 0 || !agent_) return Target{};
  return Target{agent_, pid_};
}

int Execution::kill_signal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kill_signal_;
}

Result<Execution::Target> Execution::StdinTarget(std::chrono::milliseconds timeout, bool closing,
                                                 bool initial) {
  std::unique_lock<std::mutex> lock(mu_);
  const std::string name = "execution '" + info_.id + "'";
  if (!info_.stdin_pipe)
    return MakeError(ErrorCode::kFailedPrecondition,
                     name + " has no stdin pipe: start it with \"stdin_open\": true (or with "
                            "\"stdin\" data and \"stdin_open\": true to keep it open)");
  // Input from the API waits for the request's own stdin data to be written first.
  cv_.wait_for(lock, timeout, [&] {
    return ended_ || result_.has_value() || (pid_ != 0 && (initial || initial_stdin_fed_));
  });
  if (result_)
    return MakeError(ErrorCode::kFailedPrecondition,
                     name + " is not running (status " + spec::ExecStatusName(result_->status) +
                         ")");
  if (ended_) return MakeError(ErrorCode::kFailedPrecondition, name + " is not running (it ended)");
  if (stdin_closed_)
    return MakeError(ErrorCode::kFailedPrecondition, "stdin of " + name + " is closed");
  if (pid_ == 0 || !(initial || initial_stdin_fed_))
    return MakeError(ErrorCode::kUnavailable, name + " has not started yet; try again");
  if (closing) stdin_closed_ = true;
  return Target{agent_, pid_};
}

// ------------------------------------------------------------------------------------------
// ExecutionRegistry

Result<void> ExecutionRegistry::Start(std::shared_ptr<Execution> execution,
                                      std::function<void()> body) {
  std::vector<std::thread> to_join;
  Result<void> out = Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    PruneLocked(&to_join);
    const std::string& sid = execution->info().sandbox_id;
    size_t running = 0;
    for (const Entry& e : entries_)
      running += e.execution->info().sandbox_id == sid && !e.execution->done();
    if (closed_) {
      out = MakeError(ErrorCode::kUnavailable, "sandboxd is shutting down");
    } else if (running >= options_.max_running_per_sandbox) {
      out = MakeError(ErrorCode::kResourceExhausted,
                      "sandbox '" + sid + "' already runs " + std::to_string(running) +
                          " executions (the limit); wait for some to finish or kill them");
    } else {
      auto exited = std::make_shared<std::atomic<bool>>(false);
      try {
        std::thread t([body = std::move(body), exited] {
          body();
          exited->store(true);
        });
        entries_.push_back({std::move(execution), std::move(t), exited});
      } catch (const std::system_error& e) {
        out = MakeError(ErrorCode::kResourceExhausted,
                        std::string("cannot start a thread for the execution: ") + e.what());
      }
    }
  }
  for (auto& t : to_join) t.join();
  return out;
}

std::shared_ptr<Execution> ExecutionRegistry::Find(const std::string& id) {
  std::vector<std::thread> to_join;
  std::shared_ptr<Execution> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PruneLocked(&to_join);
    for (const Entry& e : entries_)
      if (e.execution->info().id == id) found = e.execution;
  }
  for (auto& t : to_join) t.join();
  return found;
}

void ExecutionRegistry::Prune() {
  std::vector<std::thread> to_join;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PruneLocked(&to_join);
  }
  for (auto& t : to_join) t.join();
}

void ExecutionRegistry::PruneLocked(std::vector<std::thread>* to_join) {
  const auto now = std::chrono::steady_clock::now();
  size_t count = 0, bytes = 0;
  for (Entry& e : entries_) {
    // A thread whose body returned is joined at once; its entry may stay.
    if (e.exited->load() && e.thread.joinable()) to_join->push_back(std::move(e.thread));
    if (e.exited->load()) {
      ++count;
      bytes += e.execution->output_bytes();
    }
  }
  // Oldest first: past the retention, or beyond the count or byte budget.
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto finished = it->execution->finished_at();
    if (!it->exited->load() || !finished) {
      ++it;
      continue;
    }
    if (now - *finished > options_.retention || count > options_.max_finished ||
        bytes > options_.max_finished_bytes) {
      --count;
      bytes -= it->execution->output_bytes();
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void ExecutionRegistry::JoinAll() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (Entry& e : entries_)
      if (e.thread.joinable()) threads.push_back(std::move(e.thread));
  }
  for (auto& t : threads) t.join();
}

size_t ExecutionRegistry::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

// ------------------------------------------------------------------------------------------
// The store side

spec::ExecResult ResultFromRecord(const store::ExecutionRecord& r) {
  spec::ExecResult res;
  auto st = spec::ParseExecStatus(r.status);
  res.status = st.ok() ? *st : spec::ExecStatus::kError;
  res.exit_code = r.exit_code;
  res.signal = r.signal;
  res.stdout_data = r.stdout_data;
  res.stderr_data = r.stderr_data;
  res.stdout_truncated = r.stdout_truncated;
  res.stderr_truncated = r.stderr_truncated;
  res.execution_time = r.duration_s;
  res.reason = r.reason;
  if (!st.ok() && res.reason.empty()) res.reason = "recorded with status '" + r.status + "'";
  return res;
}

}  // namespace sbx::sandbox
