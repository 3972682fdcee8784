// Internal to the store component: a prepared statement with RAII finalisation and
// positional binding, and the mapping of SQLite errors to sbx::Error.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "common/result.h"

namespace sbx::store {

inline Error DbError(sqlite3* db, const std::string& what) {
  int rc = sqlite3_extended_errcode(db);
  ErrorCode code = ErrorCode::kInternal;
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
    code = ErrorCode::kAlreadyExists;
  if (rc == SQLITE_FULL) code = ErrorCode::kResourceExhausted;
  return MakeError(code, "sqlite: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement with RAII finalisation and positional binding helpers.

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(const std::string& v) {
    sqlite3_bind_text(st_, ++idx_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int64_t v) {
    sqlite3_bind_int64(st_, ++idx_, v);
    return *this;
  }
  Stmt& Bind(int v) { return Bind(static_cast<int64_t>(v)); }
  Stmt& Bind(double v) {
    sqlite3_bind_double(st_, ++idx_, v);
    return *this;
  }
  int Step() { return sqlite3_step(st_); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(st_, col);
    int n = sqlite3_column_bytes(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : "";
  }
  int64_t Int(int col) { return sqlite3_column_int64(st_, col); }
  double Real(int col) { return sqlite3_column_double(st_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_;
  int idx_ = 0;
};

}  // namespace sbx::store
