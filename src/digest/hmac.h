// digest: HMAC-SHA256 and a constant-time comparison, the one way sandboxd signs (webhook
// bodies, per-sandbox access tokens) and checks what was signed. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sbx::digest {

// Lowercase hex of HMAC-SHA256(key, data).
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Equal strings, compared in time that depends only on their lengths (CRYPTO_memcmp).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// The 32 raw bytes of SHA-256(data) (for encodings other than hex, e.g. envd's signatures).
std::string Sha256Raw(std::string_view data);

}  // namespace sbx::digest
