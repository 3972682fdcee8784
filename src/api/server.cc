#include "api/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

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

  template <typename Socket>
  void Serve(Socket socket, bool admin);
  // Sends a streamed response (chunked); false when the connection must close.
  template <typename Socket>
  bool WriteStreamed(Socket& socket, const Request& req, const Response& resp);
  template <typename Acceptor>
  void AcceptLoop(Acceptor& acceptor, bool admin);
};

static void SetTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

template <typename Socket>
void Server::Impl::Serve(Socket socket, bool admin) {
  int fd = socket.native_handle();
  SetTimeouts(fd, options.idle_timeout_s);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(64 << 10);
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || stopping)
      break;
    Request req;
    req.request_id = "req_" + RandomHex(6);
    req.admin = admin;
    Response resp;
    bool keep_alive = false;
    int64_t t0 = MonotonicNs();
    if (ec == http::error::body_limit) {
      resp = JsonResponse(413, {{"success", false},
                                {"error", {{"code", "resource_exhausted"},
                                           {"message", "request body exceeds " +
                                                           std::to_string(options.max_body_bytes) +
                                                           " bytes"}}}});
    } else if (ec) {
      if (ec == asio::error::would_block || ec == asio::error::try_again ||
          ec == asio::error::timed_out)
        break;  // idle keep-alive connection
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
                                 {"transport", admin ? "unix" : "tcp"}});
      if (observer) observer(req, resp.status, ms / 1000.0);
    };
    if (resp.stream) {
      if (!WriteStreamed(socket, req, resp)) break;
      log_request();
      if (!keep_alive || stopping) break;
      continue;
    }
    http::response<http::string_body> out;
    out.version(11);
    out.result(static_cast<unsigned>(resp.status));
    out.set(http::field::server, "sandboxd");
    out.set(http::field::content_type, resp.content_type);
    out.set("X-Request-Id", req.request_id);
    for (const auto& [k, v] : resp.headers) out.set(k, v);
    out.keep_alive(keep_alive && !stopping);
    out.body() = std::move(resp.body);
    out.prepare_payload();
    log_request();
    beast::error_code wec;
    http::write(socket, out, wec);
    if (wec || !out.keep_alive()) break;
  }
  beast::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
}


template <typename Socket>
bool Server::Impl::WriteStreamed(Socket& socket, const Request& req, const Response& resp) {
  http::response<http::empty_body> head;
  head.version(11);
  head.result(static_cast<unsigned>(resp.status));
  head.set(http::field::server, "sandboxd");
  head.set(http::field::content_type, resp.content_type);
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Request-Id", req.request_id);
  for (const auto& [k, v] : resp.headers) head.set(k, v);
  head.chunked(true);
  http::response_serializer<http::empty_body> sr{head};
  beast::error_code ec;
  http::write_header(socket, sr, ec);
  if (ec) return false;
  bool alive = true;
  resp.stream([&](std::string_view chunk) {
    if (!alive || chunk.empty()) return alive;
    beast::error_code wec;
    asio::write(socket, http::make_chunk(asio::const_buffer(chunk.data(), chunk.size())), wec);
    if (wec) alive = false;
    return alive;
  });
  if (!alive) return false;
  asio::write(socket, http::make_chunk_last(), ec);
  return !ec;
}

template <typename Acceptor>
void Server::Impl::AcceptLoop(Acceptor& acceptor, bool admin) {
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
    std::thread([this, s = std::move(socket), admin, fd]() mutable {
      Serve(std::move(s), admin);
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

Result<void> Server::ListenTcp(const std::string& host, int port) {
  try {
    auto addr = asio::ip::make_address(host);
    if (!addr.is_loopback())
      log::Warn("http.tcp_not_loopback", {{"host", host},
                                          {"note", "the API is reachable from the network"}});
    impl_->tcp_acceptor = std::make_unique<asio::ip::tcp::acceptor>(
        impl_->io, asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(port)));
    tcp_port_ = impl_->tcp_acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "listen on " + host + ":" + std::to_string(port) + ": " + e.what());
  }
  return Ok();
}

void Server::SetObserver(RequestObserver observer) { impl_->observer = std::move(observer); }

void Server::Run() {
  std::vector<std::thread> loops;
  if (impl_->unix_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->unix_acceptor, true); });
  if (impl_->tcp_acceptor)
    loops.emplace_back([this] { impl_->AcceptLoop(*impl_->tcp_acceptor, false); });
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
