// WorkflowRepo: SQL for workflows and hook_deliveries (see workflows.h).
#include "store/workflows.h"

#include "store/sqlite_stmt.h"

namespace sbx::store {
namespace {

constexpr const char* kWfCols =
    "name, tenant, trigger, config, hook_token_hash, enabled, created_at, schedule_cursor, id";

WorkflowRecord ReadWf(Stmt& s) {
  WorkflowRecord r;
  r.name = s.Text(0);
  r.tenant = s.Text(1);
  r.trigger_json = s.Text(2);
  r.config_json = s.Text(3);
  r.hook_token_hash = s.Text(4);
  r.enabled = s.Int(5) != 0;
  r.created_at_ms = s.Int(6);
  r.schedule_cursor_ms = s.Int(7);
  r.id = s.Text(8);
  return r;
}

Stmt& BindWf(Stmt& s, const WorkflowRecord& r) {
  return s.Bind(r.name)
      .Bind(r.tenant)
      .Bind(r.trigger_json)
      .Bind(r.config_json)
      .Bind(r.hook_token_hash)
      .Bind(r.enabled ? 1 : 0)
      .Bind(r.created_at_ms)
      .Bind(r.schedule_cursor_ms)
      .Bind(r.id);
}

Result<std::vector<WorkflowRecord>> Select(sqlite3* db, const std::string& where,
                                           const std::string& value) {
  std::string sql =
      std::string("SELECT ") + kWfCols + " FROM workflows WHERE " + where + " ORDER BY name";
  Stmt s(db, sql.c_str());
  if (!s.ok()) return DbError(db, "prepare select workflows");
  s.Bind(value);
  std::vector<WorkflowRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadWf(s));
  if (rc != SQLITE_DONE) return DbError(db, "select workflows");
  return out;
}

Result<std::optional<WorkflowRecord>> One(Result<std::vector<WorkflowRecord>> r) {
  if (!r.ok()) return std::move(r).error();
  if (r->empty()) return std::optional<WorkflowRecord>();
  return std::optional<WorkflowRecord>(std::move(r->front()));
}

}  // namespace

Result<void> WorkflowRepo::Insert(const WorkflowRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    std::string sql =
        std::string("INSERT INTO workflows (") + kWfCols + ") VALUES (?,?,?,?,?,?,?,?,?)";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare insert workflow");
    BindWf(s, r);
    if (s.Step() != SQLITE_DONE) {
      Error e = DbError(db, "insert workflow " + r.name);
      if (e.code == ErrorCode::kAlreadyExists)
        e.message = "workflow '" + r.name + "' already exists";
      return e;
    }
    return Ok();
  });
}

Result<void> WorkflowRepo::Update(const WorkflowRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db,
           "UPDATE workflows SET name=?, tenant=?, trigger=?, config=?, hook_token_hash=?,"
           " enabled=?, created_at=?, schedule_cursor=? WHERE id=?");
    if (!s.ok()) return DbError(db, "prepare update workflow");
    BindWf(s, r);
    if (s.Step() != SQLITE_DONE) return DbError(db, "update workflow " + r.name);
    if (sqlite3_changes(db) == 0)
      return MakeError(ErrorCode::kNotFound, "workflow '" + r.name + "' does not exist");
    return Ok();
  });
}

Result<std::optional<WorkflowRecord>> WorkflowRepo::GetByName(const std::string& name) {
  return store_->WithDb([&](sqlite3* db) { return One(Select(db, "name = ?", name)); });
}

Result<std::optional<WorkflowRecord>> WorkflowRepo::GetById(const std::string& id) {
  return store_->WithDb([&](sqlite3* db) { return One(Select(db, "id = ?", id)); });
}

Result<std::vector<WorkflowRecord>> WorkflowRepo::List(const std::string& tenant) {
  return store_->WithDb(
      [&](sqlite3* db) { return Select(db, "(?1 = '' OR tenant = ?1)", tenant); });
}

Result<std::vector<WorkflowRecord>> WorkflowRepo::FindByTokenHash(const std::string& hash_hex) {
  if (hash_hex.empty()) return std::vector<WorkflowRecord>();
  return store_->WithDb([&](sqlite3* db) { return Select(db, "hook_token_hash = ?", hash_hex); });
}

Result<void> WorkflowRepo::Delete(const std::string& name) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db, "DELETE FROM workflows WHERE name = ?");
    if (!s.ok()) return DbError(db, "prepare delete workflow");
    s.Bind(name);
    if (s.Step() != SQLITE_DONE) return DbError(db, "delete workflow " + name);
    if (sqlite3_changes(db) == 0)
      return MakeError(ErrorCode::kNotFound, "workflow '" + name + "' does not exist");
    return Ok();
  });
}

Result<void> WorkflowRepo::SetScheduleCursor(const std::string& id, int64_t cursor_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db, "UPDATE workflows SET schedule_cursor = ? WHERE id = ?");
    if (!s.ok()) return DbError(db, "prepare set schedule cursor");
    s.Bind(cursor_ms).Bind(id);
    if (s.Step() != SQLITE_DONE) return DbError(db, "set schedule cursor " + id);
    return Ok();
  });
}

Result<bool> WorkflowRepo::RecordHookDelivery(const std::string& source,
                                              const std::string& delivery_id, int64_t now_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<bool> {
    Stmt s(db,
           "INSERT OR IGNORE INTO hook_deliveries (source, delivery_id, received_at)"
           " VALUES (?,?,?)");
    if (!s.ok()) return DbError(db, "prepare record hook delivery");
    s.Bind(source).Bind(delivery_id).Bind(now_ms);
    if (s.Step() != SQLITE_DONE) return DbError(db, "record hook delivery");
    return sqlite3_changes(db) == 1;
  });
}

Result<int> WorkflowRepo::PruneHookDeliveries(int64_t before_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<int> {
    Stmt s(db, "DELETE FROM hook_deliveries WHERE received_at < ?");
    if (!s.ok()) return DbError(db, "prepare prune hook deliveries");
    s.Bind(before_ms);
    if (s.Step() != SQLITE_DONE) return DbError(db, "prune hook deliveries");
    return sqlite3_changes(db);
  });
}

}  // namespace sbx::store
