// Webhook signatures over digest::HmacSha256Hex (see signing.h).
#include "events/signing.h"

namespace sbx::events {

std::string GithubSignature(std::string_view secret, std::string_view body) {
  return "sha256=" + HmacSha256Hex(secret, body);
}

std::string TimestampedSignature(std::string_view secret, int64_t timestamp_s,
                                 std::string_view body) {
  std::string signed_data = std::to_string(timestamp_s);
  signed_data += '.';
  signed_data.append(body);
  return "sha256=" + HmacSha256Hex(secret, signed_data);
}

bool VerifyGithubSignature(std::string_view secret, std::string_view body,
                           std::string_view header) {
  if (secret.empty()) return false;
  return ConstantTimeEquals(GithubSignature(secret, body), header);
}

bool VerifyTimestampedSignature(std::string_view secret, int64_t timestamp_s, std::string_view body,
                                std::string_view header, int64_t now_s, int64_t tolerance_s) {
  if (secret.empty()) return false;
  int64_t skew = now_s > timestamp_s ? now_s - timestamp_s : timestamp_s - now_s;
  bool fresh = skew <= tolerance_s;
  bool valid = ConstantTimeEquals(TimestampedSignature(secret, timestamp_s, body), header);
  return fresh && valid;
}

}  // namespace sbx::events
