// DefinitionHash: canonical JSON of the content-determining fields, hashed with sha256.
#include "templates/hash.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

namespace sbx::templates {

namespace {

std::string Hex(const unsigned char* md, unsigned len) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

Result<std::string> Sha256OfFd(int fd) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return MakeError(ErrorCode::kInternal, "EVP_MD_CTX_new failed");
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      EVP_MD_CTX_free(ctx);
      return SysError("read for sha256");
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
    off += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return Hex(md, len);
}

std::string DefinitionHash(const spec::Template& t, std::string_view source_fingerprint) {
  // Debian packages are a set (apt resolves them together): order and duplicates do not matter.
  std::vector<std::string> packages = t.packages;
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());
  // pip and npm install in the order given; keep it.
  nlohmann::json j{{"builder", kBuilderVersion},
                   {"baseImage", t.base_image},
                   {"packages", packages},
                   {"pythonPackages", t.python_packages},
                   {"npmPackages", t.npm_packages},
                   {"source", std::string(source_fingerprint)}};
  return Sha256Hex(j.dump());
}

std::string ShortHash(std::string_view hash) { return std::string(hash.substr(0, 16)); }

}  // namespace sbx::templates
