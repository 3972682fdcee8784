// Key management routes (docs/auth.md, docs/api.md), served on the administrator's unix socket
// only; over TCP they answer 403 permission_denied:
//
//   POST   /v1/keys                 {"tenant", "name"?, "ttl_days"?}  -> 201, plaintext "key" once
//   GET    /v1/keys[?tenant=T]                                        -> 200 {"keys": [...]}
//   GET    /v1/keys/{id}                                              -> 200
//   DELETE /v1/keys/{id}            revoke (idempotent)               -> 200
//   POST   /v1/keys/{id}/rotate     {"overlap_hours"?, "ttl_days"?}   -> 201, plaintext "key" once
//
// Keys are shown with auth::KeyInfoToJson (never the hash). The plaintext is only in the body
// of create and rotate; nothing here logs it.
//
// Thread safety: the handlers may be called concurrently (KeyManager is thread-safe).
#pragma once

#include <functional>
#include <memory>

#include "api/routes.h"
#include "auth/keys.h"

namespace sbx::api {

class KeyRoutes : public RouteGroup {
 public:
  using Clock = std::function<int64_t()>;  // unix ms; nullptr: wall clock
  explicit KeyRoutes(auth::KeyManager* keys, Clock clock = nullptr)
      : keys_(keys), clock_(std::move(clock)) {}
  std::vector<Route> Routes() override;

 private:
  int64_t Now() const;
  Response Create(const Request& req);
  Response List(const Request& req);
  Response Get(const std::string& id);
  Response Revoke(const std::string& id);
  Response Rotate(const std::string& id, const Request& req);

  auth::KeyManager* keys_;
  Clock clock_;
};

}  // namespace sbx::api
