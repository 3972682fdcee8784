// Signing: HMAC-SHA256 of webhook bodies, in the forms senders and receivers use, and a
// constant-time comparison for verifying them.
//
//   X-Hub-Signature-256: sha256=<hex HMAC(secret, body)>                 (GitHub's form)
//   X-Sandboxd-Signature-256: sha256=<hex HMAC(secret, timestamp + "." + body)>
//
// The second binds the X-Sandboxd-Timestamp header into the signature so a receiver can refuse
// replays of old deliveries (docs/events.md). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "digest/hmac.h"

namespace sbx::events {

using digest::ConstantTimeEquals;
using digest::HmacSha256Hex;
// "sha256=" + HmacSha256Hex(secret, body): GitHub's X-Hub-Signature-256.
std::string GithubSignature(std::string_view secret, std::string_view body);
// "sha256=" + HmacSha256Hex(secret, timestamp + "." + body).
std::string TimestampedSignature(std::string_view secret, int64_t timestamp_s,
                                 std::string_view body);
// True if `header` is a valid X-Hub-Signature-256 of `body` under `secret`. An empty secret
// never verifies.
bool VerifyGithubSignature(std::string_view secret, std::string_view body, std::string_view header);
// The same for X-Sandboxd-Signature-256, refusing timestamps more than `tolerance_s` away from
// `now_s` (replays).
bool VerifyTimestampedSignature(std::string_view secret, int64_t timestamp_s, std::string_view body,
                                std::string_view header, int64_t now_s, int64_t tolerance_s = 300);

}  // namespace sbx::events
