// history_retention: periodic pruning of the execution history (see history_retention.h).
#include "store/history_retention.h"

#include "common/log.h"
#include "common/util.h"

namespace sbx::store {

HistoryRetention::HistoryRetention(Store* store, RetentionPolicy policy,
                                   std::function<int64_t()> now_ms)
    : store_(store), policy_(policy), now_ms_(std::move(now_ms)) {
  if (!now_ms_) now_ms_ = [] { return NowUnixMs(); };
}

HistoryRetention::~HistoryRetention() { Stop(); }

Result<PruneCounts> HistoryRetention::RunOnce() {
  int64_t cutoff = policy_.days > 0 ? now_ms_() - policy_.days * 86400 * 1000 : 0;
  auto counts = store_->PruneExecutions(cutoff, policy_.max_rows);
  if (!counts.ok()) {
    log::Error("history.prune_failed", {{"error", counts.error().ToString()}});
    return counts;
  }
  if (counts->total() > 0)
    log::Info("history.pruned", {{"deleted", counts->total()},
                                 {"older_than_days", policy_.days},
                                 {"by_age", counts->by_age},
                                 {"max_rows", policy_.max_rows},
                                 {"by_count", counts->by_count}});
  return counts;
}

void HistoryRetention::Start() {
  log::Info("history.retention", {{"days", policy_.days},
                                  {"max_rows", policy_.max_rows},
                                  {"enabled", policy_.enabled()}});
  if (!policy_.enabled() || thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void HistoryRetention::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HistoryRetention::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    (void)RunOnce();  // logged inside; the next pass tries again
    lock.lock();
    cv_.wait_for(lock, policy_.interval, [this] { return stopping_; });
  }
}

}  // namespace sbx::store
