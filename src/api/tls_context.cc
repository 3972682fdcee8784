// api/tls_context: loading and checking the TLS certificate and key (see tls_context.h).
#include "api/tls_context.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "common/scope_exit.h"
#include "common/unique_fd.h"

namespace sbx::api {
namespace ssl = boost::asio::ssl;
namespace {

constexpr char kTls12Ciphers[] = "ECDHE+AESGCM:ECDHE+CHACHA20";

// A PEM file of a few certificates is a few KiB; anything far larger is not one.
constexpr off_t kMaxPemBytes = 1 << 20;

// Reads a PEM file; `what` ("TLS certificate", "TLS private key") and the path start every
// message. O_NONBLOCK: a FIFO given by mistake must not hang the start.
Result<std::string> ReadPem(const std::string& path, const std::string& what, struct stat* st) {
  if (path.empty()) return MakeError(ErrorCode::kInvalidArgument, what + ": no file given");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return SysError(what + " " + path + ": cannot open");
  if (::fstat(fd.get(), st) != 0) return SysError(what + " " + path + ": fstat");
  if (!S_ISREG(st->st_mode))
    return MakeError(ErrorCode::kInvalidArgument, what + " " + path + ": not a regular file");
  if (st->st_size > kMaxPemBytes)
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " " + path + ": larger than 1 MiB, not a PEM file");
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError(what + " " + path + ": cannot read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<off_t>(out.size()) > kMaxPemBytes)
      return MakeError(ErrorCode::kInvalidArgument,
                       what + " " + path + ": larger than 1 MiB, not a PEM file");
  }
  if (out.empty()) return MakeError(ErrorCode::kInvalidArgument, what + " " + path + ": empty file");
  return out;
}

// OpenSSL's reason for the last failure ("no start line", "bad decrypt"), or ec's message.
std::string OpenSslReason(const boost::system::error_code& ec) {
  std::string reason = ec ? ec.message() : std::string();
  unsigned long e = ERR_peek_last_error();
  if (e != 0) {
    if (const char* r = ERR_reason_error_string(e)) reason = r;
  }
  ERR_clear_error();
  return reason;
}

// Offers nothing but HTTP/1.1: a client that asks for h2 is told this server speaks 1.1.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

void WarnIfExpired(SSL_CTX* ctx, const std::string& cert_file) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr) return;
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
    log::Warn("tls.cert_expired", {{"file", cert_file},
                                   {"note", "clients that verify the certificate will refuse it"}});
  else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
    log::Warn("tls.cert_not_yet_valid", {{"file", cert_file}});
}

}  // namespace

std::string KeyFileExposure(const struct stat& st) {
  if (st.st_uid != 0) return "owned by uid " + std::to_string(st.st_uid) + ", not root";
  bool group = st.st_mode & S_IRWXG;
  bool others = st.st_mode & S_IRWXO;
  if (!group && !others) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string("mode ") + mode + ": " +
         (group && others ? "group and others" : group ? "group" : "others") + " can access it";
}

Result<std::shared_ptr<ssl::context>> LoadTlsContext(const TlsFiles& files) {
  struct stat cert_st {};
  struct stat key_st {};
  ASSIGN_OR_RETURN(std::string cert_pem, ReadPem(files.cert_file, "TLS certificate", &cert_st));
  ASSIGN_OR_RETURN(std::string key_pem, ReadPem(files.key_file, "TLS private key", &key_st));
  // The key's bytes do not outlive this function in freed memory (OpenSSL keeps its own copy).
  ScopeExit wipe([&key_pem] { OPENSSL_cleanse(key_pem.data(), key_pem.size()); });

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  // TLS 1.3 has no renegotiation; SSL_OP_NO_RENEGOTIATION refuses it in 1.2 (a client-driven
  // renegotiation costs the server a handshake per request: a cheap denial of service).
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION |
                   SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return MakeError(ErrorCode::kInternal, "TLS: cannot require TLS 1.2: " + OpenSslReason({}));
  // TLS 1.2 suites: OpenSSL's default list still has RSA key exchange (no forward secrecy) and
  // CBC modes; keep its forward-secret AEAD ones (Mozilla's "intermediate" minus DHE). The
  // TLS 1.3 suites are OpenSSL's defaults: all of them are both.
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    return MakeError(ErrorCode::kInternal, "TLS: cipher list refused: " + OpenSslReason({}));
  SSL_CTX_set_alpn_select_cb(native, SelectAlpn, nullptr);
  // An encrypted key would make OpenSSL prompt on the terminal; an empty passphrase fails
  // instead, with the error below.
  ctx->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });

  boost::system::error_code ec;
  bool key_mismatch = false;
  ctx->use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec)
    return MakeError(ErrorCode::kInvalidArgument,
                     "TLS certificate " + files.cert_file +
                         ": not a PEM certificate chain (" + OpenSslReason(ec) + ")");
  ctx->use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  // OpenSSL compares the key with the certificate already loaded here. Asio has taken the
  // error off OpenSSL's queue into ec.
  unsigned long last = ec.category() == boost::asio::error::get_ssl_category()
                           ? static_cast<unsigned long>(ec.value())
                           : ERR_peek_last_error();
  if (ec && ERR_GET_LIB(last) == ERR_LIB_X509 &&
      ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH) {
    ec = {};
    ERR_clear_error();
    key_mismatch = true;
  }
  if (ec) {
    bool encrypted = key_pem.find("ENCRYPTED") != std::string::npos;
    return MakeError(ErrorCode::kInvalidArgument,
                     "TLS private key " + files.key_file +
                         (encrypted ? ": encrypted keys are not supported (decrypt it with "
                                      "`openssl pkey -in KEY -out KEY.plain`) ("
                                    : ": not a PEM private key (") +
                         OpenSslReason(ec) + ")");
  }
  if (key_mismatch || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return MakeError(ErrorCode::kInvalidArgument, "TLS private key " + files.key_file +
                                                      " does not match the certificate " +
                                                      files.cert_file);
  }
  if (std::string why = KeyFileExposure(key_st); !why.empty())
    log::Warn("tls.key_exposed",
              {{"file", files.key_file}, {"why", why},
               {"fix", "chown root:root " + files.key_file + " && chmod 600 " + files.key_file}});
  WarnIfExpired(native, files.cert_file);
  return ctx;
}

}  // namespace sbx::api
