// AgentClient: synchronous Beast HTTP/1.1 over asio::local::stream_protocol, one connection
// per call, every socket wait bounded by io_timeout_ms (poll before each read and write).
#include "agentclient/agent_client.h"
#include "agentclient/rest_error.h"

#include <poll.h>

#include <cstdio>
#include <limits>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "protocol/base64.h"
#include "protocol/connect_error.h"
#include "protocol/envelope.h"
#include "protocol/json_fields.h"

namespace sbx::agentclient {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using local = net::local::stream_protocol;

// One read of an answer's body, and the most the connection buffer holds (the header, then
// body bytes on their way to the caller's buffer).
constexpr size_t kReadChunk = 64u << 10;
constexpr size_t kMaxConnectionBuffer = 64u << 10;

// A local socket whose reads and writes wait at most timeout_ms for readiness.
class TimedSocket {
 public:
  TimedSocket(net::io_context& ctx, int timeout_ms) : sock_(ctx), timeout_ms_(timeout_ms) {}

  Result<void> Connect(const std::string& path) {
    error_code ec;
    sock_.open(local(), ec);
    if (!ec) sock_.non_blocking(true, ec);
    if (!ec) sock_.connect(local::endpoint(path), ec);
    if (ec == net::error::would_block || ec == net::error::in_progress ||
        ec == net::error::try_again) {
      ec = {};
      if (!Wait(POLLOUT, ec)) return Unavailable("connect " + path, ec);
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(sock_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) ec = error_code(err, boost::system::system_category());
    }
    if (ec) return Unavailable("connect " + path, ec);
    return Ok();
  }

  template <class Buffers>
  size_t read_some(const Buffers& b, error_code& ec) {
    while (true) {
      size_t n = sock_.read_some(b, ec);
      if (ec != net::error::would_block && ec != net::error::try_again) return n;
      ec = {};
      if (!Wait(POLLIN, ec)) return 0;
    }
  }
  template <class Buffers>
  size_t read_some(const Buffers& b) {
    error_code ec;
    size_t n = read_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& b, error_code& ec) {
    while (true) {
      size_t n = sock_.write_some(b, ec);
      if (ec != net::error::would_block && ec != net::error::try_again) return n;
      ec = {};
      if (!Wait(POLLOUT, ec)) return 0;
    }
  }
  template <class Buffers>
  size_t write_some(const Buffers& b) {
    error_code ec;
    size_t n = write_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  static Error Unavailable(const std::string& what, const error_code& ec) {
    return MakeError(ec == net::error::timed_out ? ErrorCode::kDeadlineExceeded
                                                 : ErrorCode::kUnavailable,
                     "agent: " + what + ": " + ec.message());
  }

 private:
  bool Wait(short events, error_code& ec) {
    pollfd p{sock_.native_handle(), events, 0};
    while (true) {
      int r = poll(&p, 1, timeout_ms_);
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

  local::socket sock_;
  int timeout_ms_;
};

std::string PercentEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string BasicAuth(const std::string& user) {
  return "Basic " + protocol::Base64Encode(user + ":");
}

// One request/response exchange on a fresh connection. The response body is read in pieces
// into the caller's buffer (so streams are handled as they arrive); the exchange itself
// buffers at most kMaxConnectionBuffer bytes.
class Exchange {
 public:
  Exchange(const std::string& path, int64_t timeout_ms)
      : path_(path),
        sock_(ctx_, static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX))),
        buf_(kMaxConnectionBuffer) {}

  // Sends req and reads the answer's header. `body_limit`: the largest body the parser
  // accepts (an announced Content-Length above it fails here, before any body is read).
  Result<unsigned> Send(http::request<http::string_body>& req, uint64_t body_limit) {
    RETURN_IF_ERROR(sock_.Connect(path_));
    req.set(http::field::host, "agent");
    req.keep_alive(false);
    req.prepare_payload();
    error_code ec;
    http::write(sock_, req, ec);
    if (ec) return TimedSocket::Unavailable("write request", ec);
    parser_.body_limit(body_limit);
    http::read_header(sock_, buf_, parser_, ec);
    if (ec == http::error::body_limit) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "agent: answer of " + std::to_string(ContentLength().value_or(0)) +
                           " bytes, over the limit of " + std::to_string(body_limit));
    }
    if (ec) return TimedSocket::Unavailable("read response header", ec);
    return parser_.get().result_int();
  }

  std::string Header(http::field f) { return std::string(parser_.get()[f]); }
  // The announced Content-Length (nullopt for a chunked answer).
  std::optional<uint64_t> ContentLength() const {
    auto n = parser_.content_length();
    if (!n || parser_.chunked()) return std::nullopt;
    return *n;
  }

