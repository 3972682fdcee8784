// LifecycleRepo: lifecycle runs (migration 4). A run is the record of one LifecycleConfig run:
// its state, the config it ran, the result of every attempt of every script, and the monitor
// samples, as JSON documents written by lifecycle::LifecycleRunner after each step.
//
// Thread safety: any number of threads; every call runs under the Store's lock. The Store
// must outlive the LifecycleRepo.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace sbx::store {

struct LifecycleRunRecord {
  std::string id;  // run_<12 hex>
  std::string sandbox_id;
  std::string tenant;
  std::string workflow_id;          // "" for a lifecycle started directly
  std::string trigger_json = "{}";  // what started it: {"type":"manual"}, ...
  std::string state;                // running | succeeded | failed | timeout | interrupted
  std::string config_json = "{}";
  std::string scripts_json = "[]";  // [{"index":0,"attempts":[...],"status":"..."}]
  std::string samples_json = "[]";  // monitor samples
  std::string error;
  bool sandbox_removed = false;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;  // 0 while running
};

struct RunFilter {
  std::string sandbox_id;   // "" any
  std::string workflow_id;  // "" any
  std::string tenant;       // "" any
  std::string state;        // "" any
  int limit = 50;           // newest first
};

class LifecycleRepo {
 public:
  explicit LifecycleRepo(Store* store) : store_(store) {}

  Result<void> Insert(const LifecycleRunRecord& r);  // kAlreadyExists
  Result<void> Update(const LifecycleRunRecord& r);  // by id; kNotFound
  Result<std::optional<LifecycleRunRecord>> Get(const std::string& id);
  Result<std::vector<LifecycleRunRecord>> List(const RunFilter& f);
  // Runs still `running` (a daemon died under them) become `interrupted` with `reason`;
  // returns them as they are now.
  Result<std::vector<LifecycleRunRecord>> MarkInterrupted(const std::string& reason,
                                                          int64_t now_ms);

 private:
  Store* store_;
};

}  // namespace sbx::store
