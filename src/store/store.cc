#include "store/store.h"

#include "store/sqlite_stmt.h"

#include "common/util.h"

namespace sbx::store {
namespace {

constexpr const char* kSandboxCols =
    "id, template, state, created_at, updated_at, timeout_s, expires_at, env, metadata, limits, "
    "id_slot, init_pid, reason, tenant, init_start_time, paused_at, on_timeout, auto_resume, "
    "public_traffic";

SandboxRecord ReadSandbox(Stmt& s) {
  SandboxRecord r;
  r.id = s.Text(0);
  r.template_name = s.Text(1);
  r.state = s.Text(2);
  r.created_at_ms = s.Int(3);
  r.updated_at_ms = s.Int(4);
  r.timeout_s = s.Int(5);
  r.expires_at_ms = s.Int(6);
  r.env_json = s.Text(7);
  r.metadata_json = s.Text(8);
  r.limits_json = s.Text(9);
  r.id_slot = s.Int(10);
  r.init_pid = s.Int(11);
  r.reason = s.Text(12);
  r.tenant = s.Text(13);
  r.init_start_time = static_cast<uint64_t>(s.Int(14));
  r.paused_at_ms = s.Int(15);
  r.on_timeout = s.Text(16);
  r.auto_resume = s.Int(17) != 0;
  r.public_traffic = s.Int(18) != 0;
  return r;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return MakeError(ErrorCode::kInternal, "sqlite: open " + path + ": " + msg);
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                              " PRAGMA foreign_keys=ON;"));
  RETURN_IF_ERROR(store->Migrate());
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Result<void> Store::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return MakeError(ErrorCode::kInternal, "sqlite: " + msg);
  }
  return Ok();
}

int Store::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "PRAGMA user_version");
  return s.Step() == SQLITE_ROW ? static_cast<int>(s.Int(0)) : -1;
}

Result<void> Store::Migrate() {
  int version = SchemaVersion();
  const auto& migrations = Migrations();
  if (version > static_cast<int>(migrations.size()))
    return MakeError(ErrorCode::kFailedPrecondition,
                     "database schema version " + std::to_string(version) +
                         " is newer than this sandboxd (" + std::to_string(migrations.size()) +
                         "); upgrade sandboxd");
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
    std::string sql = "BEGIN IMMEDIATE;" + migrations[i] +
                      "PRAGMA user_version=" + std::to_string(i + 1) + "; COMMIT;";
    auto r = Exec(sql);
    if (!r.ok()) {
      (void)Exec("ROLLBACK;");
      return MakeError(ErrorCode::kInternal,
                       "migration " + std::to_string(i + 1) + ": " + r.error().message);
    }
  }
  return Ok();
}

Result<void> Store::InsertSandbox(const SandboxRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "INSERT INTO sandboxes (id, template, state, created_at, updated_at, timeout_s,"
         " expires_at, env, metadata, limits, id_slot, init_pid, reason, tenant, init_start_time,"
         " paused_at, on_timeout, auto_resume, public_traffic)"
         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!s.ok()) return DbError(db_, "prepare insert sandbox");
  s.Bind(r.id).Bind(r.template_name).Bind(r.state).Bind(r.created_at_ms).Bind(r.updated_at_ms)
      .Bind(r.timeout_s).Bind(r.expires_at_ms).Bind(r.env_json).Bind(r.metadata_json)
      .Bind(r.limits_json).Bind(r.id_slot).Bind(r.init_pid).Bind(r.reason).Bind(r.tenant)
      .Bind(static_cast<int64_t>(r.init_start_time)).Bind(r.paused_at_ms).Bind(r.on_timeout)
      .Bind(int64_t{r.auto_resume}).Bind(int64_t{r.public_traffic});
  if (s.Step() != SQLITE_DONE) return DbError(db_, "insert sandbox " + r.id);
  return Ok();
}