  // Reads the next piece of body into out (at most cap bytes); 0 at the end.
  Result<size_t> ReadSome(char* out, size_t cap) {
    while (!parser_.is_done()) {
      parser_.get().body().data = out;
      parser_.get().body().size = cap;
      error_code ec;
      http::read_some(sock_, buf_, parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::body_limit) {
        return MakeError(ErrorCode::kResourceExhausted, "agent: answer over the body limit");
      }
      if (ec) return TimedSocket::Unavailable("read response body", ec);
      const size_t n = cap - parser_.get().body().size;
      if (n > 0) return n;
    }
    return size_t{0};
  }

  Result<std::string> ReadAll(size_t limit) {
    std::string out;
    char tmp[kReadChunk];
    while (true) {
      ASSIGN_OR_RETURN(size_t n, ReadSome(tmp, sizeof tmp));
      if (n == 0) return out;
      if (out.size() + n > limit) {
        return MakeError(ErrorCode::kResourceExhausted,
                         "agent: answer over the limit of " + std::to_string(limit) + " bytes");
      }
      out.append(tmp, n);
    }
  }

 private:
  std::string path_;
  net::io_context ctx_;
  TimedSocket sock_;
  boost::beast::flat_buffer buf_;
  http::response_parser<http::buffer_body> parser_;
};

http::request<http::string_body> MakeRequest(http::verb verb, const std::string& target) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::user_agent, "sandboxd-agentclient");
  return req;
}

// Turns exceptions (allocation failures, Beast internals) into errors at the boundary.
template <class F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("agent client: ") + e.what());
  }
}

}  // namespace

// Error for a /files (REST) response: {"code":<int>,"message"} or any body.
Error RestError(unsigned status, const std::string& body) {
  ErrorCode code = ErrorCode::kInternal;
  switch (status) {
    case 400: code = ErrorCode::kInvalidArgument; break;
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 403: code = ErrorCode::kPermissionDenied; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kAlreadyExists; break;
    case 413:
    case 507: code = ErrorCode::kResourceExhausted; break;
    case 502:
    case 503: code = ErrorCode::kUnavailable; break;
    default: break;
  }
  std::string message = body;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string()) {
    message = j["message"].get<std::string>();
  }
  return MakeError(code, "agent: HTTP " + std::to_string(status) + ": " + message);
}


AgentClient::AgentClient(std::string socket_path, int64_t io_timeout_ms)
    : socket_path_(std::move(socket_path)), io_timeout_ms_(io_timeout_ms) {}

