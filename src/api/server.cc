#include "api/server.h"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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
  std::set<int> open_fds;  // native handles of open connections, to shut down on Stop
  size_t active = 0;

  RequestObserver observer;

  std::optional<TlsFiles> tls_files;  // set once by ListenTcp
  std::mutex tls_mu;
  std::shared_ptr<ssl::context> tls_ctx;  // guarded by tls_mu; replaced by ReloadTls

  // The request loop of every connection, whatever the stream (TimedSocket or TLS over it).
  template <typename Stream>
  void ServeRequests(Stream& stream, bool admin, const char* transport);
  // Sends a streamed response (chunked); false when the connection must close.
  template <typename Stream>
  bool WriteStreamed(Stream& stream, const Request& req, const Response& resp);
  void ServeConnection(asio::local::stream_protocol::socket socket);
  void ServeConnection(tcp::socket socket);
  void ServeTls(TimedSocket<tcp::socket> timed, const std::shared_ptr<ssl::context>& ctx);
  template <typename Acceptor>
  void AcceptLoop(Acceptor& acceptor);
  int io_timeout_ms() const { return options.idle_timeout_s * 1000; }
};

namespace {

http::response<http::string_body> ToMessage(Response&& resp, const std::string& request_id,
                                             bool keep_alive) {
  http::response<http::string_body> out;
  out.version(11);
  out.result(static_cast<unsigned>(resp.status));
  out.set(http::field::server, "sandboxd");
  out.set(http::field::content_type, resp.content_type);
  out.set("X-Request-Id", request_id);
  for (const auto& [k, v] : resp.headers) out.set(k, v);
  out.keep_alive(keep_alive);
  out.body() = std::move(resp.body);
  out.prepare_payload();
  return out;
}

// A failure of the connection itself (timeout, reset, TLS alert), not of the request's
// syntax: there is nobody to answer.
bool IsTransportError(const beast::error_code& ec) {
  return ec.category() != http::make_error_code(http::error::end_of_stream).category();
}

std::string PeerOf(tcp::socket& socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}

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
  auto msg = ToMessage(ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
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

// The timed socket under a stream (itself, or the transport of a TLS stream).
template <typename S>
TimedSocket<S>& TimedLayer(TimedSocket<S>& s) {
  return s;
}
template <typename S>
TimedSocket<S>& TimedLayer(ssl::stream<TimedSocket<S>>& s) {
  return s.next_layer();
}

// After an answer to a request whose body was not read (413): reads and drops the rest of what
// the client sends (bounded in bytes and time) before the connection closes. A client that
// writes the whole body before reading (Python's http.client, the E2B SDKs) would otherwise see
// the close as a reset and lose the 413.
template <typename Stream>
void DrainUnreadBody(Stream& stream, size_t max_bytes) {
  auto& timed = TimedLayer(stream);
  timed.SetDeadline(MonotonicNs() + 30'000'000'000LL);
  beast::error_code ec;
  char buf[64 << 10];
  for (size_t total = 0; total < max_bytes;) {
    size_t n = stream.read_some(asio::buffer(buf), ec);
    if (ec) break;
    total += n;
  }
  timed.SetDeadline(0);
}

}  // namespace

template <typename Stream>
void Server::Impl::ServeRequests(Stream& stream, bool admin, const char* transport) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(64 << 10);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated ||
        stopping)
      break;
    if (ec && ec != http::error::body_limit && IsTransportError(ec)) {
      // An idle keep-alive connection timing out, or a peer gone or misbehaving midway.
      log::Debug("http.connection_closed", {{"transport", transport}, {"reason", ec.message()}});
      break;
    }
    Request req;
    req.request_id = "req_" + RandomHex(6);
    req.admin = admin;
    Response resp;
    bool keep_alive = false;
    int64_t t0 = MonotonicNs();
    if (ec == http::error::body_limit) {
      if (parser.is_header_done()) {
        req.method = std::string(parser.get().method_string());
        std::string target(parser.get().target());
        (void)PercentDecode(target.substr(0, target.find('?')), &req.path);
      }
      resp = JsonResponse(413, {{"success", false},
                                {"error", {{"code", "resource_exhausted"},
                                           {"message", "request body exceeds " +
                                                           std::to_string(options.max_body_bytes) +
                                                           " bytes"}}}});
    } else if (ec) {
      resp = ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "bad HTTP request: " + ec.message()));
    } else {
      auto& msg = parser.get();
      keep_alive = msg.keep_alive();
      req.method = std::string(msg.method_string());
      std::string target(msg.target());
      size_t q = target.find('?');
      std::string raw_path = target.substr(0, q);
      bool ok = PercentDecode(raw_path, &req.path);
      if (ok && q != std::string::npos) ok = ParseQuery(target.substr(q + 1), &req.query);
      for (const auto& field : msg) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(field.value());
      }
      req.body = std::move(msg.body());
      if (!ok)
        resp = ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "malformed percent-encoding in the URL"));
      else
        resp = router->Handle(req);
    }
    auto log_request = [&] {
      double ms = static_cast<double>(MonotonicNs() - t0) / 1e6;
      log::Info("http.request", {{"request_id", req.request_id}, {"method", req.method},
                                 {"path", req.path}, {"status", resp.status}, {"ms", ms},
                                 {"transport", transport}});
      if (observer) observer(req, resp.status, ms / 1000.0);
    };
    if (resp.stream) {
      if (!WriteStreamed(stream, req, resp)) break;
      log_request();
      if (!keep_alive || stopping) break;
      continue;
    }
    auto out = ToMessage(std::move(resp), req.request_id, keep_alive && !stopping);  // keeps status
    log_request();
    beast::error_code wec;
    http::write(stream, out, wec);
    if (!wec && ec == http::error::body_limit) {
      // Up to what the client announced (bounded), within the drain's 30 s.
      auto announced = parser.content_length_remaining();
      DrainUnreadBody(stream, std::min<uint64_t>(announced ? *announced : options.max_body_bytes,
                                                 uint64_t{1} << 30));
    }
    if (wec || !out.keep_alive()) break;
  }
}

