// KeyManager: key generation, hashing and the authentication decision (see keys.h).
#include "auth/keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <limits>

#include "common/log.h"
#include "common/util.h"
#include "digest/sha256.h"

namespace sbx::auth {
namespace {

constexpr int64_t kMsPerHour = 3600LL * 1000;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;
constexpr int64_t kTouchIntervalMs = 60 * 1000;
constexpr size_t kMaxNameBytes = 128;
constexpr size_t kDisplayPrefixChars = 8;
constexpr int kMaxIdAttempts = 4;

Error Unauthenticated(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message));
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// n characters of [0-9A-Za-z], uniform: bytes >= 248 (4 * 62) are rejected, not folded.
Result<std::string> RandomBase62(size_t n) {
  static const char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof buf) != 1)
      return MakeError(ErrorCode::kInternal, "RAND_bytes: the random generator failed");
    for (unsigned char b : buf) {
      if (b >= 248) continue;
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool HasForm(std::string_view k, std::string_view prefix, size_t chars, bool (*valid)(char)) {
  return k.size() == prefix.size() + chars && k.substr(0, prefix.size()) == prefix &&
         std::all_of(k.begin() + static_cast<long>(prefix.size()), k.end(), valid);
}

bool LooksLikeKey(std::string_view k) {
  return HasForm(k, kKeyPrefix, kKeyRandomChars, IsBase62) ||
         HasForm(k, kE2BKeyPrefix, kE2BKeyHexChars, IsLowerHex);
}

// The random part of a new key and its prefix.
Result<std::string> NewKeyText(KeyFormat format) {
  if (format == KeyFormat::kE2B) return std::string(kE2BKeyPrefix) + RandomHex(kE2BKeyHexChars / 2);
  ASSIGN_OR_RETURN(std::string random, RandomBase62(kKeyRandomChars));
  std::string key = std::string(kKeyPrefix) + random;
  OPENSSL_cleanse(random.data(), random.size());
  return key;
}

KeyInfo ToInfo(const store::ApiKeyRecord& r) {
  return KeyInfo{r.id,
                 r.tenant,
                 r.name,
                 r.prefix,
                 r.created_at_ms,
                 r.expires_at_ms,
                 r.revoked_at_ms,
                 r.last_used_at_ms,
                 r.rotated_from};
}

Result<void> ValidateName(std::string_view name) {
  if (name.size() > kMaxNameBytes)
    return MakeError(ErrorCode::kInvalidArgument,
                     "key name: at most " + std::to_string(kMaxNameBytes) + " bytes");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return MakeError(ErrorCode::kInvalidArgument, "key name: control characters not allowed");
  return Ok();
}

Result<void> ValidateTtl(int ttl_days) {
  if (ttl_days < 1 || ttl_days > 3650)
    return MakeError(ErrorCode::kInvalidArgument,
                     "key ttl: " + std::to_string(ttl_days) + " days; must be 1..3650");
  return Ok();
}

}  // namespace

Result<KeyFormat> ParseKeyFormat(std::string_view s) {
  if (s == "sbx") return KeyFormat::kSandboxd;
  if (s == "e2b") return KeyFormat::kE2B;
  return MakeError(ErrorCode::kInvalidArgument,
                   "key format '" + std::string(s.substr(0, 40)) +
                       "': must be 'sbx' (sbx_ + 40 letters and digits) or 'e2b' (e2b_ + 40 hex "
                       "digits, the form E2B's SDKs accept)");
}

std::string KeyInfo::Status(int64_t now_ms) const {
  if (revoked_at_ms != 0) return "revoked";
  if (expires_at_ms != 0 && now_ms >= expires_at_ms) return "expired";
  return "active";
}

nlohmann::json KeyInfoToJson(const KeyInfo& k, int64_t now_ms) {
  auto time = [](int64_t ms) { return ms == 0 ? nlohmann::json() : nlohmann::json(ToRfc3339(ms)); };
  return nlohmann::json{
      {"id", k.id},
      {"tenant", k.tenant},
      {"name", k.name},
      {"prefix", k.prefix},
      {"status", k.Status(now_ms)},
      {"created_at", time(k.created_at_ms)},
      {"expires_at", time(k.expires_at_ms)},
      {"revoked_at", time(k.revoked_at_ms)},
      {"last_used_at", time(k.last_used_at_ms)},
      {"rotated_from", k.rotated_from.empty() ? nlohmann::json() : nlohmann::json(k.rotated_from)}};
}

