// Process: one user process started by the agent, and everything the streams need from it.
// A reader thread moves its output (pipes or a PTY) into a bounded log of chunks; stream
// handlers subscribe with a cursor and wait for new chunks, the end, or a timeout. With no
// subscriber attached, output is drained and discarded (a late Connect sees only new output);
// with a lagging subscriber the reader stops reading once kMaxBufferedBytes are queued
// (back-pressure, as a pipe would apply). The end (exit status plus drained output) is kept
// for late subscribers.
//
// Thread safety: all public methods are thread-safe. Input writes are serialised.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/spawn.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "protocol/process_messages.h"

namespace sbx::agent {

class Process : public std::enable_shared_from_this<Process> {
 public:
  static constexpr size_t kMaxBufferedBytes = 4u << 20;

  struct Chunk {
    protocol::OutputKind kind;
    std::string data;
  };
  struct Batch {
    std::vector<Chunk> chunks;
    bool ended = false;
    protocol::EndInfo end;
    bool deadline_killed = false;
    std::string kill_report;  // with deadline_killed: what the kill did
  };
  using Clock = std::chrono::steady_clock;

  // `cgroup`: the name of its execution cgroup (ExecCgroups), empty without one.
  Process(protocol::ProcessConfig config, std::optional<std::string> tag, SpawnedProcess spawned,
          std::string cgroup);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  uint32_t pid() const { return pid_; }
  const protocol::ProcessConfig& config() const { return config_; }
  const std::optional<std::string>& tag() const { return tag_; }
  bool is_pty() const { return pty_master_.valid(); }
  const std::string& cgroup() const { return cgroup_; }

  // Starts the detached reader thread (it keeps the Process alive until output is drained).
  Result<void> StartReader();

  // Registers a cursor at the oldest retained chunk (from_start) or after the newest.
  int Subscribe(bool from_start);
  void Unsubscribe(int id);
  // Waits until there is output for the cursor, the process has ended, or `until`.
  Batch Wait(int id, Clock::time_point until);

  Result<void> WriteInput(protocol::InputKind kind, std::string_view data);
  Result<void> CloseStdin();
  Result<void> Resize(const protocol::PtySize& size);

  // Called by the reaper with the waitpid() status.
  void OnExit(int wait_status);
  // Called by the deadline watcher around its kill: the end is held back from subscribers
  // until the kill's report is in.
  void BeginDeadlineKill();
  void EndDeadlineKill(std::string report);
  bool exited() const;

 private:
  void ReaderLoop();
  void Append(protocol::OutputKind kind, const char* data, size_t n);
  void TrimLocked();
  uint64_t EndSeqLocked() const { return base_seq_ + log_.size(); }
  bool EndedLocked() const { return exited_ && output_done_ && !killing_; }

  const uint32_t pid_;
  const protocol::ProcessConfig config_;
  const std::optional<std::string> tag_;
  const std::string cgroup_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> log_;
  uint64_t base_seq_ = 0;
  size_t buffered_ = 0;
  std::map<int, uint64_t> subs_;
  int next_sub_ = 1;
  bool exited_ = false;
  int wait_status_ = 0;
  bool output_done_ = false;
  bool deadline_killed_ = false;
  bool killing_ = false;
  std::string kill_report_;

  std::mutex input_mu_;
  UniqueFd stdin_w_;
  UniqueFd stdout_r_;
  UniqueFd stderr_r_;
  UniqueFd pty_master_;
  UniqueFd exit_event_;  // eventfd: tells the reader the process has exited
};

}  // namespace sbx::agent
