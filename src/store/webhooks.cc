// WebhookRepo: SQL for subscriptions, the outbox and the delivery log (see webhooks.h).
#include "store/webhooks.h"

#include <algorithm>

#include "store/sqlite_stmt.h"

namespace sbx::store {
namespace {

constexpr const char* kSubCols =
    "id, tenant, kind, url, events, secret, github_owner, github_repo, github_token,"
    " github_api_base, enabled, created_at, description";
constexpr const char* kOutboxCols =
    "id, event_id, subscription_id, state, attempts, next_attempt_at, lease_until, last_status,"
    " last_error, created_at, delivered_at";

SubscriptionRecord ReadSub(Stmt& s, int c = 0) {
  SubscriptionRecord r;
  r.id = s.Text(c + 0);
  r.tenant = s.Text(c + 1);
  r.kind = s.Text(c + 2);
  r.url = s.Text(c + 3);
  r.events_json = s.Text(c + 4);
  r.secret = s.Text(c + 5);
  r.github_owner = s.Text(c + 6);
  r.github_repo = s.Text(c + 7);
  r.github_token = s.Text(c + 8);
  r.github_api_base = s.Text(c + 9);
  r.enabled = s.Int(c + 10) != 0;
  r.created_at_ms = s.Int(c + 11);
  r.description = s.Text(c + 12);
  return r;
}

OutboxRecord ReadOutbox(Stmt& s, int c = 0) {
  OutboxRecord r;
  r.id = s.Int(c + 0);
  r.event_id = s.Int(c + 1);
  r.subscription_id = s.Text(c + 2);
  r.state = s.Text(c + 3);
  r.attempts = static_cast<int>(s.Int(c + 4));
  r.next_attempt_at_ms = s.Int(c + 5);
  r.lease_until_ms = s.Int(c + 6);
  r.last_status = static_cast<int>(s.Int(c + 7));
  r.last_error = s.Text(c + 8);
  r.created_at_ms = s.Int(c + 9);
  r.delivered_at_ms = s.Int(c + 10);
  return r;
}

Result<void> ExecSql(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return DbError(db, sql);
  return Ok();
}

Result<std::optional<OutboxRecord>> GetOutboxLocked(sqlite3* db, int64_t id) {
  std::string sql = std::string("SELECT ") + kOutboxCols + " FROM outbox WHERE id = ?";
  Stmt s(db, sql.c_str());
  if (!s.ok()) return DbError(db, "prepare get outbox");
  s.Bind(id);
  int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<OutboxRecord>(ReadOutbox(s));
  if (rc == SQLITE_DONE) return std::optional<OutboxRecord>();
  return DbError(db, "get outbox row");
}

Stmt& BindSub(Stmt& s, const SubscriptionRecord& r) {
  return s.Bind(r.tenant)
      .Bind(r.kind)
      .Bind(r.url)
      .Bind(r.events_json)
      .Bind(r.secret)
      .Bind(r.github_owner)
      .Bind(r.github_repo)
      .Bind(r.github_token)
      .Bind(r.github_api_base)
      .Bind(r.enabled ? 1 : 0)
      .Bind(r.created_at_ms)
      .Bind(r.description);
}

}  // namespace

Result<void> WebhookRepo::InsertSubscription(const SubscriptionRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db,
           "INSERT INTO webhook_subscriptions (tenant, kind, url, events, secret, github_owner,"
           " github_repo, github_token, github_api_base, enabled, created_at, description, id)"
           " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s.ok()) return DbError(db, "prepare insert subscription");
    BindSub(s, r).Bind(r.id);
    if (s.Step() != SQLITE_DONE) return DbError(db, "insert subscription " + r.id);
    return Ok();
  });
}

Result<void> WebhookRepo::UpdateSubscription(const SubscriptionRecord& r) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db,
           "UPDATE webhook_subscriptions SET tenant=?, kind=?, url=?, events=?, secret=?,"
           " github_owner=?, github_repo=?, github_token=?, github_api_base=?, enabled=?,"
           " created_at=?, description=? WHERE id=?");
    if (!s.ok()) return DbError(db, "prepare update subscription");
    BindSub(s, r).Bind(r.id);
    if (s.Step() != SQLITE_DONE) return DbError(db, "update subscription " + r.id);
    if (sqlite3_changes(db) == 0)
      return MakeError(ErrorCode::kNotFound, "webhook '" + r.id + "' does not exist");
    return Ok();
  });
}

Result<std::optional<SubscriptionRecord>> WebhookRepo::GetSubscription(const std::string& id) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::optional<SubscriptionRecord>> {
    std::string sql = std::string("SELECT ") + kSubCols + " FROM webhook_subscriptions WHERE id=?";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare get subscription");
    s.Bind(id);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<SubscriptionRecord>(ReadSub(s));
    if (rc == SQLITE_DONE) return std::optional<SubscriptionRecord>();
    return DbError(db, "get subscription");
  });
}

