// Credentials: header parsing for the presented API key (see credentials.h).
#include "auth/credentials.h"

#include <strings.h>

namespace sbx::auth {
namespace {

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

Error Bad(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message));
}

// Checks one key value; `where` names its header in messages.
Result<std::string> CheckToken(std::string_view token, const std::string& where) {
  if (token.empty()) return Bad(where + ": empty API key");
  if (token.size() > kMaxPresentedKeyBytes)
    return Bad(where + ": API key longer than " + std::to_string(kMaxPresentedKeyBytes) + " bytes");
  for (unsigned char c : token) {
    if (IsOws(static_cast<char>(c))) return Bad(where + ": API key contains whitespace");
    if (c < 0x21 || c > 0x7e) return Bad(where + ": API key contains a non-printable character");
  }
  return std::string(token);
}

bool IsBearer(std::string_view value) {
  value = TrimOws(value);
  return value.size() >= 6 && strncasecmp(value.data(), "bearer", 6) == 0 &&
         (value.size() == 6 || IsOws(value[6]));
}

Result<std::string> FromAuthorization(std::string_view value) {
  value = TrimOws(value);
  if (value.empty()) return Bad("Authorization header: empty");
  // The scheme is not echoed: a client that sends a bare key here would see it repeated.
  if (!IsBearer(value))
    return Bad(
        "Authorization header: only the Bearer scheme is accepted; use "
        "'Authorization: Bearer <key>' or the X-API-Key header");
  std::string_view token = TrimOws(value.substr(6));
  if (token.empty()) return Bad("Authorization header: Bearer without a key");
  return CheckToken(token, "Authorization header");
}

}  // namespace

Result<std::string> ExtractApiKey(const PresentedHeaders& headers) {
  std::optional<std::string> from_x, from_auth;
  if (headers.x_api_key) {
    std::string k;
    ASSIGN_OR_RETURN(k, CheckToken(TrimOws(*headers.x_api_key), "X-API-Key header"));
    from_x = std::move(k);
  }
  if (headers.authorization) {
    auto k = FromAuthorization(*headers.authorization);
    if (k.ok()) {
      from_auth = std::move(k).value();
    } else if (!from_x || IsBearer(*headers.authorization)) {
      return std::move(k).error();
    }
    // Else another scheme next to an X-API-Key (the E2B SDK sends `Authorization: Basic
    // base64("user:")` to name a sandbox user): not a credential of ours, ignored.
  }
  if (from_x && from_auth && *from_x != *from_auth)
    return Bad("the X-API-Key and Authorization headers carry different keys; send one");
  if (from_x) return *from_x;
  if (from_auth) return *from_auth;
  return std::string();
}

}  // namespace sbx::auth
