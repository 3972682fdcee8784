// The HTTP/1.1 server of the API (Boost.Beast, synchronous, one thread per connection). It
// listens on the administrator's unix socket (mode 0600) and optionally on a TCP port, plain
// or TLS (asio::ssl over OpenSSL, api/tls_context.h), parses requests with a body limit and
// timeouts, hands them to the Router and writes the response. The request loop is one
// template over the stream type, so unix, TCP and TLS connections share every line of request
// handling, streamed (chunked) responses included. Why threads and not coroutines:
// docs/architecture.md.
//
// Thread safety: Listen* before Run; Stop and ReloadTls from any thread (the signal thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/routes.h"
#include "api/tls_context.h"
#include "common/result.h"

namespace sbx::api {

struct ServerOptions {
  size_t max_body_bytes = (100 << 20) + (1 << 20);
  int idle_timeout_s = 120;     // a keep-alive connection with no request for this long closes,
                                // and so does one whose peer stops reading or sending midway
  size_t max_connections = 512;
  int tls_handshake_timeout_s = 10;  // a TLS client must finish its handshake within this
};

// Called after each request with its final status and duration (metrics).
using RequestObserver = std::function<void(const Request& req, int status, double seconds)>;

class Server {
 public:
  Server(Router* router, ServerOptions options);
  ~Server();
  Result<void> ListenUnix(const std::string& path);
  // With tls, the port speaks only TLS; a plain HTTP request on it gets a 400 saying so.
  // `loaded` is LoadTlsContext(*tls) when the caller checked the files already (the daemon
  // does, before anything else starts); null: they are loaded here, and a problem with them
  // is an Error naming the file.
  Result<void> ListenTcp(const std::string& host, int port,
                         std::optional<TlsFiles> tls = std::nullopt,
                         std::shared_ptr<boost::asio::ssl::context> loaded = nullptr);
  int tcp_port() const { return tcp_port_; }
  bool tls() const;
  // Re-reads the certificate and key (after renewal) for new connections; open connections
  // keep the ones they started with. On an Error the previous ones stay in use.
  Result<void> ReloadTls();
  // Before Run().
  void SetObserver(RequestObserver observer);
  // Serves until Stop(); then waits for open connections to finish their current request.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int tcp_port_ = 0;
};

}  // namespace sbx::api