Result<std::vector<SubscriptionRecord>> WebhookRepo::ListSubscriptions(const std::string& tenant) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<SubscriptionRecord>> {
    std::string sql = std::string("SELECT ") + kSubCols +
                      " FROM webhook_subscriptions WHERE (?1 = '' OR tenant = ?1)"
                      " ORDER BY created_at, id";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare list subscriptions");
    s.Bind(tenant);
    std::vector<SubscriptionRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadSub(s));
    if (rc != SQLITE_DONE) return DbError(db, "list subscriptions");
    return out;
  });
}

Result<void> WebhookRepo::DeleteSubscription(const std::string& id) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    Stmt s(db, "DELETE FROM webhook_subscriptions WHERE id = ?");
    if (!s.ok()) return DbError(db, "prepare delete subscription");
    s.Bind(id);
    if (s.Step() != SQLITE_DONE) return DbError(db, "delete subscription " + id);
    if (sqlite3_changes(db) == 0)
      return MakeError(ErrorCode::kNotFound, "webhook '" + id + "' does not exist");
    return Ok();
  });
}

Result<int> WebhookRepo::ResetInFlight() {
  return store_->WithDb([&](sqlite3* db) -> Result<int> {
    RETURN_IF_ERROR(ExecSql(db,
                            "UPDATE outbox SET state = 'pending', lease_until = 0"
                            " WHERE state = 'in_flight'"));
    return sqlite3_changes(db);
  });
}

Result<std::optional<Delivery>> WebhookRepo::ClaimDue(int64_t now_ms, int64_t lease_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::optional<Delivery>> {
    // One statement, under the store's lock: the claim is atomic. A subscription with a row in
    // flight (lease not expired) is skipped: per-subscription concurrency is 1.
    Stmt claim(db,
               "UPDATE outbox SET state = 'in_flight', lease_until = ?1 + ?2 WHERE id = ("
               " SELECT o.id FROM outbox o WHERE"
               "  ((o.state = 'pending' AND o.next_attempt_at <= ?1) OR"
               "   (o.state = 'in_flight' AND o.lease_until < ?1)) AND o.subscription_id NOT IN ("
               "   SELECT b.subscription_id FROM outbox b WHERE b.state = 'in_flight' AND"
               "   b.lease_until >= ?1)"
               "  ORDER BY o.next_attempt_at, o.id LIMIT 1) RETURNING id");
    if (!claim.ok()) return DbError(db, "prepare claim outbox");
    claim.Bind(now_ms).Bind(lease_ms);
    int rc = claim.Step();
    if (rc == SQLITE_DONE) return std::optional<Delivery>();
    if (rc != SQLITE_ROW) return DbError(db, "claim outbox");
    int64_t id = claim.Int(0);
    while (claim.Step() == SQLITE_ROW) {
    }
    const char* sql =
        "SELECT o.id, o.event_id, o.subscription_id, o.state, o.attempts, o.next_attempt_at,"
        " o.lease_until, o.last_status, o.last_error, o.created_at, o.delivered_at,"
        " e.id, e.uid, e.type, e.sandbox_id, e.tenant, e.time, e.data, e.webhooks,"
        " s.id, s.tenant, s.kind, s.url, s.events, s.secret, s.github_owner, s.github_repo,"
        " s.github_token, s.github_api_base, s.enabled, s.created_at, s.description"
        " FROM outbox o JOIN events e ON e.id = o.event_id"
        " JOIN webhook_subscriptions s ON s.id = o.subscription_id WHERE o.id = ?";
    Stmt s(db, sql);
    if (!s.ok()) return DbError(db, "prepare load delivery");
    s.Bind(id);
    if (s.Step() != SQLITE_ROW) return DbError(db, "load delivery " + std::to_string(id));
    Delivery d;
    d.outbox = ReadOutbox(s, 0);
    d.event.id = s.Int(11);
    d.event.uid = s.Text(12);
    d.event.type = s.Text(13);
    d.event.sandbox_id = s.Text(14);
    d.event.tenant = s.Text(15);
    d.event.time_ms = s.Int(16);
    d.event.data_json = s.Text(17);
    d.event.webhooks = s.Int(18) != 0;
    d.subscription = ReadSub(s, 19);
    return std::optional<Delivery>(std::move(d));
  });
}

Result<std::optional<int64_t>> WebhookRepo::NextDueAt() {
  return store_->WithDb([&](sqlite3* db) -> Result<std::optional<int64_t>> {
    Stmt s(db, "SELECT COALESCE(MIN(next_attempt_at), -1) FROM outbox WHERE state = 'pending'");
    if (!s.ok() || s.Step() != SQLITE_ROW) return DbError(db, "next due outbox row");
    if (s.Int(0) < 0) return std::optional<int64_t>();
    return std::optional<int64_t>(s.Int(0));
  });
}