Result<ProcessEnd> AgentClient::Run(const StartOptions& o, const RunCallbacks& cb) const {
  return Guard([&]() -> Result<ProcessEnd> {
    if (o.argv.empty() || o.argv[0].empty()) {
      return MakeError(ErrorCode::kInvalidArgument, "Run: argv is empty");
    }
    nlohmann::json process = {{"cmd", o.argv[0]},
                              {"args", std::vector<std::string>(o.argv.begin() + 1,
                                                                o.argv.end())},
                              {"envs", o.envs}};
    if (!o.cwd.empty()) process["cwd"] = o.cwd;
    nlohmann::json body = {{"process", process}, {"stdin", o.stdin_open}};
    if (!o.tag.empty()) body["tag"] = o.tag;
    auto req = MakeRequest(http::verb::post, "/process.Process/Start");
    req.set(http::field::content_type, "application/connect+json");
    req.set("Connect-Protocol-Version", "1");
    req.set(http::field::authorization, BasicAuth(o.user));
    if (o.timeout_ms > 0) req.set("Connect-Timeout-Ms", std::to_string(o.timeout_ms));
    // Keepalives keep an idle stream inside the io timeout.
    req.set("Keepalive-Ping-Interval",
            std::to_string(std::max<int64_t>(1, io_timeout_ms_ / 3000)));
    req.body() = protocol::EncodeData(protocol::DumpJson(body));
    Exchange ex(socket_path_, io_timeout_ms_);
    // A stream has no length; its frames are bounded one by one (the decoder's 16 MiB).
    ASSIGN_OR_RETURN(unsigned status, ex.Send(req, std::numeric_limits<uint64_t>::max()));
    if (status != 200) {
      ASSIGN_OR_RETURN(std::string err, ex.ReadAll(kMaxErrorBody));
      return protocol::ToError(protocol::ParseErrorBody(static_cast<int>(status), err));
    }
    protocol::EnvelopeDecoder decoder;
    std::optional<ProcessEnd> end;
    std::vector<char> buf(kReadChunk);
    while (true) {
      ASSIGN_OR_RETURN(size_t got, ex.ReadSome(buf.data(), buf.size()));
      if (got == 0) {
        return MakeError(ErrorCode::kUnavailable, "agent: stream ended without end-of-stream");
      }
      std::vector<protocol::Envelope> frames;
      auto fed = decoder.Feed(std::string_view(buf.data(), got), &frames);
      for (auto& f : frames) {
        if (f.end_stream()) {
          protocol::ConnectError ce;
          if (protocol::ParseEndStream(f.payload, &ce)) return protocol::ToError(ce);
          if (!end) return MakeError(ErrorCode::kInternal, "agent: stream ended without end");
          return *end;
        }
        auto j = nlohmann::json::parse(f.payload, nullptr, false);
        const nlohmann::json* ev = j.is_object() ? protocol::FindField(j, "event") : nullptr;
        if (ev == nullptr || !ev->is_object()) {
          return MakeError(ErrorCode::kInternal, "agent: malformed process event");
        }
        if (const auto* s = protocol::FindField(*ev, "start")) {
          auto pid = protocol::OptUint(*s, "pid", UINT32_MAX);
          if (pid.ok() && pid.value() && cb.on_start) {
            cb.on_start(static_cast<uint32_t>(*pid.value()));
          }
        } else if (const auto* d = protocol::FindField(*ev, "data")) {
          for (const char* key : {"stdout", "stderr", "pty"}) {
            auto v = protocol::OptString(*d, key);
            if (!v.ok() || !v.value()) continue;
            ASSIGN_OR_RETURN(std::string bytes, protocol::Base64Decode(*v.value()));
            if (std::string_view(key) == "stderr") {
              if (cb.on_stderr) cb.on_stderr(bytes);
            } else if (cb.on_stdout) {
              cb.on_stdout(bytes);
            }
          }
        } else if (const auto* e = protocol::FindField(*ev, "end")) {
          ProcessEnd pe;
          const auto* code = protocol::FindField(*e, "exitCode", "exit_code");
          pe.exit_code = code && code->is_number_integer() ? code->get<int>() : 0;
          auto exited = protocol::OptBool(*e, "exited");
          pe.exited = exited.ok() && exited.value().value_or(false);
          auto st = protocol::OptString(*e, "status");
          if (st.ok() && st.value()) pe.status = *st.value();
          auto er = protocol::OptString(*e, "error");
          if (er.ok() && er.value()) pe.error = *er.value();
          end = pe;
        }
      }
      if (!fed.ok()) return fed.error();
    }
  });
}

Result<nlohmann::json> AgentClient::CallUnary(const std::string& service_method,
                                              const nlohmann::json& body,
                                              const std::string& user) const {
  return Guard([&]() -> Result<nlohmann::json> {
    auto req = MakeRequest(http::verb::post, "/" + service_method);
    req.set(http::field::content_type, "application/json");
    req.set("Connect-Protocol-Version", "1");
    req.set(http::field::authorization, BasicAuth(user));
    req.body() = protocol::DumpJson(body);
    Exchange ex(socket_path_, io_timeout_ms_);
    ASSIGN_OR_RETURN(unsigned status, ex.Send(req, kMaxUnaryResponse));
    ASSIGN_OR_RETURN(std::string text, ex.ReadAll(kMaxUnaryResponse));
    if (status != 200) {
      return protocol::ToError(protocol::ParseErrorBody(static_cast<int>(status), text));
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return MakeError(ErrorCode::kInternal, "agent: malformed JSON reply");
    return j;
  });
}

Result<void> AgentClient::SendSignal(uint32_t pid, int sig) const {
  if (sig != 9 && sig != 15) {
    return MakeError(ErrorCode::kInvalidArgument, "SendSignal: only 9 and 15 are supported");
  }
  nlohmann::json body = {{"process", {{"pid", pid}}},
                         {"signal", sig == 9 ? "SIGNAL_SIGKILL" : "SIGNAL_SIGTERM"}};
  auto r = CallUnary("process.Process/SendSignal", body, "root");
  if (!r.ok()) return std::move(r).error();
  return Ok();
}

Result<void> AgentClient::SendInput(uint32_t pid, std::string_view data) const {
  nlohmann::json body = {{"process", {{"pid", pid}}},
                         {"input", {{"stdin", protocol::Base64Encode(data)}}}};
  auto r = CallUnary("process.Process/SendInput", body, "root");
  if (!r.ok()) return std::move(r).error();
  return Ok();
}

Result<void> AgentClient::CloseStdin(uint32_t pid) const {
  nlohmann::json body = {{"process", {{"pid", pid}}}};
  auto r = CallUnary("process.Process/CloseStdin", body, "root");
  if (!r.ok()) return std::move(r).error();
  return Ok();
}

Result<nlohmann::json> AgentClient::List() const {
  return CallUnary("process.Process/List", nlohmann::json::object(), "root");
}

Result<nlohmann::json> AgentClient::WriteFile(const std::string& path, std::string_view data,
                                              const std::string& user,
                                              std::optional<uint32_t> mode) const {
  return Guard([&]() -> Result<nlohmann::json> {
    std::string target = "/files?path=" + PercentEncode(path) + "&username=" + PercentEncode(user);
    if (mode) {
      char octal[16];
      std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(*mode));
      target += std::string("&mode=") + octal;
    }
    auto req = MakeRequest(http::verb::post, target);
    req.set(http::field::content_type, "application/octet-stream");
    req.body() = std::string(data);
    Exchange ex(socket_path_, io_timeout_ms_);
    ASSIGN_OR_RETURN(unsigned status, ex.Send(req, kMaxUnaryResponse));
    ASSIGN_OR_RETURN(std::string text, ex.ReadAll(kMaxUnaryResponse));
    if (status != 200) return RestError(status, text);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_array() || j.empty()) {
      return MakeError(ErrorCode::kInternal, "agent: malformed upload reply");
    }
    return j[0];
  });
}

