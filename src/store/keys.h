// KeyRepo: the api_keys table (migration 2). Rows hold the sha256 of a key, never the key: the
// plaintext exists only in the answer to a create (auth::KeyManager). Times are unix ms.
//
// Thread safety: a KeyRepo may be used from any number of threads; every call runs under the
// Store's lock (Store::WithDb). The Store must outlive the KeyRepo.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace sbx::store {

struct ApiKeyRecord {
  std::string id;      // key_<12 hex>
  std::string tenant;  // [a-z0-9_-]{1,64}
  std::string name;    // free text for people: "ci", "alice laptop"
  std::string prefix;  // first 8 characters of the key ("sbx_AbC1"), for display
  std::string hash;    // sha256 of the whole key, lowercase hex
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;    // 0: never
  int64_t revoked_at_ms = 0;    // 0: not revoked
  int64_t last_used_at_ms = 0;  // 0: never used (updated at most once a minute per key)
  std::string rotated_from;     // id of the key this one replaced, "" if none
};

class KeyRepo {
 public:
  explicit KeyRepo(Store* store) : store_(store) {}

  // kAlreadyExists on a duplicate id or hash.
  Result<void> Insert(const ApiKeyRecord& r);
  Result<std::optional<ApiKeyRecord>> Get(const std::string& id);
  Result<std::optional<ApiKeyRecord>> FindByHash(const std::string& hash_hex);
  // The tenant's keys, or every key when tenant is "", oldest first.
  Result<std::vector<ApiKeyRecord>> List(const std::string& tenant);
  // Sets revoked_at = at unless already revoked (idempotent). kNotFound if no such id.
  Result<void> Revoke(const std::string& id, int64_t at_ms);
  // kNotFound if no such id.
  Result<void> SetExpiry(const std::string& id, int64_t expires_at_ms);
  // One UPDATE; callers batch (auth::KeyManager writes at most once a minute per key).
  Result<void> TouchLastUsed(const std::string& id, int64_t at_ms);
  // Rotation in one transaction: inserts `replacement` and sets the old key's expiry.
  Result<void> InsertRotation(const ApiKeyRecord& replacement, const std::string& old_id,
                              int64_t old_expires_at_ms);

 private:
  Store* store_;
};

}  // namespace sbx::store
