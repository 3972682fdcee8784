// api/tls_context: the server-side TLS configuration of the TCP listener (docs/security.md,
// "TLS"). Loads a PEM certificate chain and its private key into an OpenSSL context that
// allows TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites only (ECDHE with AES-GCM or
// ChaCha20-Poly1305 for 1.2; OpenSSL's defaults for 1.3), Debian's security level 2, no
// compression, no renegotiation, and HTTP/1.1 as the only ALPN protocol.
//
// Every problem with the files is an Error naming the file: missing, unreadable, not PEM, an
// encrypted key (there is no one to type a passphrase), a key that does not belong to the
// certificate. A key file that others than root can read, or an expired certificate, is
// logged as a warning: the daemon still starts.
//
// Thread safety: a loaded context is not modified afterwards; connections share it through
// the shared_ptr (a reloaded one replaces it for new connections only).
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace boost::asio::ssl {
class context;
}

namespace sbx::api {

struct TlsFiles {
  std::string cert_file;  // PEM: the server certificate first, then intermediates
  std::string key_file;   // PEM: its private key, unencrypted, readable by root only
};

Result<std::shared_ptr<boost::asio::ssl::context>> LoadTlsContext(const TlsFiles& files);

// Why a key file with this owner and mode is exposed ("" when only root can read it).
std::string KeyFileExposure(const struct stat& st);

}  // namespace sbx::api