template <typename Stream>
bool Server::Impl::WriteStreamed(Stream& stream, const Request& req, const Response& resp) {
  http::response<http::empty_body> head;
  head.version(11);
  head.result(static_cast<unsigned>(resp.status));
  head.set(http::field::server, "sandboxd");
  head.set(http::field::content_type, resp.content_type);
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Request-Id", req.request_id);
  for (const auto& [k, v] : resp.headers) head.set(k, v);
  const bool fixed = resp.content_length.has_value();
  if (fixed) {
    head.content_length(*resp.content_length);
  } else {
    head.chunked(true);
  }
  http::response_serializer<http::empty_body> sr{head};
  beast::error_code ec;
  http::write_header(stream, sr, ec);
  if (ec) return false;
  bool alive = true;
  uint64_t left = resp.content_length.value_or(0);
  resp.stream([&](std::string_view chunk) {
    if (!alive || chunk.empty()) return alive;
    beast::error_code wec;
    if (fixed) {
      if (chunk.size() > left) return alive = false;  // more than announced: never sent
      asio::write(stream, asio::const_buffer(chunk.data(), chunk.size()), wec);
      left -= chunk.size();
    } else {
      asio::write(stream, http::make_chunk(asio::const_buffer(chunk.data(), chunk.size())), wec);
    }
    if (wec) alive = false;
    return alive;
  });
  if (!alive) return false;
  http::fields trailer;
  if (resp.finish) {
    auto fields = resp.finish();
    if (!fields.ok()) {
      log::Warn("http.stream_incomplete", {{"request_id", req.request_id},
                                           {"error", fields.error().ToString()}});
      return false;
    }
    for (const auto& [k, v] : *fields) trailer.set(k, v);
  }
  if (fixed) return left == 0;
  asio::write(stream, http::make_chunk_last(trailer), ec);
  return !ec;
}

