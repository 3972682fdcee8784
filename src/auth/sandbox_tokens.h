// Per-sandbox access tokens of the E2B protocol: the envd access token (X-Access-Token on the
// requests the gateway forwards to a sandbox's agent, and the key of envd's signed file URLs)
// and the traffic access token (E2B-Traffic-Access-Token on requests to a sandbox's ports when
// it refuses public traffic). E2B's `connect` returns them again, so they are derived, not
// stored: HMAC-SHA256 of the daemon's secret over the kind, the sandbox id and its creation
// time (a sandbox created again under the same id gets other tokens). The secret is 32 random
// bytes in <state>/e2b-secret (0600), made at the first start.
//
// Thread safety: immutable after Load; every method is const and reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::auth {

class SandboxTokens {
 public:
  // Reads <state_dir>/e2b-secret, creating it (0600, O_EXCL) when missing. A file of another
  // size or content than 64 hex digits is an error naming the file.
  static Result<SandboxTokens> Load(const std::string& state_dir);
  explicit SandboxTokens(std::string secret) : secret_(std::move(secret)) {}

  // 64 lowercase hex digits.
  std::string EnvdToken(std::string_view sandbox_id, int64_t created_at_ms) const;
  std::string TrafficToken(std::string_view sandbox_id, int64_t created_at_ms) const;

 private:
  std::string Derive(std::string_view kind, std::string_view sandbox_id,
                     int64_t created_at_ms) const;
  std::string secret_;
};

}  // namespace sbx::auth
