#include "api/server.h"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/gateway.h"
#include "api/request_loop.h"
#include "api/timed_socket.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Server::Impl {
  Router* router;
  ServerOptions options;
  asio::io_context io;
  std::unique_ptr<asio::local::stream_protocol::acceptor> unix_acceptor;
  std::unique_ptr<asio::ip::tcp::acceptor> tcp_acceptor;
  std::string unix_path;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  size_t threads = 0;  // connection threads alive, evicted ones included; guarded by mu

  std::unique_ptr<ConnectionPool> unix_pool;
  std::unique_ptr<ConnectionPool> tcp_pool;
  std::unique_ptr<RequestSlots> slots;
  std::unique_ptr<ByteBudget> budget;
  RequestObserver observer;
  Gateway* gateway = nullptr;

  std::optional<TlsFiles> tls_files;  // set once by ListenTcp
  std::mutex tls_mu;
  std::shared_ptr<ssl::context> tls_ctx;  // guarded by tls_mu; replaced by ReloadTls

  ServerContext Context(bool tcp) {
    ServerContext c;
    c.router = router;
    c.options = &options;
    c.budget = budget.get();
    c.slots = tcp ? slots.get() : nullptr;
    c.stopping = &stopping;
    c.observer = &observer;
    c.gateway = gateway;
    return c;
  }
  void ServeUnix(TimedSocket<asio::local::stream_protocol::socket>& timed, ConnectionInfo& conn);
  void ServeTcp(TimedSocket<tcp::socket>& timed, ConnectionInfo& conn);
  void ServeTls(TimedSocket<tcp::socket>& timed, ConnectionInfo& conn,
                const std::shared_ptr<ssl::context>& ctx);
  template <typename Acceptor>
  void AcceptLoop(Acceptor& acceptor, ConnectionPool& pool);
  int io_timeout_ms() const { return options.idle_timeout_s * 1000; }
};

