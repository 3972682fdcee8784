// OpenPortTunnel: CONNECT through the agent's socket (agent/port_tunnel.h is the other end).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "agentclient/agent_client.h"
#include "agentclient/rest_error.h"

namespace sbx::agentclient {
namespace {

constexpr size_t kMaxTunnelHeader = 16u << 10;
using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  explicit Deadline(int ms) : end_(Clock::now() + std::chrono::milliseconds(ms)) {}
  // Waits for events on fd until the deadline; an Error when it passes or poll fails.
  Result<void> Wait(int fd, short events, const char* what) const {
    pollfd p{fd, events, 0};
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now()).count();
      if (left <= 0) {
        return MakeError(ErrorCode::kDeadlineExceeded, std::string("agent: timed out ") + what);
      }
      int r = poll(&p, 1, static_cast<int>(left));
      if (r > 0) return Ok();
      if (r < 0 && errno != EINTR) return SysError(std::string("agent: poll while ") + what);
    }
  }

 private:
  Clock::time_point end_;
};

Error Unavailable(const std::string& what) {
  return MakeError(ErrorCode::kUnavailable,
                   "agent: " + what + ": " + std::strerror(errno));
}

// Reads exactly n bytes (fewer only at end-of-file) into out.
Result<void> ReadExactly(int fd, size_t n, std::string* out, const Deadline& d) {
  const size_t want = out->size() + n;
  char buf[4096];
  while (out->size() < want) {
    RETURN_IF_ERROR(d.Wait(fd, POLLIN, "reading the tunnel answer"));
    ssize_t r = recv(fd, buf, std::min(sizeof buf, want - out->size()), 0);
    if (r == 0) return Ok();
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Unavailable("reading the tunnel answer");
    }
    out->append(buf, static_cast<size_t>(r));
  }
  return Ok();
}

// The Content-Length of a header block (lower-case match), or nullopt.
std::optional<size_t> ContentLength(const std::string& header) {
  std::string lower = header;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return std::nullopt;
  size_t p = at + 17;
  while (p < lower.size() && lower[p] == ' ') ++p;
  size_t n = 0;
  auto [end, ec] = std::from_chars(lower.data() + p, lower.data() + lower.size(), n);
  if (ec != std::errc()) return std::nullopt;
  return n;
}

}  // namespace

Result<UniqueFd> OpenPortTunnel(const std::string& agent_socket_path, int port, int timeout_ms) {
  if (port < 1 || port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "port must be 1-65535, not " + std::to_string(port));
  }
  const Deadline deadline(timeout_ms);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (agent_socket_path.size() >= sizeof addr.sun_path) {
    return MakeError(ErrorCode::kInvalidArgument, "agent socket path too long");
  }
  std::memcpy(addr.sun_path, agent_socket_path.c_str(), agent_socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Unavailable("socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return Unavailable("connect " + agent_socket_path);
    }
    RETURN_IF_ERROR(deadline.Wait(fd.get(), POLLOUT, "connecting to the agent"));
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return Unavailable("connect " + agent_socket_path);
    }
  }
  const std::string target = "127.0.0.1:" + std::to_string(port);
  const std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  std::string_view req_left = request;
  while (!req_left.empty()) {
    RETURN_IF_ERROR(deadline.Wait(fd.get(), POLLOUT, "sending CONNECT"));
    ssize_t n = send(fd.get(), req_left.data(), req_left.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Unavailable("sending CONNECT");
    }
    req_left.remove_prefix(static_cast<size_t>(n));
  }
  // The header, read a byte at a time (it is short) so that nothing behind it is consumed:
  // the bytes of a server that speaks first belong to the caller.
  std::string header;
  while (header.size() < 4 || header.compare(header.size() - 4, 4, "\r\n\r\n") != 0) {
    if (header.size() >= kMaxTunnelHeader) {
      return MakeError(ErrorCode::kUnavailable, "agent: tunnel answer header over 16 KiB");
    }
    RETURN_IF_ERROR(deadline.Wait(fd.get(), POLLIN, "reading the tunnel answer"));
    char c;
    ssize_t n = recv(fd.get(), &c, 1, 0);
    if (n == 0) return MakeError(ErrorCode::kUnavailable, "agent closed the tunnel request");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Unavailable("reading the tunnel answer");
    }
    header.push_back(c);
  }
  unsigned status = 0;
  if (header.size() < 12 || header.compare(0, 5, "HTTP/") != 0 ||
      std::from_chars(header.data() + 9, header.data() + 12, status).ec != std::errc()) {
    return MakeError(ErrorCode::kUnavailable, "agent: malformed tunnel answer");
  }
  if (status != 200) {
    std::string body;
    const size_t n = std::min(ContentLength(header).value_or(0), kMaxErrorBody);
    RETURN_IF_ERROR(ReadExactly(fd.get(), n, &body, deadline));
    return RestError(status, body);
  }
  int fl = fcntl(fd.get(), F_GETFL);
  if (fl < 0 || fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) return Unavailable("fcntl");
  return fd;
}

}  // namespace sbx::agentclient
