// The agents' logs. Each sandbox's agent writes its stdout and stderr into a pipe whose read
// end stays in the daemon; no file of it exists on the host, so nothing inside a sandbox can
// reach a host file through the agent's descriptors. One thread (epoll) reads every pipe and
// re-logs each line the agent wrote as an `agent.log` event of the daemon's own log, with the
// sandbox's id, at the agent's level.
//
// Bounds: a line is at most kMaxLineBytes (the rest is cut, truncated=true); each sandbox may
// log kLinesPerSecond lines a second on average, kBurstLines at once; lines beyond that are
// dropped and their number is logged (`agent.log_dropped`) once lines get through again or
// the pipe closes. The agent's side never blocks (src/agent/main.cc).
//
// After a daemon restart the adopted agent's pipe has no reader: ReopenFromInit gives a new
// read end of the same pipe (through the init's pidfd), so relaying resumes; what the agent
// wrote while no daemon ran is lost, and the agent reports how many lines that was
// (`log_lines_dropped`).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sbx::sandbox {

class AgentLogs {
 public:
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr double kLinesPerSecond = 100;
  static constexpr double kBurstLines = 1000;

  AgentLogs() = default;
  ~AgentLogs();  // Stop()
  AgentLogs(const AgentLogs&) = delete;
  AgentLogs& operator=(const AgentLogs&) = delete;

  // Starts the reader thread.
  Result<void> Start();
  // Relays what is left in every pipe, then stops the thread. Idempotent.
  void Stop();

  // A new pipe, both ends close-on-exec and non-blocking: `first` (read) for Watch, `second`
  // (write) for runtime::LaunchConfig::log_fd.
  static Result<std::pair<UniqueFd, UniqueFd>> MakePipe();
  // A new read end of the pipe that the init behind `pidfd` has as its stderr (fd 2); fails
  // when that fd is not a pipe.
  static Result<UniqueFd> ReopenFromInit(int pidfd);
  // After a restart: Watch(id, ReopenFromInit(pidfd)), or a warning that the adopted agent's
  // log is lost (`reconcile.agent_log_lost`).
  void WatchAdopted(const std::string& id, int pidfd);

  // Relays the lines read from `read_end` as sandbox `id`'s (an earlier pipe of `id` is
  // forgotten first).
  void Watch(const std::string& id, UniqueFd read_end);
  // Relays what can be read now, then closes `id`'s pipe. No-op for an unknown id.
  void Forget(const std::string& id);

 private:
  struct Source {
    std::string id;
    UniqueFd fd;
    std::string partial;      // the start of a line not yet ended
    bool cutting = false;     // dropping the rest of an over-long line
    double tokens = kBurstLines;
    int64_t refilled_ns = 0;
    uint64_t dropped = 0;     // lines dropped by the rate limit, not yet reported
  };

  void Run();
  // Reads up to `budget` bytes; false at end of file or on an error (the source is done).
  bool Drain(Source& s, size_t budget);
  void Line(Source& s, std::string_view line, bool truncated);
  void ReportDropped(Source& s);
  void CloseLocked(uint64_t key);

  std::mutex mu_;  // guards everything below
  std::map<uint64_t, Source> sources_;     // by epoll key
  std::map<std::string, uint64_t> by_id_;  // sandbox id -> key
  uint64_t next_key_ = 1;                  // 0 is the wake-up eventfd
  UniqueFd epoll_;
  UniqueFd wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sbx::sandbox
