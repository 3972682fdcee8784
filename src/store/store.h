// store: everything the user would miss after a crash, in SQLite (WAL mode), with numbered
// migrations applied at open. One repository type per kind of record.
//
// Thread safety: a Store may be used from any number of threads; it serialises access to its
// single connection with a mutex (statements are short; SQLite in WAL mode commits in well
// under a millisecond here).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace sbx::store {

struct SandboxRecord {
  std::string id;
  std::string template_name;
  std::string state;        // creating, running, paused, stopped, error
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t timeout_s = 0;
  int64_t expires_at_ms = 0;  // 0: never
  std::string env_json = "{}";
  std::string metadata_json = "{}";
  std::string limits_json = "{}";
  int64_t id_slot = -1;     // the host id range slot (runtime::kIdRangeSize ids each)
  int64_t init_pid = 0;
  uint64_t init_start_time = 0;  // /proc/PID/stat field 22 of the init, 0 when not running
  std::string reason;       // why it stopped or failed
  std::string tenant;
  int64_t paused_at_ms = 0;   // when it was paused; 0 unless state is "paused"
  std::string on_timeout = "stop";  // "stop" or "pause" (spec::OnTimeout)
  bool auto_resume = false;
  bool public_traffic = true;
};

struct ExecutionRecord {
  std::string id;
  std::string sandbox_id;
  std::string tenant;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  std::string language;
  std::string code;
  std::string status;
  int exit_code = -1;
  int signal = 0;
  double duration_s = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  int64_t cpu_ns = 0;
  int64_t peak_memory_bytes = 0;
  std::string reason;
};

// Which executions ListExecutions returns: newest first, at most `limit`.
struct ExecutionFilter {
  std::string id;                     // set: that execution only
  std::string sandbox_id;             // "": every sandbox
  std::string status;                 // "": every status ("running", "completed", ...)
  std::optional<std::string> tenant;  // set: only that tenant's ("" is the administrator's)
  int limit = 50;
};

// What PruneExecutions deleted.
struct PruneCounts {
  int64_t by_age = 0;    // started before the cutoff
  int64_t by_count = 0;  // beyond the newest max_rows
  int64_t total() const { return by_age + by_count; }
};

class Store {
 public:
  // Opens (creating) the database at `path` and applies pending migrations.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int SchemaVersion();

  // Sandboxes.
  Result<void> InsertSandbox(const SandboxRecord& r);   // kAlreadyExists on a duplicate id
  Result<void> UpdateSandbox(const SandboxRecord& r);   // by id; kNotFound if absent
  Result<std::optional<SandboxRecord>> GetSandbox(const std::string& id);
  Result<std::vector<SandboxRecord>> ListSandboxes();
  Result<void> DeleteSandbox(const std::string& id);

  // Runs f(sqlite3*) under the store's lock: the way repositories in other files of this
  // component (keys.cc, ...) share the one connection.
  template <typename F>
  auto WithDb(F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f(db_);
  }

  // Executions (history).
  Result<void> InsertExecution(const ExecutionRecord& r);
  // Replaces the row of r.id (an execution recorded as 'running' when it started).
  Result<void> UpdateExecution(const ExecutionRecord& r);
  // Marks every execution still 'running' as status 'error' with `reason` (at daemon start:
  // they were in flight when the previous daemon died). Returns how many.
  Result<int> MarkInterruptedExecutions(const std::string& reason);
  Result<std::vector<ExecutionRecord>> ListExecutions(const std::string& sandbox_id, int limit);
  Result<std::vector<ExecutionRecord>> ListExecutions(const ExecutionFilter& filter);
  Result<std::optional<ExecutionRecord>> GetExecution(const std::string& id);
  // History retention: deletes finished executions (never 'running' ones) that started before
  // started_before_ms (0: no age limit), then those beyond the newest max_rows finished ones
  // (0: no cap). Deletes in batches, releasing the lock between them, so a large backlog does
  // not stall the API.
  Result<PruneCounts> PruneExecutions(int64_t started_before_ms, int64_t max_rows);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Result<void> Migrate();
  Result<void> Exec(const std::string& sql);

  std::mutex mu_;
  sqlite3* db_;
};

// The ordered list of migrations (exposed for tests): migration i brings the schema from
// version i to i + 1.
const std::vector<std::string>& Migrations();

}  // namespace sbx::store
