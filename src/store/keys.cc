// KeyRepo: SQL for the api_keys table (see keys.h).
#include "store/keys.h"

#include "store/sqlite_stmt.h"

namespace sbx::store {
namespace {

constexpr const char* kKeyCols =
    "id, tenant, name, prefix, hash, created_at, expires_at, revoked_at, last_used_at,"
    " rotated_from";

ApiKeyRecord ReadKey(Stmt& s) {
  ApiKeyRecord r;
  r.id = s.Text(0);
  r.tenant = s.Text(1);
  r.name = s.Text(2);
  r.prefix = s.Text(3);
  r.hash = s.Text(4);
  r.created_at_ms = s.Int(5);
  r.expires_at_ms = s.Int(6);
  r.revoked_at_ms = s.Int(7);
  r.last_used_at_ms = s.Int(8);
  r.rotated_from = s.Text(9);
  return r;
}

// Callers hold the store's lock.
Result<void> InsertLocked(sqlite3* db, const ApiKeyRecord& r) {
  Stmt s(db,
         "INSERT INTO api_keys (id, tenant, name, prefix, hash, created_at, expires_at,"
         " revoked_at, last_used_at, rotated_from) VALUES (?,?,?,?,?,?,?,?,?,?)");
  if (!s.ok()) return DbError(db, "prepare insert api key");
  s.Bind(r.id)
      .Bind(r.tenant)
      .Bind(r.name)
      .Bind(r.prefix)
      .Bind(r.hash)
      .Bind(r.created_at_ms)
      .Bind(r.expires_at_ms)
      .Bind(r.revoked_at_ms)
      .Bind(r.last_used_at_ms)
      .Bind(r.rotated_from);
  if (s.Step() != SQLITE_DONE) return DbError(db, "insert api key " + r.id);
  return Ok();
}

Result<void> UpdateOne(sqlite3* db, const char* sql, const std::string& id, int64_t value,
                       const std::string& what) {
  Stmt s(db, sql);
  if (!s.ok()) return DbError(db, "prepare " + what);
  s.Bind(value).Bind(id);
  if (s.Step() != SQLITE_DONE) return DbError(db, what + " " + id);
  if (sqlite3_changes(db) == 0)
    return MakeError(ErrorCode::kNotFound, "API key '" + id + "' does not exist");
  return Ok();
}

Result<std::optional<ApiKeyRecord>> GetOne(sqlite3* db, const char* where_col,
                                           const std::string& value) {
  std::string sql = std::string("SELECT ") + kKeyCols + " FROM api_keys WHERE " + where_col + "=?";
  Stmt s(db, sql.c_str());
  if (!s.ok()) return DbError(db, "prepare get api key");
  s.Bind(value);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<ApiKeyRecord>(ReadKey(s));
  if (rc == SQLITE_DONE) return std::optional<ApiKeyRecord>();
  return DbError(db, std::string("get api key by ") + where_col);
}

Result<void> ExecSql(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return DbError(db, sql);
  return Ok();
}

}  // namespace

Result<void> KeyRepo::Insert(const ApiKeyRecord& r) {
  return store_->WithDb([&](sqlite3* db) { return InsertLocked(db, r); });
}

Result<std::optional<ApiKeyRecord>> KeyRepo::Get(const std::string& id) {
  return store_->WithDb([&](sqlite3* db) { return GetOne(db, "id", id); });
}

Result<std::optional<ApiKeyRecord>> KeyRepo::FindByHash(const std::string& hash_hex) {
  return store_->WithDb([&](sqlite3* db) { return GetOne(db, "hash", hash_hex); });
}

Result<std::vector<ApiKeyRecord>> KeyRepo::List(const std::string& tenant) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<ApiKeyRecord>> {
    std::string sql = std::string("SELECT ") + kKeyCols +
                      " FROM api_keys WHERE (?1 = '' OR tenant = ?1) ORDER BY created_at, id";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare list api keys");
    s.Bind(tenant);
    std::vector<ApiKeyRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadKey(s));
    if (rc != SQLITE_DONE) return DbError(db, "list api keys");
    return out;
  });
}

Result<void> KeyRepo::Revoke(const std::string& id, int64_t at_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    // CASE keeps the first revocation time, and the row still counts as changed when it exists.
    return UpdateOne(db,
                     "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?1"
                     " ELSE revoked_at END WHERE id = ?2",
                     id, at_ms, "revoke api key");
  });
}

Result<void> KeyRepo::SetExpiry(const std::string& id, int64_t expires_at_ms) {
  return store_->WithDb([&](sqlite3* db) {
    return UpdateOne(db, "UPDATE api_keys SET expires_at = ? WHERE id = ?", id, expires_at_ms,
                     "set api key expiry");
  });
}

Result<void> KeyRepo::TouchLastUsed(const std::string& id, int64_t at_ms) {
  return store_->WithDb([&](sqlite3* db) {
    return UpdateOne(db, "UPDATE api_keys SET last_used_at = MAX(last_used_at, ?) WHERE id = ?", id,
                     at_ms, "touch api key");
  });
}

Result<void> KeyRepo::InsertRotation(const ApiKeyRecord& replacement, const std::string& old_id,
                                     int64_t old_expires_at_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    RETURN_IF_ERROR(ExecSql(db, "BEGIN IMMEDIATE"));
    auto r = InsertLocked(db, replacement);
    if (r.ok())
      r = UpdateOne(db, "UPDATE api_keys SET expires_at = ? WHERE id = ?", old_id,
                    old_expires_at_ms, "set api key expiry");
    if (!r.ok()) {
      (void)ExecSql(db, "ROLLBACK");
      return r;
    }
    return ExecSql(db, "COMMIT");
  });
}

}  // namespace sbx::store