namespace {

std::string PeerOf(tcp::socket& socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string PeerKeyOf(tcp::socket& socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? std::string("?") : PeerKey(ep.address());
}
std::string PeerKeyOf(asio::local::stream_protocol::socket&) { return "unix"; }

// On a TLS port, the first byte of a TLS client is a record type (0x16 for a handshake); an
// upper-case letter is the start of an HTTP method: someone used http:// for an https:// URL.
bool StartsWithPlainHttp(TimedSocket<tcp::socket>& timed, beast::error_code& ec) {
  if (!timed.Wait(POLLIN, ec)) return false;
  unsigned char c = 0;
  ssize_t n = ::recv(timed.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 1 && c >= 'A' && c <= 'Z';
}

// Answers plain HTTP on the TLS port with a plain 400 that says what to do, as nginx does,
// then closes. The answer carries no data of the API. Before closing, what the client sent is
// read and dropped (at most 64 KiB, 1 s): closing with unread data would reset the connection
// and the client could lose the answer.
void AnswerPlainHttpOnTlsPort(TimedSocket<tcp::socket>& timed, const std::string& peer) {
  std::string request_id = "req_" + RandomHex(6);
  log::Info("http.plain_http_on_tls_port", {{"request_id", request_id}, {"peer", peer}});
  auto msg = request_loop::ToMessage(
      ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                              "this port serves HTTPS only: use an https:// "
                              "URL (and the CA that signed its certificate)")),
      request_id, false);
  beast::error_code ec;
  timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
  http::write(timed, msg, ec);
  timed.lowest_layer().shutdown(tcp::socket::shutdown_send, ec);
  timed.SetDeadline(MonotonicNs() + 1'000'000'000LL);
  char buf[4096];
  for (size_t total = 0; total < (64u << 10);) {
    size_t n = timed.read_some(asio::buffer(buf), ec);
    if (ec) break;
    total += n;
  }
}

// A connection the pool refused (every slot serves a request): one short answer, never waited
// for (the socket's send buffer is empty), then the close.
template <typename Socket>
void RefuseConnection(Socket& socket, const char* transport, size_t max) {
  log::Warn("http.too_many_connections", {{"transport", transport},
                                          {"max", static_cast<int64_t>(max)}});
  auto msg = request_loop::ToMessage(
      ErrorResponse(MakeError(ErrorCode::kUnavailable,
                              "all " + std::to_string(max) + " connections of the " + transport +
                                  " listener are serving requests; retry shortly")),
      "req_" + RandomHex(6), false);
  msg.set("Retry-After", "1");
  std::ostringstream out;
  out << msg;
  std::string bytes = out.str();
  ssize_t ignored = ::send(socket.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
}

}  // namespace

Result<void> ValidateServerOptions(const ServerOptions& o) {
  auto bad = [](const std::string& m) { return MakeError(ErrorCode::kInvalidArgument, m); };
  if (o.body_bytes_in_flight < o.max_body_bytes)
    return bad("--max-body-bytes-in-flight (" + std::to_string(o.body_bytes_in_flight) +
               ") must be at least the largest body a request may send (" +
               std::to_string(o.max_body_bytes) + ", --max-file-size + 1 MiB)");
  if (o.max_keyless_body_bytes > o.max_body_bytes)
    return bad("--max-keyless-body must not exceed the body limit (" +
               std::to_string(o.max_body_bytes) + ")");
  if (o.header_timeout_s <= 0 || o.body_timeout_s <= 0 || o.idle_timeout_s <= 0 ||
      o.body_budget_wait_s < 0)
    return bad("--header-timeout and --body-timeout must be at least 1 second, "
               "--body-budget-wait at least 0");
  if (o.body_min_rate == 0) return bad("--body-min-rate must be at least 1 byte per second");
  if (o.max_unix_connections == 0 || o.max_tcp_connections == 0)
    return bad("--max-unix-connections and --max-tcp-connections must be at least 1");
  if (o.max_preauth_connections == 0 || o.max_preauth_connections > o.max_tcp_connections)
    return bad("--max-preauth-connections must be from 1 to --max-tcp-connections (" +
               std::to_string(o.max_tcp_connections) + ")");
  if (o.max_preauth_per_peer == 0 || o.max_preauth_per_peer > o.max_preauth_connections)
    return bad("--max-preauth-per-peer must be from 1 to --max-preauth-connections (" +
               std::to_string(o.max_preauth_connections) + ")");
  return Ok();
}

void Server::Impl::ServeUnix(TimedSocket<asio::local::stream_protocol::socket>& timed,
                             ConnectionInfo& conn) {
  conn.admin = true;
  conn.transport = "unix";
  conn.ready_ns = MonotonicNs();
  request_loop::ServeRequests(timed, Context(false), conn);
  beast::error_code ignored;
  timed.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
}

void Server::Impl::ServeTcp(TimedSocket<tcp::socket>& timed, ConnectionInfo& conn) {
  std::shared_ptr<ssl::context> ctx;
  {
    std::lock_guard<std::mutex> lock(tls_mu);
    ctx = tls_ctx;
  }
  if (ctx) return ServeTls(timed, conn, ctx);
  conn.transport = "tcp";
  conn.ready_ns = MonotonicNs();
  request_loop::ServeRequests(timed, Context(true), conn);
  beast::error_code ignored;
  timed.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
}

// `ctx` is held for the connection's life: a reload must not free it under an open session.
void Server::Impl::ServeTls(TimedSocket<tcp::socket>& timed, ConnectionInfo& conn,
                            const std::shared_ptr<ssl::context>& ctx) {
  conn.transport = "tls";
  std::string peer = PeerOf(timed.socket());
  beast::error_code ec;
  // The handshake, plain-HTTP sniffing included, must end by this deadline whatever the
  // client trickles: a connection that says nothing holds its thread for seconds, not forever.
  timed.SetDeadline(MonotonicNs() + int64_t{options.tls_handshake_timeout_s} * 1'000'000'000);
  if (StartsWithPlainHttp(timed, ec)) return AnswerPlainHttpOnTlsPort(timed, peer);
  if (ec) {
    log::Info("http.tls_handshake_failed", {{"peer", peer}, {"error", ec.message()}});
    return;
  }
  ssl::stream<TimedSocket<tcp::socket>&> stream(timed, *ctx);
  stream.handshake(ssl::stream_base::server, ec);
  if (ec) {
    log::Info("http.tls_handshake_failed", {{"peer", peer}, {"error", ec.message()}});
    return;  // the socket closes; no close_notify on a session that never started
  }
  timed.SetDeadline(0);
  conn.ready_ns = MonotonicNs();
  request_loop::ServeRequests(stream, Context(true), conn);
  // close_notify, without waiting for the peer's (RFC 8446 6.1 allows closing the
  // connection once it is sent): marking the peer's as received makes SSL_shutdown complete
  // after writing ours. The deadline bounds a peer that does not read.
  SSL_set_shutdown(stream.native_handle(),
                   SSL_get_shutdown(stream.native_handle()) | SSL_RECEIVED_SHUTDOWN);
  timed.SetDeadline(MonotonicNs() + 2'000'000'000LL);
  stream.shutdown(ec);
  stream.lowest_layer().shutdown(asio::socket_base::shutdown_both, ec);
}

template <typename Acceptor>
void Server::Impl::AcceptLoop(Acceptor& acceptor, ConnectionPool& pool) {
  const bool is_unix = &pool == unix_pool.get();
  const char* transport = is_unix ? "unix" : "tcp";
  size_t max = is_unix ? options.max_unix_connections : options.max_tcp_connections;
  while (!stopping) {
    beast::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec) {
      if (stopping) break;
      log::Warn("http.accept_failed", {{"transport", transport}, {"error", ec.message()}});
      if (ec == asio::error::no_descriptors) ::usleep(100000);
      continue;
    }
    // Answers go out in pieces (headers, Connect envelopes, chunks): without TCP_NODELAY,
    // Nagle's algorithm holds a piece back until the client's delayed ACK, about 40 ms, on
    // every kept-alive request (measured: bench/e2b_sdk.sh, docs/benchmarks.md).
    if constexpr (std::is_same_v<std::decay_t<decltype(socket)>, tcp::socket>) {
      beast::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);
    }
    std::string peer = PeerKeyOf(socket);
    ConnectionPool::Opened opened = pool.Open(peer, socket.native_handle(), MonotonicNs());
    if (opened.evicted)
      log::Debug("http.preauth_evicted", {{"transport", transport}, {"peer", peer},
                                          {"count", static_cast<int64_t>(opened.evicted)}});
    if (opened.id == 0) {
      RefuseConnection(socket, transport, max);
      continue;  // closes the socket
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      ++threads;
    }
    std::thread([this, &pool, id = opened.id, peer = std::move(peer),
                 s = std::move(socket)]() mutable {
      {
        // The socket outlives the pool entry: Close() comes before the descriptor closes, so
        // an eviction never shuts down a descriptor number reused by another connection.
        TimedSocket<std::decay_t<decltype(s)>> timed(std::move(s), io_timeout_ms());
        ConnectionInfo conn;
        conn.pool = &pool;
        conn.id = id;
        conn.peer = peer;
        if constexpr (std::is_same_v<std::decay_t<decltype(s)>, tcp::socket>)
          ServeTcp(timed, conn);
        else
          ServeUnix(timed, conn);
        pool.Close(id);
      }
      std::lock_guard<std::mutex> g(mu);
      --threads;
      cv.notify_all();
    }).detach();
  }
}

Server::Server(Router* router, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->options = options;
  impl_->unix_pool = std::make_unique<ConnectionPool>(
      PoolLimits{options.max_unix_connections, options.max_unix_connections, 0});
  impl_->tcp_pool = std::make_unique<ConnectionPool>(PoolLimits{
      options.max_tcp_connections, options.max_preauth_connections, options.max_preauth_per_peer});
  impl_->slots = std::make_unique<RequestSlots>(options.max_requests_per_key);
  impl_->budget = std::make_unique<ByteBudget>(options.body_bytes_in_flight);
}

Server::~Server() { Stop(); }

Result<void> Server::ListenUnix(const std::string& path) {
  try {
    ::unlink(path.c_str());
    mode_t old = ::umask(0177);
    impl_->unix_acceptor = std::make_unique<asio::local::stream_protocol::acceptor>(
        impl_->io, asio::local::stream_protocol::endpoint(path));
    ::umask(old);
    if (::chmod(path.c_str(), 0600) != 0) return SysError("chmod " + path);
    impl_->unix_path = path;
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kUnavailable, "listen on unix socket " + path + ": " + e.what());
  }
  return Ok();
}

Result<void> Server::ListenTcp(const std::string& host, int port, std::optional<TlsFiles> tls,
                               std::shared_ptr<ssl::context> loaded) {
  if (tls) {
    std::shared_ptr<ssl::context> ctx = std::move(loaded);
    if (!ctx) {
      ASSIGN_OR_RETURN(ctx, LoadTlsContext(*tls));
    }
    std::lock_guard<std::mutex> lock(impl_->tls_mu);
    impl_->tls_ctx = std::move(ctx);
    impl_->tls_files = std::move(tls);
  }
  try {
    auto addr = asio::ip::make_address(host);
    if (!addr.is_loopback())
      log::Warn("http.tcp_not_loopback",
                {{"host", host},
                 {"note", impl_->tls_files ? "the API is reachable from the network (TLS)"
                                           : "the API is reachable from the network, unencrypted: "
                                             "give --tls-cert and --tls-key"}});
    impl_->tcp_acceptor = std::make_unique<tcp::acceptor>(
        impl_->io, tcp::endpoint(addr, static_cast<unsigned short>(port)));
    tcp_port_ = impl_->tcp_acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "listen on " + host + ":" + std::to_string(port) + ": " + e.what());
  }
  if (impl_->tls_files)
    log::Info("http.tls_enabled", {{"port", tcp_port_}, {"cert", impl_->tls_files->cert_file},
                                   {"min_version", "TLSv1.2"}});
  return Ok();
}

