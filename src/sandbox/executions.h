// executions: code running in sandboxes as objects that outlive the request that started them
// (docs/api.md, "Streaming and background executions").
//
//   ExecLog            the output of one execution in arrival order: stdout and stderr pieces,
//                      each stream capped at the output cap, a truncation marker where a cap
//                      was hit. Readers hold a cursor and read from the start at any time.
//   Execution          one execution: its log, the agent pid, stdin state, a kill request and,
//                      at the end, its result and history record; watchers block on it.
//   ExecutionRegistry  the executions of a manager: running ones, and finished ones for a while
//                      (kept for re-streaming; after that the history row in the store serves).
//
// Thread safety: ExecLog is a plain value (Execution locks around it); Execution and
// ExecutionRegistry may be used from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "agentclient/agent_client.h"
#include "common/result.h"
#include "spec/spec.h"
#include "store/store.h"

namespace sbx::sandbox {

// The most stdin one request may carry ("stdin" of exec, "data" of input): it is held in memory
// until written.
inline constexpr size_t kMaxStdinBytes = 8u << 20;

enum class OutputStream { kStdout = 0, kStderr = 1 };
const char* OutputStreamName(OutputStream s);

// One piece of output as a reader gets it: data of a stream, or the marker that the stream hit
// its cap (truncated, data empty) and nothing more of it follows.
struct OutputPiece {
  OutputStream stream = OutputStream::kStdout;
  bool truncated = false;
  std::string data;
};

class ExecLog {
 public:
  explicit ExecLog(size_t cap_per_stream) : cap_(cap_per_stream) {}

  // Where a reader is. A fresh cursor reads from the start.
  struct Cursor {
    size_t segment = 0;
    size_t consumed[2] = {0, 0};  // bytes of each stream already handed out
  };

  // Appends output, keeping up to the cap of the stream; the first byte past it adds the
  // truncation marker. Consecutive output of one stream grows one segment, so the log stays
  // small however the process writes.
  void Append(OutputStream s, std::string_view data);
  // What follows the cursor, advancing it. Unless `final`, an incomplete UTF-8 sequence at the
  // very end of the log is held back until its remaining bytes arrive, so readers that turn
  // pieces into JSON strings never cut a character in two.
  std::vector<OutputPiece> Read(Cursor* cursor, bool final) const;
  bool HasMore(const Cursor& cursor, bool final) const;

  const std::string& data(OutputStream s) const { return data_[static_cast<int>(s)]; }
  bool truncated(OutputStream s) const { return truncated_[static_cast<int>(s)]; }
  size_t bytes() const { return data_[0].size() + data_[1].size(); }
  size_t cap() const { return cap_; }

 private:
  struct Segment {
    OutputStream stream;
    bool marker;  // the truncation marker of `stream`
    size_t begin, end;
  };
  size_t cap_;
  std::string data_[2];
  bool truncated_[2] = {false, false};
  std::vector<Segment> segments_;
};

// The length of `data` without an incomplete UTF-8 sequence at its end (0..3 bytes fewer).
size_t Utf8CompletePrefix(std::string_view data);

class Execution {
 public:
  struct Info {
    std::string id;
    std::string sandbox_id;
    std::string tenant;
    std::string language;  // python, node, bash, sh, or "argv"
    std::string code;      // as recorded in history (capped)
    int64_t started_at_ms = 0;
    bool stdin_pipe = false;      // the process got a stdin pipe (stdin data or stdin_open)
    bool stdin_has_data = false;  // the request's "stdin" is written first (then closed
                                  // unless stdin_open)
  };

  Execution(Info info, size_t output_cap);
  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  const Info& info() const { return info_; }

  // ---- the execution's own thread ----
  void Output(OutputStream s, std::string_view data);
  // The process started. Returns the signal to send to it now (a kill requested before the
  // pid was known), or 0.
  int Started(std::shared_ptr<agentclient::AgentClient> agent, uint32_t pid);
  // The process is over (stdin writers stop waiting for it to start).
  void Ended();
  // The request's own stdin data is written: input from the API may follow.
  void InitialStdinFed();
  // The outcome: `result` without its output (taken from the log) and the history row as
  // written to the store (without output too). Wakes every watcher.
  void Finish(spec::ExecResult result, store::ExecutionRecord record);

