// LifecycleRepo: SQL for the lifecycle_runs table (see lifecycles.h).
#include "store/lifecycles.h"

#include <algorithm>

#include "store/sqlite_stmt.h"

namespace sbx::store {
namespace {

constexpr const char* kRunCols =
    "sandbox_id, tenant, workflow_id, trigger, state, config, scripts, samples, error,"
    " sandbox_removed, started_at, finished_at, id";

LifecycleRunRecord ReadRun(Stmt& s) {
  LifecycleRunRecord r;
  r.sandbox_id = s.Text(0);
  r.tenant = s.Text(1);
  r.workflow_id = s.Text(2);
  r.trigger_json = s.Text(3);
  r.state = s.Text(4);
  r.config_json = s.Text(5);
  r.scripts_json = s.Text(6);
  r.samples_json = s.Text(7);
  r.error = s.Text(8);
  r.sandbox_removed = s.Int(9) != 0;
  r.started_at_ms = s.Int(10);
  r.finished_at_ms = s.Int(11);
  r.id = s.Text(12);
  return r;
}

Stmt& BindRun(Stmt& s, const LifecycleRunRecord& r) {
  return s.Bind(r.sandbox_id)
      .Bind(r.tenant)
      .Bind(r.workflow_id)
      .Bind(r.trigger_json)
      .Bind(r.state)
      .Bind(r.config_json)
      .Bind(r.scripts_json)
      .Bind(r.samples_json)
      .Bind(r.error)
      .Bind(r.sandbox_removed ? 1 : 0)
      .Bind(r.started_at_ms)
      .Bind(r.finished_at_ms)
      .Bind(r.id);
}

Result<std::vector<LifecycleRunRecord>> ListWhere(sqlite3* db, const RunFilter& f) {
  std::string sql = std::string("SELECT ") + kRunCols +
                    " FROM lifecycle_runs WHERE (?1 = '' OR sandbox_id = ?1) AND"
                    " (?2 = '' OR workflow_id = ?2) AND (?3 = '' OR tenant = ?3) AND"
                    " (?4 = '' OR state = ?4) ORDER BY started_at DESC, id DESC LIMIT ?5";
  Stmt s(db, sql.c_str());
  if (!s.ok()) return DbError(db, "prepare list runs");
  s.Bind(f.sandbox_id)
      .Bind(f.workflow_id)
      .Bind(f.tenant)
      .Bind(f.state)
      .Bind(static_cast<int64_t>(std::clamp(f.limit, 1, 1000)));
  std::vector<LifecycleRunRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadRun(s));
  if (rc != SQLITE_DONE) return DbError(db, "list runs");
  return out;
}

}  // namespace

Result<void> LifecycleRepo::Insert(const LifecycleRunRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    std::string sql = std::string("INSERT INTO lifecycle_runs (") + kRunCols +
                      ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare insert run");
    BindRun(s, r);
    if (s.Step() != SQLITE_DONE) return DbError(db, "insert run " + r.id);
    return Ok();
  });
}

Result<void> LifecycleRepo::Update(const LifecycleRunRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db,
           "UPDATE lifecycle_runs SET sandbox_id=?, tenant=?, workflow_id=?, trigger=?, state=?,"
           " config=?, scripts=?, samples=?, error=?, sandbox_removed=?, started_at=?,"
           " finished_at=? WHERE id=?");
    if (!s.ok()) return DbError(db, "prepare update run");
    BindRun(s, r);
    if (s.Step() != SQLITE_DONE) return DbError(db, "update run " + r.id);
    if (sqlite3_changes(db) == 0)
      return MakeError(ErrorCode::kNotFound, "run '" + r.id + "' does not exist");
    return Ok();
  });
}

Result<std::optional<LifecycleRunRecord>> LifecycleRepo::Get(const std::string& id) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::optional<LifecycleRunRecord>> {
    std::string sql = std::string("SELECT ") + kRunCols + " FROM lifecycle_runs WHERE id = ?";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare get run");
    s.Bind(id);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<LifecycleRunRecord>(ReadRun(s));
    if (rc == SQLITE_DONE) return std::optional<LifecycleRunRecord>();
    return DbError(db, "get run");
  });
}

Result<std::vector<LifecycleRunRecord>> LifecycleRepo::List(const RunFilter& f) {
  return store_->WithDb([&](sqlite3* db) { return ListWhere(db, f); });
}

Result<std::vector<LifecycleRunRecord>> LifecycleRepo::MarkInterrupted(const std::string& reason,
                                                                       int64_t now_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<LifecycleRunRecord>> {
    RunFilter f;
    f.state = "running";
    f.limit = 1000;
    ASSIGN_OR_RETURN(auto runs, ListWhere(db, f));
    Stmt s(db,
           "UPDATE lifecycle_runs SET state = 'interrupted', error = ?, finished_at = ?"
           " WHERE state = 'running'");
    if (!s.ok()) return DbError(db, "prepare mark interrupted");
    s.Bind(reason).Bind(now_ms);
    if (s.Step() != SQLITE_DONE) return DbError(db, "mark runs interrupted");
    for (auto& r : runs) {
      r.state = "interrupted";
      r.error = reason;
      r.finished_at_ms = now_ms;
    }
    return runs;
  });
}

}  // namespace sbx::store
