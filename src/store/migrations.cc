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
      // 3: events, webhook subscriptions, the delivery outbox and its log (store/events.h,
      // store/webhooks.h). Subscription secrets and tokens are stored in plaintext because they
      // are needed to sign and authenticate deliveries; they are never logged or returned.
      "CREATE TABLE events ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
      " sandbox_id TEXT NOT NULL DEFAULT '', tenant TEXT NOT NULL DEFAULT '',"
      " time INTEGER NOT NULL, data TEXT NOT NULL DEFAULT '{}',"
      " webhooks INTEGER NOT NULL DEFAULT 1);"
      "CREATE INDEX events_type ON events(type, id);"
      "CREATE INDEX events_sandbox ON events(sandbox_id, id);"
      "CREATE TABLE webhook_subscriptions ("
      " id TEXT PRIMARY KEY, tenant TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL,"
      " url TEXT NOT NULL DEFAULT '', events TEXT NOT NULL DEFAULT '[]',"
      " secret TEXT NOT NULL DEFAULT '', github_owner TEXT NOT NULL DEFAULT '',"
      " github_repo TEXT NOT NULL DEFAULT '', github_token TEXT NOT NULL DEFAULT '',"
      " github_api_base TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,"
      " created_at INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '');"
      "CREATE TABLE outbox ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " event_id INTEGER NOT NULL REFERENCES events(id),"
      " subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,"
      " state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
      " next_attempt_at INTEGER NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0,"
      " last_status INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
      " created_at INTEGER NOT NULL, delivered_at INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX outbox_due ON outbox(state, next_attempt_at);"
      "CREATE INDEX outbox_subscription ON outbox(subscription_id, state);"
      "CREATE TABLE delivery_log ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
      " outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,"
      " attempt INTEGER NOT NULL, time INTEGER NOT NULL, status_code INTEGER NOT NULL,"
      " latency_ms REAL NOT NULL, error TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX delivery_log_outbox ON delivery_log(outbox_id, id);",
      // 4: lifecycle runs, workflows and the ids of incoming webhook deliveries already seen
      // (store/lifecycles.h, store/workflows.h).
      "CREATE TABLE lifecycle_runs ("
      " id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '',"
      " workflow_id TEXT NOT NULL DEFAULT '', trigger TEXT NOT NULL DEFAULT '{}',"
      " state TEXT NOT NULL, config TEXT NOT NULL, scripts TEXT NOT NULL DEFAULT '[]',"
      " samples TEXT NOT NULL DEFAULT '[]', error TEXT NOT NULL DEFAULT '',"
      " sandbox_removed INTEGER NOT NULL DEFAULT 0, started_at INTEGER NOT NULL,"
      " finished_at INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX lifecycle_runs_sandbox ON lifecycle_runs(sandbox_id, started_at);"
      "CREATE INDEX lifecycle_runs_workflow ON lifecycle_runs(workflow_id, started_at);"
      "CREATE TABLE workflows ("
      " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL DEFAULT '',"
      " trigger TEXT NOT NULL, config TEXT NOT NULL, hook_token_hash TEXT NOT NULL DEFAULT '',"
      " enabled INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL,"
      " schedule_cursor INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX workflows_token ON workflows(hook_token_hash);"
      "CREATE TABLE hook_deliveries ("
      " source TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at INTEGER NOT NULL,"
      " PRIMARY KEY (source, delivery_id));",
      // 5: the start time of a sandbox's init, so a restarted daemon can adopt it safely
      // (runtime::AdoptContainer), and executions recorded when they start (status 'running')
      // so a crash leaves a row that the next start marks with what happened.
      "ALTER TABLE sandboxes ADD COLUMN init_start_time INTEGER NOT NULL DEFAULT 0;"
      "CREATE INDEX executions_status ON executions(status);",
      // 6: pause and resume (state 'paused'): when it was paused (its lifetime clock stops), what
      // the lifetime supervisor does at expiry ('stop' or 'pause'), E2B's autoResume and
      // allowPublicTraffic.
      "ALTER TABLE sandboxes ADD COLUMN paused_at INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE sandboxes ADD COLUMN on_timeout TEXT NOT NULL DEFAULT 'stop';"
      "ALTER TABLE sandboxes ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE sandboxes ADD COLUMN public_traffic INTEGER NOT NULL DEFAULT 1;",
  };
  return kMigrations;
}

}  // namespace sbx::store
