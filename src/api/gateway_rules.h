// The pure rules of the E2B gateway (api/gateway.h): which requests it claims, how a Host
// header names a sandbox and a port, envd's signed file URLs, and who may pass. No I/O here,
// so every rule is unit-tested (tests/unit/api/gateway_rules_test.cc).
//
// Claiming (E2B-PROTOCOL.md 1.4), in this order:
//   1. an `E2b-Sandbox-Id` header: that sandbox; the port from `E2b-Sandbox-Port` (default
//      49983, envd); a port that is not a number from 1 to 65535 is a 400 naming the header;
//   2. a Host `<port>-<sandboxId>.<domain>` (port: digits; id: [a-z0-9]+; domain: the
//      --e2b-domain flag when set, else any non-empty rest);
//   3. `/files` with a `signature` query and neither of the above (the SDK's uploadUrl() and
//      downloadUrl() with E2B_SANDBOX_URL): the sandbox whose envd token makes it valid.
// Anything else is sandboxd's own API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"

namespace sbx::api::gateway {

inline constexpr int kEnvdPort = 49983;

struct Route {
  std::string sandbox_id;  // empty with via "signature": found by the signature
  int port = kEnvdPort;
  std::string via;         // "header", "host", "signature"
  std::string error;       // claimed but malformed: the 400's message
};

// The sandbox and port a Host header names, or nullopt when it is not of the form
// `<port>-<id>.<domain>[:<listener port>]`. `domain` empty: any. A port outside 1-65535 still
// matches the form (port 0): the caller answers 400.
struct HostRoute {
  int port = 0;
  std::string sandbox_id;
};
std::optional<HostRoute> ParseSandboxHost(std::string_view host, std::string_view domain);

// The port of an E2b-Sandbox-Port value: decimal 1-65535, nothing else (no sign, no spaces).
std::optional<int> ParsePort(std::string_view text);

// Whether the gateway takes the request (see above); `req` has its header fields only.
std::optional<Route> Claim(const Request& req, std::string_view domain);

// envd's file-URL signature: "v1_" + base64(sha256("<path>:<op>:<user>:<token>[:<exp>]"))
// without '=' padding (the SDK's getSignature).
std::string EnvdSignature(std::string_view path, std::string_view operation,
                          std::string_view user, std::string_view token,
                          std::optional<int64_t> expiration);
// Whether req (GET: read, POST: write; `path`, `username`, `signature`,
// `signature_expiration` from its query) is signed with `token` and not expired at now_s.
// Constant-time comparison.
bool SignatureValid(const Request& req, std::string_view token, int64_t now_s);

// What the request's X-API-Key says about the sandbox's tenant.
enum class KeyMatch { kNone, kOwnTenant, kOtherTenant, kInvalid };

// Who may pass, for a request that reached a sandbox that exists and runs.
enum class Verdict { kAllow, kUnauthorized, kNotFound };
struct Expected {
  std::string envd_token;
  std::string traffic_token;
  bool public_traffic = true;  // E2B's allowPublicTraffic
};
// admin (the unix socket): always. A valid key of another tenant: not found. envd (49983):
// GET /health, an X-Access-Token equal to the envd token, a valid /files signature, or a key
// of the sandbox's tenant. Other ports: public traffic, or E2B-Traffic-Access-Token equal to
// the traffic token, or a key of the sandbox's tenant. An invalid key: unauthorized.
Verdict Decide(const Request& req, int port, bool admin, KeyMatch key, const Expected& expected,
               int64_t now_s);

// The E2B error bodies: 502 {"sandboxId","message":"The sandbox was not found","code":502},
// and {"code": status, "message": ...}.
Response NotFound(const std::string& sandbox_id);
Response E2bError(int status, const std::string& message);

}  // namespace sbx::api::gateway