Result<void> ValidateTenant(std::string_view tenant) {
  bool ok = !tenant.empty() && tenant.size() <= 64 &&
            std::all_of(tenant.begin(), tenant.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            });
  if (!ok)
    return MakeError(ErrorCode::kInvalidArgument,
                     "tenant '" + std::string(tenant.substr(0, 80)) +
                         "': must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  return Ok();
}

std::string HashKey(std::string_view key) { return digest::Sha256Hex(key); }

KeyManager::KeyManager(store::Store* store, Clock clock) : repo_(store), clock_(std::move(clock)) {}

int64_t KeyManager::Now() const { return clock_ ? clock_() : NowUnixMs(); }

Result<CreatedKey> KeyManager::Issue(const std::string& tenant, const std::string& name,
                                     int ttl_days, KeyFormat format,
                                     const std::string& rotated_from, int64_t now_ms,
                                     store::ApiKeyRecord* record) {
  RETURN_IF_ERROR(ValidateTenant(tenant));
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateTtl(ttl_days));
  CreatedKey out;
  ASSIGN_OR_RETURN(out.plaintext, NewKeyText(format));
  store::ApiKeyRecord& r = *record;
  r.id = "key_" + RandomHex(6);
  r.tenant = tenant;
  r.name = name;
  r.prefix = out.plaintext.substr(0, kDisplayPrefixChars);
  r.hash = HashKey(out.plaintext);
  r.created_at_ms = now_ms;
  r.expires_at_ms = now_ms + ttl_days * kMsPerDay;
  r.rotated_from = rotated_from;
  out.info = ToInfo(r);
  return out;
}

Result<CreatedKey> KeyManager::Create(const std::string& tenant, const std::string& name,
                                      int ttl_days, KeyFormat format) {
  int64_t now = Now();
  for (int attempt = 1;; ++attempt) {
    store::ApiKeyRecord r;
    CreatedKey key;
    ASSIGN_OR_RETURN(key, Issue(tenant, name, ttl_days, format, "", now, &r));
    auto ins = repo_.Insert(r);
    if (ins.ok()) {
      log::Info("api_key_created", {{"key_id", r.id},
                                    {"tenant", r.tenant},
                                    {"prefix", r.prefix},
                                    {"expires_at", ToRfc3339(r.expires_at_ms)}});
      return key;
    }
    // A 48-bit id collision is the only realistic duplicate; try a fresh id and key.
    if (ins.error().code != ErrorCode::kAlreadyExists || attempt == kMaxIdAttempts)
      return std::move(ins).error();
  }
}

Result<Principal> KeyManager::Authenticate(std::string_view presented, int64_t now_ms) {
  if (presented.empty())
    return Unauthenticated(
        "no API key given: send it in the X-API-Key header or as 'Authorization: Bearer <key>'");
  if (!LooksLikeKey(presented))
    return Unauthenticated(
        "malformed API key: expected 'sbx_' followed by 40 letters and digits, or 'e2b_' "
        "followed by 40 lowercase hex digits");
  std::string hash = HashKey(presented);
  std::optional<store::ApiKeyRecord> found;
  ASSIGN_OR_RETURN(found, repo_.FindByHash(hash));
  // The lookup is by an index on the hash; the final comparison is constant-time all the same,
  // so a row can only match a key whose whole hash equals it.
  if (!found || found->hash.size() != hash.size() ||
      CRYPTO_memcmp(found->hash.data(), hash.data(), hash.size()) != 0)
    return Unauthenticated(
        "API key not recognised: it was never issued by this sandboxd or is mistyped; "
        "create one with `sbx keys create`");
  const store::ApiKeyRecord& r = *found;
  if (r.revoked_at_ms != 0)
    return Unauthenticated("API key " + r.id + " was revoked at " + ToRfc3339(r.revoked_at_ms) +
                           "; create a new one with `sbx keys create`");
  if (r.expires_at_ms != 0 && now_ms >= r.expires_at_ms)
    return Unauthenticated("API key " + r.id + " expired at " + ToRfc3339(r.expires_at_ms) +
                           "; create a new one with `sbx keys create` or rotate it with "
                           "`sbx keys rotate " +
                           r.id + "`");
  NoteUse(r.id, now_ms);
  return Principal{r.id, r.tenant, false};
}

