// WorkflowRepo: workflows and the ids of incoming webhook deliveries already seen
// (migration 4). A workflow row holds its trigger and lifecycle configuration as JSON (parsed
// and validated by lifecycle/workflow.h), the sha256 of its hook token (the token itself is
// shown once, at creation) and the scheduler's cursor: the time up to which its cron schedule
// has been handled, so a restarted daemon knows which runs it missed.
//
// Thread safety: any number of threads; every call runs under the Store's lock. The Store
// must outlive the WorkflowRepo.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace sbx::store {

struct WorkflowRecord {
  std::string id;    // wf_<12 hex>
  std::string name;  // unique: [a-z0-9][a-z0-9_-]{0,63}
  std::string tenant;
  std::string trigger_json;     // {"type":"manual"|"schedule"|"webhook", ...}
  std::string config_json;      // a LifecycleConfig
  std::string hook_token_hash;  // sha256 hex of the token of a token webhook, else ""
  bool enabled = true;
  int64_t created_at_ms = 0;
  int64_t schedule_cursor_ms = 0;  // fire times <= this have been handled
};

class WorkflowRepo {
 public:
  explicit WorkflowRepo(Store* store) : store_(store) {}

  Result<void> Insert(const WorkflowRecord& r);  // kAlreadyExists on a duplicate id or name
  Result<void> Update(const WorkflowRecord& r);  // by id; kNotFound
  Result<std::optional<WorkflowRecord>> GetByName(const std::string& name);
  Result<std::optional<WorkflowRecord>> GetById(const std::string& id);
  // The tenant's workflows, or all when tenant is "", by name.
  Result<std::vector<WorkflowRecord>> List(const std::string& tenant);
  Result<void> Delete(const std::string& name);  // kNotFound
  Result<void> SetScheduleCursor(const std::string& id, int64_t cursor_ms);
  Result<std::vector<WorkflowRecord>> FindByTokenHash(const std::string& hash_hex);

  // Remembers an incoming delivery id; false if it was already seen (a redelivery).
  Result<bool> RecordHookDelivery(const std::string& source, const std::string& delivery_id,
                                  int64_t now_ms);
  // Forgets delivery ids received before `before_ms` (GitHub redelivers within days).
  Result<int> PruneHookDeliveries(int64_t before_ms);

 private:
  Store* store_;
};

}  // namespace sbx::store