Result<void> Store::UpdateSandbox(const SandboxRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "UPDATE sandboxes SET template=?, state=?, updated_at=?, timeout_s=?, expires_at=?,"
         " env=?, metadata=?, limits=?, id_slot=?, init_pid=?, reason=?, tenant=?,"
         " init_start_time=?, paused_at=?, on_timeout=?, auto_resume=?, public_traffic=? WHERE id=?");
  if (!s.ok()) return DbError(db_, "prepare update sandbox");
  s.Bind(r.template_name).Bind(r.state).Bind(NowUnixMs()).Bind(r.timeout_s).Bind(r.expires_at_ms)
      .Bind(r.env_json).Bind(r.metadata_json).Bind(r.limits_json).Bind(r.id_slot)
      .Bind(r.init_pid).Bind(r.reason).Bind(r.tenant)
      .Bind(static_cast<int64_t>(r.init_start_time)).Bind(r.paused_at_ms).Bind(r.on_timeout)
      .Bind(int64_t{r.auto_resume}).Bind(int64_t{r.public_traffic}).Bind(r.id);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "update sandbox " + r.id);
  if (sqlite3_changes(db_) == 0)
    return MakeError(ErrorCode::kNotFound, "sandbox '" + r.id + "' is not in the database");
  return Ok();
}

Result<std::optional<SandboxRecord>> Store::GetSandbox(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string("SELECT ") + kSandboxCols + " FROM sandboxes WHERE id=?";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return DbError(db_, "prepare get sandbox");
  s.Bind(id);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<SandboxRecord>(ReadSandbox(s));
  if (rc == SQLITE_DONE) return std::optional<SandboxRecord>();
  return DbError(db_, "get sandbox " + id);
}

Result<std::vector<SandboxRecord>> Store::ListSandboxes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string("SELECT ") + kSandboxCols + " FROM sandboxes ORDER BY created_at";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return DbError(db_, "prepare list sandboxes");
  std::vector<SandboxRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadSandbox(s));
  if (rc != SQLITE_DONE) return DbError(db_, "list sandboxes");
  return out;
}

Result<void> Store::DeleteSandbox(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "DELETE FROM sandboxes WHERE id=?");
  if (!s.ok()) return DbError(db_, "prepare delete sandbox");
  s.Bind(id);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "delete sandbox " + id);
  return Ok();
}

Result<void> Store::InsertExecution(const ExecutionRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "INSERT INTO executions (id, sandbox_id, tenant, started_at, finished_at, language, code,"
         " status, exit_code, signal, duration, stdout, stderr, stdout_truncated,"
         " stderr_truncated, cpu_ns, peak_memory, reason)"
         " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!s.ok()) return DbError(db_, "prepare insert execution");
  s.Bind(r.id).Bind(r.sandbox_id).Bind(r.tenant).Bind(r.started_at_ms).Bind(r.finished_at_ms)
      .Bind(r.language).Bind(r.code).Bind(r.status).Bind(r.exit_code).Bind(r.signal)
      .Bind(r.duration_s).Bind(r.stdout_data).Bind(r.stderr_data)
      .Bind(static_cast<int>(r.stdout_truncated)).Bind(static_cast<int>(r.stderr_truncated))
      .Bind(r.cpu_ns).Bind(r.peak_memory_bytes).Bind(r.reason);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "insert execution " + r.id);
  return Ok();
}

Result<void> Store::UpdateExecution(const ExecutionRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "UPDATE executions SET finished_at=?, status=?, exit_code=?, signal=?, duration=?,"
         " stdout=?, stderr=?, stdout_truncated=?, stderr_truncated=?, cpu_ns=?, peak_memory=?,"
         " reason=? WHERE id=?");
  if (!s.ok()) return DbError(db_, "prepare update execution");
  s.Bind(r.finished_at_ms).Bind(r.status).Bind(r.exit_code).Bind(r.signal).Bind(r.duration_s)
      .Bind(r.stdout_data).Bind(r.stderr_data).Bind(static_cast<int>(r.stdout_truncated))
      .Bind(static_cast<int>(r.stderr_truncated)).Bind(r.cpu_ns).Bind(r.peak_memory_bytes)
      .Bind(r.reason).Bind(r.id);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "update execution " + r.id);
  if (sqlite3_changes(db_) == 0)
    return MakeError(ErrorCode::kNotFound, "execution '" + r.id + "' is not in the database");
  return Ok();
}

Result<int> Store::MarkInterruptedExecutions(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_,
         "UPDATE executions SET status='error', reason=?, finished_at=? WHERE status='running'");
  if (!s.ok()) return DbError(db_, "prepare mark interrupted executions");
  s.Bind(reason).Bind(NowUnixMs());
  if (s.Step() != SQLITE_DONE) return DbError(db_, "mark interrupted executions");
  return sqlite3_changes(db_);
}

Result<std::vector<ExecutionRecord>> Store::ListExecutions(const std::string& sandbox_id,
                                                            int limit) {
  ExecutionFilter f;
  f.sandbox_id = sandbox_id;
  f.limit = limit;
  return ListExecutions(f);
}

