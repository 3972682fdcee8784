// HMAC-SHA256 signatures with OpenSSL (see signing.h).
#include "events/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace sbx::events {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

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

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length of a signature is public; only the contents must not leak through timing.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
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
