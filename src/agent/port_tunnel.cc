// CONNECT tunnels to the sandbox's loopback.
#include "agent/port_tunnel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/log.h"

namespace sbx::agent {
namespace {

std::atomic<int> g_tunnels{0};

bool SetNonBlocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

// Connects a non-blocking socket within kDialTimeoutMs; returns the errno (0 on success).
int ConnectWithin(int fd, const sockaddr* addr, socklen_t len) {
  if (connect(fd, addr, len) == 0) return 0;
  if (errno != EINPROGRESS && errno != EINTR) return errno;
  pollfd p{fd, POLLOUT, 0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDialTimeoutMs);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return ETIMEDOUT;
    int r = poll(&p, 1, static_cast<int>(left));
    if (r > 0) break;
    if (r < 0 && errno != EINTR) return errno;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) return errno;
  return err;
}

// One direction of a relay: bytes read from `from`, not yet written to `to`.
struct Pipe {
  int from;
  int to;
  std::vector<char> buf = std::vector<char>(kRelayBuffer);
  size_t begin = 0;
  size_t end = 0;
  bool eof = false;   // `from` has no more bytes
  bool done = false;  // eof and everything written, `to` shut for writing

  size_t pending() const { return end - begin; }
  bool WantsRead() const { return !eof && end < buf.size(); }
  bool WantsWrite() const { return pending() > 0; }

  // Reads what is there; false on an error.
  bool Fill() {
    ssize_t n = recv(from, buf.data() + end, buf.size() - end, 0);
    if (n > 0) {
      end += static_cast<size_t>(n);
    } else if (n == 0) {
      eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return false;
    }
    return true;
  }
  // Writes what is buffered; false on an error.
  bool Drain() {
    ssize_t n = send(to, buf.data() + begin, pending(), MSG_NOSIGNAL);
    if (n > 0) {
      begin += static_cast<size_t>(n);
      if (begin == end) begin = end = 0;  // all written: the whole buffer is free again
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return false;
    }
    return true;
  }
  void MaybeFinish() {
    if (eof && pending() == 0 && !done) {
      shutdown(to, SHUT_WR);
      done = true;
    }
  }
};

// Writes all of data to a blocking-or-not fd within the dial timeout; false on failure.
bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, kDialTimeoutMs) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

Result<int> ParseConnectTarget(std::string_view target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "CONNECT target must be 127.0.0.1:<port> or localhost:<port>");
  }
  const std::string_view host = target.substr(0, colon);
  const std::string_view port_s = target.substr(colon + 1);
  if (host != "127.0.0.1" && host != "localhost") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "CONNECT reaches only the sandbox's loopback (127.0.0.1 or localhost), "
                     "not '" + std::string(host.substr(0, 256)) + "'");
  }
  int port = 0;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (port_s.empty() || port_s.size() > 5 || ec != std::errc() ||
      p != port_s.data() + port_s.size() || port < 1 || port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "CONNECT port must be 1-65535, not '" + std::string(port_s.substr(0, 16)) +
                         "'");
  }
  return port;
}