Result<std::vector<ExecutionRecord>> Store::ListExecutions(const ExecutionFilter& f) {
  // Only the conditions in use are in the SQL, so SQLite can pick the index that fits
  // (executions_sandbox, executions_status, or executions_started for the order).
  std::string sql =
      "SELECT id, sandbox_id, tenant, started_at, finished_at, language, code, status, exit_code,"
      " signal, duration, stdout, stderr, stdout_truncated, stderr_truncated, cpu_ns, peak_memory,"
      " reason FROM executions WHERE 1";
  if (!f.id.empty()) sql += " AND id = ?";
  if (!f.sandbox_id.empty()) sql += " AND sandbox_id = ?";
  if (!f.status.empty()) sql += " AND status = ?";
  if (f.tenant) sql += " AND tenant = ?";
  sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?";
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return DbError(db_, "prepare list executions");
  if (!f.id.empty()) s.Bind(f.id);
  if (!f.sandbox_id.empty()) s.Bind(f.sandbox_id);
  if (!f.status.empty()) s.Bind(f.status);
  if (f.tenant) s.Bind(*f.tenant);
  s.Bind(static_cast<int64_t>(f.limit));
  std::vector<ExecutionRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    ExecutionRecord r;
    r.id = s.Text(0);
    r.sandbox_id = s.Text(1);
    r.tenant = s.Text(2);
    r.started_at_ms = s.Int(3);
    r.finished_at_ms = s.Int(4);
    r.language = s.Text(5);
    r.code = s.Text(6);
    r.status = s.Text(7);
    r.exit_code = static_cast<int>(s.Int(8));
    r.signal = static_cast<int>(s.Int(9));
    r.duration_s = s.Real(10);
    r.stdout_data = s.Text(11);
    r.stderr_data = s.Text(12);
    r.stdout_truncated = s.Int(13) != 0;
    r.stderr_truncated = s.Int(14) != 0;
    r.cpu_ns = s.Int(15);
    r.peak_memory_bytes = s.Int(16);
    r.reason = s.Text(17);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "list executions");
  return out;
}

Result<std::optional<ExecutionRecord>> Store::GetExecution(const std::string& id) {
  ExecutionFilter f;
  f.id = id;
  f.limit = 1;
  ASSIGN_OR_RETURN(std::vector<ExecutionRecord> rows, ListExecutions(f));
  if (rows.empty()) return std::optional<ExecutionRecord>();
  return std::optional<ExecutionRecord>(std::move(rows.front()));
}

Result<PruneCounts> Store::PruneExecutions(int64_t started_before_ms, int64_t max_rows) {
  // Rows of executions that are over (a 'running' row is an execution in flight, or one the
  // next start marks interrupted: never deleted). Each statement deletes one batch.
  constexpr int64_t kBatch = 2000;
  auto run_batches = [this](const char* sql, int64_t arg, const char* what) -> Result<int64_t> {
    int64_t deleted = 0;
    for (;;) {
      std::lock_guard<std::mutex> lock(mu_);
      Stmt s(db_, sql);
      if (!s.ok()) return DbError(db_, std::string("prepare ") + what);
      s.Bind(arg).Bind(kBatch);
      if (s.Step() != SQLITE_DONE) return DbError(db_, what);
      int n = sqlite3_changes(db_);
      deleted += n;
      if (n < kBatch) return deleted;
    }
  };
  PruneCounts counts;
  if (started_before_ms > 0) {
    ASSIGN_OR_RETURN(counts.by_age,
                     run_batches("DELETE FROM executions WHERE rowid IN (SELECT rowid FROM"
                                 " executions WHERE started_at < ? AND status != 'running'"
                                 " LIMIT ?)",
                                 started_before_ms, "prune executions by age"));
  }
  if (max_rows > 0) {
    // The rows past the newest max_rows finished ones, oldest first, one batch at a time.
    ASSIGN_OR_RETURN(counts.by_count,
                     run_batches("DELETE FROM executions WHERE rowid IN (SELECT rowid FROM"
                                 " (SELECT rowid, started_at FROM executions"
                                 "  WHERE status != 'running'"
                                 "  ORDER BY started_at DESC, rowid DESC LIMIT -1 OFFSET ?1)"
                                 " ORDER BY started_at, rowid LIMIT ?2)",
                                 max_rows, "prune executions by count"));
  }
  return counts;
}

}  // namespace sbx::store