Result<void> WebhookRepo::CompleteAttempt(int64_t outbox_id, const AttemptResult& a) {
  return store_->WithDb([&](sqlite3* db) -> Result<void> {
    RETURN_IF_ERROR(ExecSql(db, "BEGIN IMMEDIATE"));
    auto body = [&]() -> Result<void> {
      Stmt log(db,
               "INSERT INTO delivery_log (outbox_id, attempt, time, status_code, latency_ms,"
               " error) VALUES (?,?,?,?,?,?)");
      if (!log.ok()) return DbError(db, "prepare delivery log");
      log.Bind(outbox_id)
          .Bind(a.attempt)
          .Bind(a.time_ms)
          .Bind(a.status_code)
          .Bind(a.latency_ms)
          .Bind(a.error);
      if (log.Step() != SQLITE_DONE) return DbError(db, "insert delivery log");
      Stmt up(db,
              "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, lease_until = 0,"
              " last_status = ?, last_error = ?,"
              " delivered_at = ? WHERE id = ?");
      if (!up.ok()) return DbError(db, "prepare complete attempt");
      up.Bind(a.new_state)
          .Bind(a.attempt)
          .Bind(a.next_attempt_at_ms)
          .Bind(a.status_code)
          .Bind(a.error)
          .Bind(a.new_state == "delivered" ? a.time_ms : int64_t{0})
          .Bind(outbox_id);
      if (up.Step() != SQLITE_DONE) return DbError(db, "complete attempt");
      if (sqlite3_changes(db) == 0)
        return MakeError(ErrorCode::kNotFound,
                         "outbox row " + std::to_string(outbox_id) + " does not exist");
      return Ok();
    }();
    if (!body.ok()) {
      (void)ExecSql(db, "ROLLBACK");
      return body;
    }
    return ExecSql(db, "COMMIT");
  });
}

Result<OutboxRecord> WebhookRepo::Redeliver(int64_t outbox_id, int64_t now_ms) {
  return store_->WithDb([&](sqlite3* db) -> Result<OutboxRecord> {
    ASSIGN_OR_RETURN(auto row, GetOutboxLocked(db, outbox_id));
    if (!row)
      return MakeError(ErrorCode::kNotFound,
                       "delivery " + std::to_string(outbox_id) + " does not exist");
    if (row->state == "pending" || row->state == "in_flight")
      return MakeError(ErrorCode::kFailedPrecondition,
                       "delivery " + std::to_string(outbox_id) + " is already " + row->state);
    Stmt s(db,
           "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?,"
           " lease_until = 0 WHERE id = ?");
    if (!s.ok()) return DbError(db, "prepare redeliver");
    s.Bind(now_ms).Bind(outbox_id);
    if (s.Step() != SQLITE_DONE) return DbError(db, "redeliver");
    ASSIGN_OR_RETURN(auto updated, GetOutboxLocked(db, outbox_id));
    return *updated;
  });
}

Result<std::optional<OutboxRecord>> WebhookRepo::GetOutbox(int64_t id) {
  return store_->WithDb([&](sqlite3* db) { return GetOutboxLocked(db, id); });
}

Result<std::vector<OutboxRecord>> WebhookRepo::ListOutbox(const OutboxFilter& f) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<OutboxRecord>> {
    std::string sql = std::string("SELECT ") + kOutboxCols +
                      " FROM outbox WHERE (?1 = '' OR state = ?1) AND"
                      " (?2 = '' OR subscription_id = ?2) AND (?3 = 0 OR event_id = ?3)"
                      " ORDER BY id DESC LIMIT ?4";
    Stmt s(db, sql.c_str());
    if (!s.ok()) return DbError(db, "prepare list outbox");
    s.Bind(f.state)
        .Bind(f.subscription_id)
        .Bind(f.event_id)
        .Bind(static_cast<int64_t>(std::clamp(f.limit, 1, 1000)));
    std::vector<OutboxRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadOutbox(s));
    if (rc != SQLITE_DONE) return DbError(db, "list outbox");
    return out;
  });
}

Result<std::vector<DeliveryLogRecord>> WebhookRepo::DeliveryLog(int64_t outbox_id) {
  return store_->WithDb([&](sqlite3* db) -> Result<std::vector<DeliveryLogRecord>> {
    Stmt s(db,
           "SELECT id, outbox_id, attempt, time, status_code, latency_ms, error FROM delivery_log"
           " WHERE outbox_id = ? ORDER BY id");
    if (!s.ok()) return DbError(db, "prepare delivery log");
    s.Bind(outbox_id);
    std::vector<DeliveryLogRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      DeliveryLogRecord r;
      r.id = s.Int(0);
      r.outbox_id = s.Int(1);
      r.attempt = static_cast<int>(s.Int(2));
      r.time_ms = s.Int(3);
      r.status_code = static_cast<int>(s.Int(4));
      r.latency_ms = s.Real(5);
      r.error = s.Text(6);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return DbError(db, "delivery log");
    return out;
  });
}

Result<std::map<std::string, int64_t>> WebhookRepo::CountByState() {
  return store_->WithDb([&](sqlite3* db) -> Result<std::map<std::string, int64_t>> {
    Stmt s(db, "SELECT state, COUNT(*) FROM outbox GROUP BY state");
    if (!s.ok()) return DbError(db, "prepare count outbox");
    std::map<std::string, int64_t> out = {
        {"pending", 0}, {"in_flight", 0}, {"delivered", 0}, {"dead", 0}};
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out[s.Text(0)] = s.Int(1);
    if (rc != SQLITE_DONE) return DbError(db, "count outbox");
    return out;
  });
}

}  // namespace sbx::store