Result<UniqueFd> DialLoopback(int port) {
  int last_err = ECONNREFUSED;
  for (int family : {AF_INET, AF_INET6}) {
    UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_err = errno;
      continue;
    }
    int err;
    if (family == AF_INET) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      err = ConnectWithin(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      a.sin6_addr = in6addr_loopback;
      err = ConnectWithin(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (err == 0) {
      int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    // ECONNREFUSED on 127.0.0.1 is the common case; ::1 may be absent (EADDRNOTAVAIL,
    // EAFNOSUPPORT): keep the more telling error.
    if (family == AF_INET || err == ETIMEDOUT) last_err = err;
  }
  if (last_err == ECONNREFUSED) {
    return MakeError(ErrorCode::kUnavailable,
                     "nothing listens on port " + std::to_string(port) + " in the sandbox");
  }
  return MakeError(ErrorCode::kUnavailable, "connecting to port " + std::to_string(port) +
                                                " in the sandbox: " + std::strerror(last_err));
}

void Relay(int a, int b, std::string_view a_to_b_pending) {
  if (!SetNonBlocking(a) || !SetNonBlocking(b)) return;
  if (!SendAll(b, a_to_b_pending)) return;
  Pipe up{a, b};
  Pipe down{b, a};
  // POLLHUP seen: the peer closed both ways (a half-close is not a hang-up), or was reset.
  bool hup_a = false, hup_b = false;
  while (!(up.done && down.done)) {
    // A hung-up side whose bytes have all been passed on can take nothing more: when bytes
    // may still be on their way to it, the tunnel is over (an idle server behind a client
    // that left must not hold the thread).
    if (hup_a && up.done && !down.done) return;
    if (hup_b && down.done && !up.done) return;
    short ev_a = 0, ev_b = 0;
    if (up.WantsRead()) ev_a |= POLLIN;
    if (up.WantsWrite()) ev_b |= POLLOUT;
    if (down.WantsRead()) ev_b |= POLLIN;
    if (down.WantsWrite()) ev_a |= POLLOUT;
    // A side is polled even with no events until it hangs up, so a hang-up is noticed; after
    // that only for what it is wanted for (its POLLHUP would otherwise return at once, always).
    const bool poll_a = ev_a != 0 || !hup_a;
    const bool poll_b = ev_b != 0 || !hup_b;
    if (!poll_a && !poll_b) return;
    pollfd p[2] = {{poll_a ? a : -1, ev_a, 0}, {poll_b ? b : -1, ev_b, 0}};
    int r = poll(p, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const short ra = p[0].revents, rb = p[1].revents;
    if ((ra | rb) & (POLLNVAL | POLLERR)) return;  // reset or broken: nothing more can pass
    hup_a |= (ra & POLLHUP) != 0;
    hup_b |= (rb & POLLHUP) != 0;
    // What is still readable from a hung-up side is read out (recv then sees end-of-file).
    if (ra & (POLLIN | POLLHUP) && up.WantsRead() && !up.Fill()) return;
    if (rb & (POLLIN | POLLHUP) && down.WantsRead() && !down.Fill()) return;
    if (rb & (POLLOUT | POLLHUP) && up.WantsWrite() && !up.Drain()) return;
    if (ra & (POLLOUT | POLLHUP) && down.WantsWrite() && !down.Drain()) return;
    up.MaybeFinish();
    down.MaybeFinish();
  }
}

void HandleConnect(int conn_fd, std::string_view target, std::string_view pending,
                   ResponseWriter& w) {
  auto port = ParseConnectTarget(target);
  if (!port.ok()) {
    log::Info("tunnel_refused", {{"error", port.error().message}});
    (void)SendJsonError(w, 400, port.error().message);
    return;
  }
  if (g_tunnels.fetch_add(1) >= kMaxTunnels) {
    g_tunnels.fetch_sub(1);
    log::Warn("tunnel_refused", {{"port", port.value()}, {"reason", "too many tunnels"}});
    (void)SendJsonError(w, 503, "too many port tunnels (at most " +
                                    std::to_string(kMaxTunnels) + " at once)");
    return;
  }
  struct Release {
    ~Release() { g_tunnels.fetch_sub(1); }
  } release;
  auto upstream = DialLoopback(port.value());
  if (!upstream.ok()) {
    log::Info("tunnel_failed", {{"port", port.value()}, {"error", upstream.error().message}});
    (void)SendJsonError(w, 502, upstream.error().message);
    return;
  }
  if (!SendAll(conn_fd, "HTTP/1.1 200 Connection Established\r\n\r\n")) return;
  log::Debug("tunnel_open", {{"port", port.value()}});
  Relay(conn_fd, upstream.value().get(), pending);
  log::Debug("tunnel_closed", {{"port", port.value()}});
}

}  // namespace sbx::agent