void Server::Impl::ServeConnection(asio::local::stream_protocol::socket socket) {
  TimedSocket<asio::local::stream_protocol::socket> timed(std::move(socket), io_timeout_ms());
  ServeRequests(timed, /*admin=*/true, "unix");
  beast::error_code ignored;
  timed.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
}

void Server::Impl::ServeConnection(tcp::socket socket) {
  std::shared_ptr<ssl::context> ctx;
  {
    std::lock_guard<std::mutex> lock(tls_mu);
    ctx = tls_ctx;
  }
  TimedSocket<tcp::socket> timed(std::move(socket), io_timeout_ms());
  if (ctx) return ServeTls(std::move(timed), ctx);
  ServeRequests(timed, /*admin=*/false, "tcp");
  beast::error_code ignored;
  timed.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
}

// `ctx` is held for the connection's life: a reload must not free it under an open session.
void Server::Impl::ServeTls(TimedSocket<tcp::socket> timed, const std::shared_ptr<ssl::context>& ctx) {
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
  ssl::stream<TimedSocket<tcp::socket>> stream(std::move(timed), *ctx);
  stream.handshake(ssl::stream_base::server, ec);
  if (ec) {
    log::Info("http.tls_handshake_failed", {{"peer", peer}, {"error", ec.message()}});
    return;  // the socket closes; no close_notify on a session that never started
  }
  stream.next_layer().SetDeadline(0);
  ServeRequests(stream, /*admin=*/false, "tls");
  // close_notify, without waiting for the peer's (RFC 8446 6.1 allows closing the
  // connection once it is sent): marking the peer's as received makes SSL_shutdown complete
  // after writing ours. The deadline bounds a peer that does not read.
  SSL_set_shutdown(stream.native_handle(),
                   SSL_get_shutdown(stream.native_handle()) | SSL_RECEIVED_SHUTDOWN);
  stream.next_layer().SetDeadline(MonotonicNs() + 2'000'000'000LL);
  stream.shutdown(ec);
  stream.lowest_layer().shutdown(asio::socket_base::shutdown_both, ec);
}

template <typename Acceptor>
void Server::Impl::AcceptLoop(Acceptor& acceptor) {
  while (!stopping) {
    beast::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec) {
      if (stopping) break;
      log::Warn("http.accept_failed", {{"error", ec.message()}});
      if (ec == asio::error::no_descriptors) ::usleep(100000);
      continue;
    }
    std::unique_lock<std::mutex> lock(mu);
    if (active >= options.max_connections) {
      lock.unlock();
      log::Warn("http.too_many_connections", {{"max", static_cast<int64_t>(options.max_connections)}});
      continue;  // closes the socket
    }
    ++active;
    int fd = socket.native_handle();
    open_fds.insert(fd);
    lock.unlock();
    std::thread([this, s = std::move(socket), fd]() mutable {
      ServeConnection(std::move(s));
      std::lock_guard<std::mutex> g(mu);
      open_fds.erase(fd);
      --active;
      cv.notify_all();
    }).detach();
  }
}

Server::Server(Router* router, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->options = options;
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

void Server::Run() {
  std::vector<std::thread> loops;
  if (impl_->unix_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->unix_acceptor); });
  if (impl_->tcp_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->tcp_acceptor); });
  for (auto& t : loops) t.join();
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, std::chrono::seconds(30), [this] { return impl_->active == 0; });
}

void Server::Stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->unix_acceptor) ::shutdown(impl_->unix_acceptor->native_handle(), SHUT_RDWR);
  if (impl_->tcp_acceptor) ::shutdown(impl_->tcp_acceptor->native_handle(), SHUT_RDWR);
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RD);
  if (!impl_->unix_path.empty()) ::unlink(impl_->unix_path.c_str());
}

}  // namespace sbx::api
