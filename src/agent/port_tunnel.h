// Port tunnel: `CONNECT 127.0.0.1:<port> HTTP/1.1` (or `localhost:<port>`) on the agent's
// socket opens a TCP connection to that port on the sandbox's own loopback (the agent is PID 1
// of the sandbox's network namespace; 127.0.0.1 first, then ::1), answers
// `HTTP/1.1 200 Connection Established`, and relays raw bytes both ways until both directions
// are closed. This is how the daemon reaches servers that user code starts in the sandbox
// (E2B's getHost(port)); nothing else than the sandbox's loopback is reachable.
//
// Limits: at most kMaxTunnels at once (more get 503), two kRelayBuffer buffers per tunnel, a
// connect to loopback waits at most kDialTimeoutMs.
//
// Thread safety: HandleConnect runs on the connection's thread and blocks it for the tunnel's
// life; the tunnel count is shared and atomic.
#pragma once

#include <string>
#include <string_view>

#include "agent/http_types.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace sbx::agent {

// Each tunnel holds a connection thread, and the agent's threads come out of its 512-task
// reserve (docs/security.md, "Resources"): half of it at most goes to tunnels.
inline constexpr int kMaxTunnels = 256;
inline constexpr size_t kRelayBuffer = 16u << 10;
inline constexpr int kDialTimeoutMs = 5000;

// The port of a CONNECT target "127.0.0.1:<port>" or "localhost:<port>" (1-65535);
// kInvalidArgument naming what is wrong otherwise.
Result<int> ParseConnectTarget(std::string_view target);

// Connects to the port on the loopback (127.0.0.1, then ::1). kUnavailable with the message
// "nothing listens on port N in the sandbox" when both refuse.
Result<UniqueFd> DialLoopback(int port);

// Copies bytes both ways between a and b (first `a_to_b_pending`, bytes already read from a)
// until both directions have reached end-of-file, passing each end-of-file on with
// shutdown(SHUT_WR). Returns when that is done or either side fails. Sets both non-blocking.
void Relay(int a, int b, std::string_view a_to_b_pending);

// Serves a CONNECT request on the connection fd: answers 400/502/503 through w (JSON error,
// then the caller closes), or 200 and relays until the tunnel ends. `pending` holds the bytes
// the HTTP parser had already read past the request's header.
void HandleConnect(int conn_fd, std::string_view target, std::string_view pending,
                   ResponseWriter& w);

}  // namespace sbx::agent
