// KeyManager: API keys and tenants. Creates keys (shown once), authenticates presented keys,
// revokes, rotates with an overlap window, lists without secrets. Keys are `sbx_` + 40 base62
// characters (about 238 random bits) from the OpenSSL CSPRNG, or in E2B's spelling `e2b_` + 40
// lowercase hex digits (160 bits; E2B's Python SDK refuses any other form); only their sha256
// is stored (store::KeyRepo). Docs: docs/auth.md.
//
// Nothing here logs or returns a key's plaintext except CreatedKey::plaintext of Create and
// Rotate, and no error message repeats any part of a presented key.
//
// Thread safety: every method may be called from any thread. The Store must outlive the
// KeyManager.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/principal.h"
#include "common/result.h"
#include "store/keys.h"
#include "store/store.h"

namespace sbx::auth {

inline constexpr int kDefaultKeyTtlDays = 90;  // the guide's rotation period
inline constexpr int kDefaultRotationOverlapHours = 24;
inline constexpr std::string_view kKeyPrefix = "sbx_";
inline constexpr size_t kKeyRandomChars = 40;
inline constexpr std::string_view kE2BKeyPrefix = "e2b_";
inline constexpr size_t kE2BKeyHexChars = 40;

// How a new key is spelled: sandboxd's own form, or E2B's (for E2B's SDKs, which check it).
enum class KeyFormat { kSandboxd, kE2B };
// "sbx" or "e2b"; kInvalidArgument naming the field otherwise.
Result<KeyFormat> ParseKeyFormat(std::string_view s);

// A key as shown to people and the API: never the hash, never the plaintext.
struct KeyInfo {
  std::string id;
  std::string tenant;
  std::string name;
  std::string prefix;  // "sbx_AbC1"
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0: never
  int64_t revoked_at_ms = 0;  // 0: not revoked
  int64_t last_used_at_ms = 0;
  std::string rotated_from;

  // "active", "expired" or "revoked" at `now_ms`.
  std::string Status(int64_t now_ms) const;
};

// {"id", "tenant", "name", "prefix", "status", "created_at", "expires_at", "revoked_at",
//  "last_used_at", "rotated_from"}; times RFC 3339, null when unset.
nlohmann::json KeyInfoToJson(const KeyInfo& k, int64_t now_ms);

struct CreatedKey {
  KeyInfo info;
  std::string plaintext;  // shown once to the creator; the caller must not log it
};

// [a-z0-9_-]{1,64}; kInvalidArgument naming the rule otherwise.
Result<void> ValidateTenant(std::string_view tenant);
// sha256 of the whole key, lowercase hex: what the store keeps.
std::string HashKey(std::string_view key);

class KeyManager {
 public:
  using Clock = std::function<int64_t()>;  // unix ms

  explicit KeyManager(store::Store* store, Clock clock = nullptr);  // nullptr: wall clock

  // A new key for `tenant` named `name` (free text, at most 128 bytes, no control characters),
  // expiring after ttl_days (1..3650).
  Result<CreatedKey> Create(const std::string& tenant, const std::string& name,
                            int ttl_days = kDefaultKeyTtlDays,
                            KeyFormat format = KeyFormat::kSandboxd);

  // The principal of a presented key, or kUnauthenticated with a message that says which:
  // no key given, malformed, unknown, revoked (with when), expired (with when, and how to get a
  // new one). Records last use at most once a minute per key.
  Result<Principal> Authenticate(std::string_view presented_key, int64_t now_ms);

  // Idempotent (a second revoke keeps the first time); kNotFound for an unknown id.
  Result<void> Revoke(const std::string& id);

  // A new key for the same tenant, name and format (rotated_from = id), valid for ttl_days; the old key
  // keeps working until min(its expiry, now + overlap_hours) (0..720). kFailedPrecondition for a
  // revoked key. An expired key may be rotated (it stays expired).
  Result<CreatedKey> Rotate(const std::string& id, int overlap_hours = kDefaultRotationOverlapHours,
                            int ttl_days = kDefaultKeyTtlDays);

  // The tenant's keys, or all keys when tenant is "".
  Result<std::vector<KeyInfo>> List(const std::string& tenant);
  // kNotFound for an unknown id.
  Result<KeyInfo> Get(const std::string& id);

 private:
  int64_t Now() const;
  Result<CreatedKey> Issue(const std::string& tenant, const std::string& name, int ttl_days,
                           KeyFormat format, const std::string& rotated_from, int64_t now_ms,
                           store::ApiKeyRecord* record);
  void NoteUse(const std::string& id, int64_t now_ms);

  store::KeyRepo repo_;
  Clock clock_;
  std::mutex touch_mu_;
  std::unordered_map<std::string, int64_t> last_touch_ms_;  // guarded by touch_mu_
};

}  // namespace sbx::auth
