// EventRepo: SQL for the events table and the fan-out into the outbox (see events.h).
#include "store/events.h"

#include <algorithm>

#include "store/sqlite_stmt.h"

namespace sbx::store {
namespace {

constexpr const char* kEventCols = "id, uid, type, sandbox_id, tenant, time, data, webhooks";

EventRecord ReadEvent(Stmt& s) {
  EventRecord e;
  e.id = s.Int(0);
  e.uid = s.Text(1);
  e.type = s.Text(2);
  e.sandbox_id = s.Text(3);
  e.tenant = s.Text(4);
  e.time_ms = s.Int(5);
  e.data_json = s.Text(6);
  e.webhooks = s.Int(7) != 0;
  return e;
}

Result<void> ExecSql(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return DbError(db, sql);
  return Ok();
}

Result<std::optional<EventRecord>> GetWhere(sqlite3* db, const char* col, auto value) {
  std::string sql = std::string("SELECT ") + kEventCols + " FROM events WHERE " + col + " = ?";
  Stmt s(db, sql.c_str());
  if (!s.ok()) return DbError(db, "prepare get event");
  s.Bind(value);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<EventRecord>(ReadEvent(s));
  if (rc == SQLITE_DONE) return std::optional<EventRecord>();
  return DbError(db, "get event");
}

}  // namespace

Result<EventRecord> EventRepo::InsertWithOutbox(EventRecord e, int* outbox_rows) {
  return store_->WithDb([&](sqlite3* db) -> Result<EventRecord> {
    RETURN_IF_ERROR(ExecSql(db, "BEGIN IMMEDIATE"));
    auto body = [&]() -> Result<int> {
      Stmt ins(db,
               "INSERT INTO events (uid, type, sandbox_id, tenant, time, data, webhooks)"
               " VALUES (?,?,?,?,?,?,?)");
      if (!ins.ok()) return DbError(db, "prepare insert event");
      ins.Bind(e.uid)
          .Bind(e.type)
          .Bind(e.sandbox_id)
          .Bind(e.tenant)
          .Bind(e.time_ms)
          .Bind(e.data_json)
          .Bind(e.webhooks ? 1 : 0);
      if (ins.Step() != SQLITE_DONE) return DbError(db, "insert event " + e.uid);
      e.id = sqlite3_last_insert_rowid(db);
      if (!e.webhooks) return 0;
      Stmt fan(db,
               "INSERT INTO outbox (event_id, subscription_id, state, next_attempt_at,"
               " created_at) SELECT ?1, s.id, 'pending', ?2, ?2 FROM webhook_subscriptions s"
               " WHERE s.enabled = 1 AND (s.tenant = '' OR s.tenant = ?3) AND"
               " (json_array_length(s.events) = 0 OR EXISTS (SELECT 1 FROM json_each(s.events)"
               "  WHERE value = ?4 OR value = '*'))");
      if (!fan.ok()) return DbError(db, "prepare outbox fan-out");
      fan.Bind(e.id).Bind(e.time_ms).Bind(e.tenant).Bind(e.type);
      if (fan.Step() != SQLITE_DONE) return DbError(db, "outbox fan-out of " + e.uid);
      return sqlite3_changes(db);
    }();
    if (!body.ok()) {
      (void)ExecSql(db, "ROLLBACK");
      return std::move(body).error();
    }
    RETURN_IF_ERROR(ExecSql(db, "COMMIT"));
    if (outbox_rows) *outbox_rows = *body;
    return e;
  });
}

Result<std::optional<EventRecord>> EventRepo::Get(int64_t id) {
  return store_->WithDb([&](sqlite3* db) { return GetWhere(db, "id", id); });
}

Result<std::optional<EventRecord>> EventRepo::GetByUid(const std::string& uid) {
  return store_->WithDb([&](sqlite3* db) { return GetWhere(db, "uid", uid); });
}

Result<std::vector<EventRecord>> EventRepo::Query(const EventFilter& f) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<EventRecord>> {
    std::string sql = std::string("SELECT ") + kEventCols +
                      " FROM events WHERE id > ?1 AND (?2 = '' OR type = ?2) AND"
                      " (?3 = '' OR sandbox_id = ?3) AND (?4 = '' OR tenant = ?4) AND"
                      " time >= ?5 ORDER BY id " +
                      std::string(f.newest_first ? "DESC" : "ASC") + " LIMIT ?6";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare query events");
    s.Bind(f.since_id)
        .Bind(f.type)
        .Bind(f.sandbox_id)
        .Bind(f.tenant)
        .Bind(f.since_ms)
        .Bind(static_cast<int64_t>(std::clamp(f.limit, 1, 1000)));
    std::vector<EventRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadEvent(s));
    if (rc != SQLITE_DONE) return DbError(db, "query events");
    return out;
  });
}

Result<int64_t> EventRepo::MaxId() {
  return store_->WithDb([&](sqlite3* db) -> Result<int64_t> {
    Stmt s(db, "SELECT COALESCE(MAX(id), 0) FROM events");
    if (!s.ok() || s.Step() != SQLITE_ROW) return DbError(db, "max event id");
    return s.Int(0);
  });
}

}  // namespace sbx::store
