// The ordered schema migrations of the store. Migration i brings the schema from version i to
// i + 1 (PRAGMA user_version); each runs in one transaction at Store::Open. Append only: a
// migration that has shipped is never edited.
#include <string>
#include <vector>

#include "store/store.h"

namespace sbx::store {

const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: sandboxes and executions.
      "CREATE TABLE sandboxes ("
      " id TEXT PRIMARY KEY, template TEXT NOT NULL, state TEXT NOT NULL,"
      " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, timeout_s INTEGER NOT NULL,"
      " expires_at INTEGER NOT NULL DEFAULT 0, env TEXT NOT NULL DEFAULT '{}',"
      " metadata TEXT NOT NULL DEFAULT '{}', limits TEXT NOT NULL DEFAULT '{}',"
      " id_slot INTEGER NOT NULL, init_pid INTEGER NOT NULL DEFAULT 0,"
      " reason TEXT NOT NULL DEFAULT '', tenant TEXT NOT NULL DEFAULT '');"
      "CREATE UNIQUE INDEX sandboxes_slot ON sandboxes(id_slot);"
      "CREATE TABLE executions ("
      " id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '',"
      " started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL, language TEXT NOT NULL,"
      " code TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER NOT NULL,"
      " signal INTEGER NOT NULL DEFAULT 0, duration REAL NOT NULL,"
      " stdout TEXT NOT NULL, stderr TEXT NOT NULL, stdout_truncated INTEGER NOT NULL DEFAULT 0,"
      " stderr_truncated INTEGER NOT NULL DEFAULT 0, cpu_ns INTEGER NOT NULL DEFAULT 0,"
      " peak_memory INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX executions_sandbox ON executions(sandbox_id, started_at);"
      "CREATE INDEX executions_started ON executions(started_at);",
      // 2: API keys (sha256 hashes only; store/keys.h).
      "CREATE TABLE api_keys ("
      " id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',"
      " prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,"
      " expires_at INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0,"
      " last_used_at INTEGER NOT NULL DEFAULT 0, rotated_from TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX api_keys_tenant ON api_keys(tenant, created_at);",
  };
  return kMigrations;
}

}  // namespace sbx::store
