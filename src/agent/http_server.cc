// Beast-based HTTP/1.1 connection handling for sbx-agent.
#include "agent/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <limits>
#include <thread>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "agent/port_tunnel.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace sbx::agent {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

// A blocking SyncReadStream/SyncWriteStream over a socket fd with poll() timeouts.
class FdStream {
 public:
  FdStream(int fd, int io_timeout_ms) : fd_(fd), read_timeout_ms_(io_timeout_ms),
                                        write_timeout_ms_(io_timeout_ms) {}
  void set_read_timeout(int ms) { read_timeout_ms_ = ms; }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, error_code& ec) {
    ec = {};
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      if (!Wait(POLLIN, read_timeout_ms_, ec)) return 0;
      while (true) {
        ssize_t n = recv(fd_, b.data(), b.size(), 0);
        if (n > 0) return static_cast<size_t>(n);
        if (n == 0) {
          ec = net::error::eof;
          return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          if (!Wait(POLLIN, read_timeout_ms_, ec)) return 0;
          continue;
        }
        ec = error_code(errno, boost::system::system_category());
        return 0;
      }
    }
    return 0;
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, error_code& ec) {
    ec = {};
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      net::const_buffer b = *it;
      if (b.size() == 0) continue;
      while (true) {
        ssize_t n = send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          if (!Wait(POLLOUT, write_timeout_ms_, ec)) return 0;
          continue;
        }
        ec = error_code(errno, boost::system::system_category());
        return 0;
      }
    }
    return 0;
  }
  template <class ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    error_code ec;
    size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  bool PeerClosed() const {
    pollfd p{fd_, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

 private:
  bool Wait(short events, int timeout_ms, error_code& ec) {
    pollfd p{fd_, events, 0};
    while (true) {
      int r = poll(&p, 1, timeout_ms);
      if (r > 0) return true;
      if (r == 0) {
        ec = net::error::timed_out;
        return false;
      }
      if (errno != EINTR) {
        ec = error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }

  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
};

using Parser = http::request_parser<http::buffer_body>;

class BeastBodyReader : public BodyReader {
 public:
  BeastBodyReader(FdStream& s, boost::beast::flat_buffer& buf, Parser& p)
      : s_(s), buf_(buf), p_(p) {}
  Result<size_t> Read(char* out, size_t n) override {
    while (!p_.is_done()) {
      p_.get().body().data = out;
      p_.get().body().size = n;
      error_code ec;
      http::read_some(s_, buf_, p_, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        return MakeError(ErrorCode::kInvalidArgument, "reading request body: " + ec.message());
      }
      const size_t got = n - p_.get().body().size;
      if (got > 0) return got;
    }
    return size_t{0};
  }

 private:
  FdStream& s_;
  boost::beast::flat_buffer& buf_;
  Parser& p_;
};

class BeastResponseWriter : public ResponseWriter {
 public:
  BeastResponseWriter(FdStream& s, unsigned version, bool keep_alive, bool head)
      : s_(s), version_(version), keep_alive_(keep_alive), head_(head) {}

  Result<void> Send(int status, const HeaderList& headers, std::string_view body) override {
    if (started_) return MakeError(ErrorCode::kInternal, "response already started");
    started_ = true;
    http::response<http::string_body> res{static_cast<http::status>(status), version_};
    for (const auto& [k, v] : headers) res.set(k, v);
    res.keep_alive(keep_alive_);
    if (status != 204 && status != 304) {
      res.body() = std::string(body);
      res.prepare_payload();
    }
    error_code ec;
    if (head_) {
      http::response_serializer<http::string_body> sr{res};
      http::write_header(s_, sr, ec);
    } else {
      http::write(s_, res, ec);
    }
    if (ec) return Fail(ec);
    complete_ = true;
    return Ok();
  }

  Result<void> BeginChunked(int status, const HeaderList& headers) override {
    return Begin(status, headers, std::nullopt);
  }
  Result<void> BeginFixed(int status, const HeaderList& headers, uint64_t length) override {
    return Begin(status, headers, length);
  }

  Result<void> Write(std::string_view data) override {
    if (!started_ || complete_ || failed_) {
      return MakeError(ErrorCode::kInternal, "write outside a streamed response");
    }
    if (data.empty() || head_) return Ok();
    error_code ec;
    if (fixed_) {
      if (data.size() > remaining_) return MakeError(ErrorCode::kInternal, "body overruns length");
      net::write(s_, net::const_buffer(data.data(), data.size()), ec);
      remaining_ -= data.size();
    } else {
      net::write(s_, http::make_chunk(net::const_buffer(data.data(), data.size())), ec);
    }
    if (ec) return Fail(ec);
    return Ok();
  }

  Result<void> End() override {
    if (!started_ || complete_ || failed_) return MakeError(ErrorCode::kInternal, "bad End");
    if (fixed_) {
      if (remaining_ != 0) return MakeError(ErrorCode::kInternal, "body shorter than length");
    } else if (!head_) {
      error_code ec;
      net::write(s_, http::make_chunk_last(), ec);
      if (ec) return Fail(ec);
    }
    complete_ = true;
    return Ok();
  }

  bool PeerClosed() override { return failed_ || s_.PeerClosed(); }
  bool started() const override { return started_; }
  bool complete() const { return complete_; }

 private:
  Result<void> Begin(int status, const HeaderList& headers, std::optional<uint64_t> length) {
    if (started_) return MakeError(ErrorCode::kInternal, "response already started");
    started_ = true;
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    for (const auto& [k, v] : headers) res.set(k, v);
    res.keep_alive(keep_alive_);
    if (length) {
      res.content_length(*length);
      fixed_ = true;
      remaining_ = *length;
    } else {
      res.chunked(true);
    }
    http::response_serializer<http::empty_body> sr{res};
    error_code ec;
    http::write_header(s_, sr, ec);
    if (ec) return Fail(ec);
    return Ok();
  }
  Result<void> Fail(const error_code& ec) {
    failed_ = true;
    return MakeError(ErrorCode::kUnavailable, "writing response: " + ec.message());
  }

  FdStream& s_;
  unsigned version_;
  bool keep_alive_;
  bool head_;
  bool started_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool fixed_ = false;
  uint64_t remaining_ = 0;
};

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 && HexVal(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2])));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

