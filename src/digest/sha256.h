// digest: SHA-256 as lowercase hex, the one way sandboxd hashes file contents, API keys, hook
// tokens and template definitions (OpenSSL EVP underneath).
//
// Thread safety: a Sha256 is used by one thread at a time; the free functions are reentrant.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace sbx::digest {

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // Lowercase hex of everything given to Update; call once ("" if OpenSSL failed).
  std::string HexDigest();

 private:
  EVP_MD_CTX* ctx_;
};

// SHA-256 of data, lowercase hex.
std::string Sha256Hex(std::string_view data);

// SHA-256 of the whole content of an open file (read with pread from offset 0).
Result<std::string> Sha256OfFd(int fd);

}  // namespace sbx::digest
