// Credentials: the API key a request presents, parsed from its headers. Pure: no I/O, no store.
//
//   X-API-Key: <key>
//   Authorization: Bearer <key>      (scheme case-insensitive, one or more spaces before the key)
//
// Either header may be used; if both are present they must carry the same key. An Authorization
// header with another scheme is an error on its own, and ignored next to an X-API-Key (the E2B
// SDK sends `Authorization: Basic base64("user:")` to choose the sandbox user). The value must
// be 1..kMaxPresentedKeyBytes visible ASCII characters with no inner whitespace (surrounding
// spaces and tabs, which HTTP allows, are trimmed). Whether the key is valid is
// KeyManager::Authenticate's job.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::auth {

inline constexpr size_t kMaxPresentedKeyBytes = 256;

struct PresentedHeaders {
  std::optional<std::string_view> x_api_key;      // the X-API-Key header, if present
  std::optional<std::string_view> authorization;  // the Authorization header, if present
};

// The presented key; "" when neither header is present (Authenticate then answers "no API key
// given"). kUnauthenticated with a message naming the header for a malformed value, a scheme
// other than Bearer, or two different keys. Messages never repeat the key.
Result<std::string> ExtractApiKey(const PresentedHeaders& headers);

}  // namespace sbx::auth