HttpRequest ToRequest(const http::request<http::buffer_body>& r) {
  HttpRequest req;
  req.method = std::string(r.method_string());
  std::string_view target(r.target().data(), r.target().size());
  size_t q = target.find('?');
  req.path = PercentDecode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    std::string_view qs = target.substr(q + 1);
    while (!qs.empty()) {
      size_t amp = qs.find('&');
      std::string_view item = qs.substr(0, amp);
      qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
      if (item.empty()) continue;
      size_t eq = item.find('=');
      std::string key = PercentDecode(item.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? "" : PercentDecode(item.substr(eq + 1), true);
      req.query.emplace(std::move(key), std::move(value));  // first occurrence wins
    }
  }
  for (const auto& field : r) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  return req;
}

void ServeConnection(UniqueFd fd, Router& router, const ServerLimits& limits) {
  FdStream stream(fd.get(), limits.io_timeout_ms);
  boost::beast::flat_buffer buffer;
  while (true) {
    Parser parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // handlers bound what they keep
    parser.header_limit(64 * 1024);
    stream.set_read_timeout(limits.idle_timeout_ms);
    error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != net::error::eof &&
          ec != net::error::timed_out && ec != net::error::connection_reset) {
        // Malformed request line or headers: answer once, then close.
        log::Info("bad_request", {{"error", ec.message()}});
        std::string_view msg = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                               "Content-Length: 47\r\nConnection: close\r\n\r\n"
                               "{\"code\":400,\"message\":\"malformed HTTP request\"}";
        net::write(stream, net::const_buffer(msg.data(), msg.size()), ec);
      }
      return;
    }
    stream.set_read_timeout(limits.io_timeout_ms);
    auto& msg = parser.get();
    if (msg.method() == http::verb::connect) {
      // A port tunnel: the connection becomes a raw byte pipe (or gets an error and closes).
      // Bytes the client sent right behind the header are already in `buffer`.
      BeastResponseWriter writer(stream, msg.version(), /*keep_alive=*/false, /*head=*/false);
      const auto pending = buffer.data();
      HandleConnect(fd.get(), std::string_view(msg.target().data(), msg.target().size()),
                    std::string_view(static_cast<const char*>(pending.data()), pending.size()),
                    writer);
      return;
    }
    if (boost::beast::iequals(msg[http::field::expect], "100-continue")) {
      std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      net::write(stream, net::const_buffer(cont.data(), cont.size()), ec);
      if (ec) return;
    }
    HttpRequest req = ToRequest(msg);
    BeastBodyReader body(stream, buffer, parser);
    BeastResponseWriter writer(stream, msg.version(), msg.keep_alive(),
                               msg.method() == http::verb::head);
    router.Route(req, body, writer);
    if (!writer.complete()) return;  // a failed or aborted response: the framing is lost
    // Skip an unread body (bounded) so the next request parses.
    char sink[16 * 1024];
    size_t skipped = 0;
    while (!parser.is_done()) {
      auto n = body.Read(sink, sizeof sink);
      if (!n.ok() || n.value() == 0 || (skipped += n.value()) > (1u << 20)) return;
    }
    if (!msg.keep_alive()) return;
  }
}

}  // namespace

Result<void> Serve(int listen_fd, Router& router, ServerLimits limits) {
  static std::atomic<int> active{0};
  while (true) {
    int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Someone made the listening socket non-blocking (it is shared with nobody, but the
        // agent must not depend on that): wait for a connection instead of giving up.
        pollfd p{listen_fd, POLLIN, 0};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR) return SysError("poll the listening socket");
        continue;
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log::Warn("accept_backoff", {{"errno", errno}});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return SysError("accept on fd " + std::to_string(listen_fd));
    }
    UniqueFd conn(c);
    if (active.load() >= limits.max_connections) {
      log::Warn("connection_refused", {{"reason", "too many connections"}});
      continue;
    }
    try {
      active.fetch_add(1);
      std::thread([fd = std::move(conn), &router, limits]() mutable {
        ServeConnection(std::move(fd), router, limits);
        active.fetch_sub(1);
      }).detach();
    } catch (const std::exception& e) {
      active.fetch_sub(1);
      log::Error("thread_create_failed", {{"what", e.what()}});
    }
  }
}

}  // namespace sbx::agent