  // ---- readers ----
  bool done() const;
  // When it finished (steady clock); nullopt while running.
  std::optional<std::chrono::steady_clock::time_point> finished_at() const;
  size_t output_bytes() const;
  // The result with its output once finished.
  std::optional<spec::ExecResult> FinalResult() const;
  // Waits until finished or `timeout` passed; the result when finished.
  std::optional<spec::ExecResult> Wait(std::chrono::milliseconds timeout);
  // Waits for the end, however long (an execution always ends: at its timeout at the latest).
  spec::ExecResult WaitForResult();
  // The history record: the final one, or while running the output so far, status "running".
  store::ExecutionRecord Record() const;

  // Output after *cursor. Waits up to `timeout` for something new when there is nothing yet.
  // `result` is set once the execution finished and every piece has been handed out.
  struct Update {
    std::vector<OutputPiece> pieces;
    std::optional<spec::ExecResult> result;
  };
  Update Next(ExecLog::Cursor* cursor, std::chrono::milliseconds timeout);

  // ---- control ----
  // A kill request: records the signal (the result then says "killed by request"). Returns the
  // process to signal now, or an empty Target (no agent) when it has not started yet (Started()
  // will ask for it). kFailedPrecondition once the process is over.
  struct Target {
    std::shared_ptr<agentclient::AgentClient> agent;
    uint32_t pid = 0;
  };
  Result<Target> RequestKill(int sig);
  int kill_signal() const;
  // The process whose stdin takes input: waits up to `timeout` for it to start (and, unless
  // `initial`, for the request's own stdin data to be written). Errors: kFailedPrecondition
  // when stdin is not a pipe or was closed, or the process is over; kUnavailable when it has
  // not started in time. `closing` marks stdin closed (no further input is accepted).
  Result<Target> StdinTarget(std::chrono::milliseconds timeout, bool closing, bool initial);

 private:
  std::optional<spec::ExecResult> FinalResultLocked() const;

  Info info_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  ExecLog log_;
  std::shared_ptr<agentclient::AgentClient> agent_;
  uint32_t pid_ = 0;
  bool ended_ = false;
  bool stdin_closed_ = false;
  bool initial_stdin_fed_ = true;
  int kill_signal_ = 0;
  std::optional<spec::ExecResult> result_;  // without output
  std::chrono::steady_clock::time_point finished_at_{};
  store::ExecutionRecord record_;           // the final row, without output
};

struct RegistryOptions {
  std::chrono::milliseconds retention{10 * 60 * 1000};  // finished ones stay this long...
  size_t max_finished = 200;                              // ...at most this many...
  size_t max_finished_bytes = 256u << 20;                 // ...holding at most this output
  size_t max_running_per_sandbox = 128;
};

class ExecutionRegistry {
 public:
  explicit ExecutionRegistry(RegistryOptions options = {}) : options_(options) {}
  ~ExecutionRegistry() { JoinAll(); }

  // Adds the execution and runs `body` on a thread of its own. kResourceExhausted when its
  // sandbox already runs max_running_per_sandbox executions; kUnavailable after JoinAll.
  Result<void> Start(std::shared_ptr<Execution> execution, std::function<void()> body);
  // nullptr when unknown or no longer kept.
  std::shared_ptr<Execution> Find(const std::string& id);
  // Forgets finished executions past the retention limits and joins their threads.
  void Prune();
  // Refuses new executions and joins every thread (they end when their sandboxes go).
  void JoinAll();
  size_t size();

 private:
  struct Entry {
    std::shared_ptr<Execution> execution;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> exited;  // the thread's body returned
  };
  void PruneLocked(std::vector<std::thread>* to_join);

  RegistryOptions options_;
  std::mutex mu_;
  std::vector<Entry> entries_;  // oldest first
  bool closed_ = false;
};

// The ExecResult a finished history row describes.
spec::ExecResult ResultFromRecord(const store::ExecutionRecord& r);

}  // namespace sbx::sandbox
