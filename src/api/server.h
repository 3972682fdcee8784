// The HTTP/1.1 server of the API (Boost.Beast, synchronous, one thread per connection). It
// listens on the administrator's unix socket (mode 0600) and optionally on a TCP port, plain
// or TLS (asio::ssl over OpenSSL, api/tls_context.h), hands requests to the Router and writes
// the responses. The request loop is one template over the stream type (request_loop.h), so
// unix, TCP and TLS connections share every line of request handling, streamed (chunked)
// responses included. Why threads and not coroutines: docs/architecture.md.
//
// What a request may cost before it is trusted (docs/security.md, "API input and what it may
// cost the daemon"): the header is read alone, within an absolute deadline, and the gate
// (API key, rate limit) decides before any byte of the body is read; a refused request is
// answered and its connection closed, its body never held in memory. Each listener has its
// own connection pool (api/connection_pool.h: the unix socket never competes with TCP;
// unauthenticated connections evict each other, oldest first), requests in flight are capped
// per API key, and bodies are read within an absolute deadline and against a daemon-wide
// budget of bytes in memory (api/byte_budget.h).
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

class Gateway;  // api/gateway.h

struct ServerOptions {
  size_t max_body_bytes = (100 << 20) + (1 << 20);
  // TCP requests the gate lets through without an API key (incoming webhooks, /health).
  size_t max_keyless_body_bytes = 1 << 20;
  int idle_timeout_s = 120;     // a keep-alive connection with no request for this long closes,
                                // and so does one whose peer stops reading or sending midway
  int header_timeout_s = 10;    // a request's header must be complete this long after its first
                                // byte (a new connection: after the accept or TLS handshake)
  int body_timeout_s = 30;      // a body must be complete within this long after its header ...
  uint64_t body_min_rate = 64 << 10;  // ... plus its length at this many bytes per second
  uint64_t body_bytes_in_flight = 256 << 20;  // request bodies in memory at once, all listeners
  int body_budget_wait_s = 10;  // a body waits at most this long for that budget, then 503
  size_t max_unix_connections = 128;
  size_t max_tcp_connections = 512;
  size_t max_preauth_connections = 256;  // TCP connections whose request has not passed the gate
  size_t max_preauth_per_peer = 64;      // ... of them from one address (IPv6: one /64)
  size_t max_requests_per_key = 64;      // TCP requests in flight per API key (keyless: per peer)
  int tls_handshake_timeout_s = 10;  // a TLS client must finish its handshake within this
};

// An Error naming the option when the options contradict each other (a body limit above the
// budget for bodies in memory, a pre-auth pool larger than the pool, a zero timeout).
Result<void> ValidateServerOptions(const ServerOptions& options);

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
  // Before Run(): routes E2B envd and port traffic (api/gateway.h); outlives the server.
  void SetGateway(Gateway* gateway);
  // Serves until Stop(); then waits for open connections to finish their current request.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int tcp_port_ = 0;
};

}  // namespace sbx::api
