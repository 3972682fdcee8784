// history_retention: the daemon's execution history retention (sandboxd
// --history-retention-days, --history-max-rows). Finished executions older than the retention
// period, and those beyond the newest max_rows, are deleted at start and then every interval
// (an hour by default) on a thread of its own; executions still 'running' are never touched.
// Each pass that deletes something logs `history.pruned` with the counts.
//
// Thread safety: Start and Stop from one thread (the daemon's main); RunOnce from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/result.h"
#include "store/store.h"

namespace sbx::store {

struct RetentionPolicy {
  int64_t days = 30;      // 0: no age limit
  int64_t max_rows = 0;   // 0: no cap on the number of finished executions kept
  std::chrono::milliseconds interval{std::chrono::hours(1)};
  bool enabled() const { return days > 0 || max_rows > 0; }
};

class HistoryRetention {
 public:
  // `now_ms` is the clock (NowUnixMs by default; tests pass their own).
  HistoryRetention(Store* store, RetentionPolicy policy,
                   std::function<int64_t()> now_ms = nullptr);
  ~HistoryRetention();
  HistoryRetention(const HistoryRetention&) = delete;
  HistoryRetention& operator=(const HistoryRetention&) = delete;

  // One pass: deletes what the policy says is past keeping; logs and returns the counts.
  Result<PruneCounts> RunOnce();
  // Runs a pass now, then every policy.interval until Stop. Does nothing when the policy keeps
  // everything (days and max_rows both 0).
  void Start();
  void Stop();

 private:
  void Loop();

  Store* store_;
  RetentionPolicy policy_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sbx::store