void KeyManager::NoteUse(const std::string& id, int64_t now_ms) {
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    auto [it, inserted] = last_touch_ms_.try_emplace(id, now_ms);
    if (!inserted) {
      if (now_ms - it->second < kTouchIntervalMs) return;
      it->second = now_ms;
    }
  }
  // Bookkeeping only: a failed write must not fail the request.
  auto r = repo_.TouchLastUsed(id, now_ms);
  if (!r.ok()) log::Warn("api_key_touch_failed", {{"key_id", id}, {"error", r.error().ToString()}});
}

Result<void> KeyManager::Revoke(const std::string& id) {
  RETURN_IF_ERROR(repo_.Revoke(id, Now()));
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    last_touch_ms_.erase(id);
  }
  log::Info("api_key_revoked", {{"key_id", id}});
  return Ok();
}

Result<CreatedKey> KeyManager::Rotate(const std::string& id, int overlap_hours, int ttl_days) {
  if (overlap_hours < 0 || overlap_hours > 720)
    return MakeError(
        ErrorCode::kInvalidArgument,
        "rotation overlap: " + std::to_string(overlap_hours) + " hours; must be 0..720");
  std::optional<store::ApiKeyRecord> old;
  ASSIGN_OR_RETURN(old, repo_.Get(id));
  if (!old) return MakeError(ErrorCode::kNotFound, "API key '" + id + "' does not exist");
  if (old->revoked_at_ms != 0)
    return MakeError(ErrorCode::kFailedPrecondition,
                     "API key " + id + " was revoked at " + ToRfc3339(old->revoked_at_ms) +
                         "; a revoked key cannot be rotated, create a new one with "
                         "`sbx keys create`");
  int64_t now = Now();
  int64_t old_expiry =
      old->expires_at_ms == 0 ? std::numeric_limits<int64_t>::max() : old->expires_at_ms;
  old_expiry = std::min(old_expiry, now + overlap_hours * kMsPerHour);
  // The stored display prefix tells the old key's form; its successor keeps it.
  const KeyFormat format = old->prefix.rfind(kE2BKeyPrefix, 0) == 0 ? KeyFormat::kE2B
                                                                     : KeyFormat::kSandboxd;
  for (int attempt = 1;; ++attempt) {
    store::ApiKeyRecord r;
    CreatedKey key;
    ASSIGN_OR_RETURN(key, Issue(old->tenant, old->name, ttl_days, format, id, now, &r));
    auto ins = repo_.InsertRotation(r, id, old_expiry);
    if (ins.ok()) {
      log::Info("api_key_rotated", {{"key_id", r.id},
                                    {"rotated_from", id},
                                    {"tenant", r.tenant},
                                    {"prefix", r.prefix},
                                    {"old_expires_at", ToRfc3339(old_expiry)}});
      return key;
    }
    if (ins.error().code != ErrorCode::kAlreadyExists || attempt == kMaxIdAttempts)
      return std::move(ins).error();
  }
}

Result<std::vector<KeyInfo>> KeyManager::List(const std::string& tenant) {
  if (!tenant.empty()) RETURN_IF_ERROR(ValidateTenant(tenant));
  std::vector<store::ApiKeyRecord> rows;
  ASSIGN_OR_RETURN(rows, repo_.List(tenant));
  std::vector<KeyInfo> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(ToInfo(r));
  return out;
}

Result<KeyInfo> KeyManager::Get(const std::string& id) {
  std::optional<store::ApiKeyRecord> r;
  ASSIGN_OR_RETURN(r, repo_.Get(id));
  if (!r) return MakeError(ErrorCode::kNotFound, "API key '" + id + "' does not exist");
  return ToInfo(*r);
}

}  // namespace sbx::auth