bool Server::tls() const {
  std::lock_guard<std::mutex> lock(impl_->tls_mu);
  return impl_->tls_ctx != nullptr;
}

Result<void> Server::ReloadTls() {
  if (!impl_->tls_files) return Ok();
  ASSIGN_OR_RETURN(auto ctx, LoadTlsContext(*impl_->tls_files));
  std::lock_guard<std::mutex> lock(impl_->tls_mu);
  impl_->tls_ctx = std::move(ctx);
  log::Info("http.tls_reloaded", {{"cert", impl_->tls_files->cert_file}});
  return Ok();
}

void Server::SetObserver(RequestObserver observer) { impl_->observer = std::move(observer); }

void Server::SetGateway(Gateway* gateway) { impl_->gateway = gateway; }

void Server::Run() {
  std::vector<std::thread> loops;
  if (impl_->unix_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->unix_acceptor, *impl_->unix_pool); });
  if (impl_->tcp_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->tcp_acceptor, *impl_->tcp_pool); });
  for (auto& t : loops) t.join();
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, std::chrono::seconds(30), [this] { return impl_->threads == 0; });
}

void Server::Stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->unix_acceptor) ::shutdown(impl_->unix_acceptor->native_handle(), SHUT_RDWR);
  if (impl_->tcp_acceptor) ::shutdown(impl_->tcp_acceptor->native_handle(), SHUT_RDWR);
  impl_->unix_pool->ShutdownAll();
  impl_->tcp_pool->ShutdownAll();
  if (impl_->gateway) impl_->gateway->CloseRelays();
  if (!impl_->unix_path.empty()) ::unlink(impl_->unix_path.c_str());
}

}  // namespace sbx::api