class FileStream::Impl {
 public:
  Impl(const std::string& socket_path, int64_t timeout_ms) : ex(socket_path, timeout_ms) {}
  Exchange ex;
};

FileStream::FileStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  size_ = impl_->ex.ContentLength().value_or(0);
}
FileStream::~FileStream() = default;

Result<size_t> FileStream::Read(char* buf, size_t cap) {
  return Guard([&]() -> Result<size_t> {
    if (read_ == size_ || cap == 0) return size_t{0};
    // The parser stops at the announced length; anything the agent sends after it is never
    // read.
    ASSIGN_OR_RETURN(size_t n, impl_->ex.ReadSome(buf, static_cast<size_t>(std::min<uint64_t>(
                                                           cap, size_ - read_))));
    if (n == 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "agent: file answer ended after " + std::to_string(read_) + " of " +
                           std::to_string(size_) + " announced bytes");
    }
    read_ += n;
    return n;
  });
}

Result<std::unique_ptr<FileStream>> AgentClient::OpenFile(const std::string& path,
                                                          const std::string& user) const {
  return Guard([&]() -> Result<std::unique_ptr<FileStream>> {
    auto req = MakeRequest(http::verb::get, "/files?path=" + PercentEncode(path) +
                                                "&username=" + PercentEncode(user));
    auto impl = std::make_unique<FileStream::Impl>(socket_path_, io_timeout_ms_);
    ASSIGN_OR_RETURN(unsigned status, impl->ex.Send(req, std::numeric_limits<uint64_t>::max()));
    if (status != 200) {
      ASSIGN_OR_RETURN(std::string text, impl->ex.ReadAll(kMaxErrorBody));
      return RestError(status, text);
    }
    if (!impl->ex.ContentLength()) {
      return MakeError(ErrorCode::kInternal,
                       "agent: GET /files answer without a Content-Length for '" + path + "'");
    }
    if (!impl->ex.Header(http::field::content_encoding).empty()) {
      return MakeError(ErrorCode::kInternal, "agent: GET /files answer encoded though not asked");
    }
    return std::make_unique<FileStream>(std::move(impl));
  });
}

Result<std::string> AgentClient::ReadFile(const std::string& path, const std::string& user,
                                          size_t max_bytes) const {
  ASSIGN_OR_RETURN(std::unique_ptr<FileStream> file, OpenFile(path, user));
  if (file->size() > max_bytes) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "file '" + path + "' has " + std::to_string(file->size()) +
                         " bytes, over the limit of " + std::to_string(max_bytes));
  }
  std::string out(static_cast<size_t>(file->size()), '\0');
  size_t at = 0;
  while (at < out.size()) {
    ASSIGN_OR_RETURN(size_t n, file->Read(out.data() + at, out.size() - at));
    at += n;
  }
  return out;
}

Result<void> AgentClient::Health() const {
  return Guard([&]() -> Result<void> {
    auto req = MakeRequest(http::verb::get, "/health");
    Exchange ex(socket_path_, io_timeout_ms_);
    ASSIGN_OR_RETURN(unsigned status, ex.Send(req, kMaxErrorBody));
    ASSIGN_OR_RETURN(std::string text, ex.ReadAll(kMaxErrorBody));
    if (status != 204) return RestError(status, text);
    return Ok();
  });
}

}  // namespace sbx::agentclient
