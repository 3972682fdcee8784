// HTTP/1.1 server for the agent, on an inherited listening socket: one thread per connection
// (bounded), Beast parsing and serialisation over a poll-based blocking fd stream with idle
// and I/O timeouts, keep-alive, chunked request bodies, streamed responses. A CONNECT request
// turns its connection into a port tunnel (port_tunnel.h). The only file of the agent that
// includes Beast.
//
// Thread safety: Serve runs the accept loop on the calling thread; connection threads share
// only the Router, which is thread-safe.
#pragma once

#include "agent/router.h"

namespace sbx::agent {

struct ServerLimits {
  int max_connections = 512;
  int idle_timeout_ms = 10 * 60 * 1000;  // between requests on a kept-alive connection
  int io_timeout_ms = 60 * 1000;         // one read or write making no progress
};

// Accepts connections on listen_fd forever; returns only on a fatal accept error.
Result<void> Serve(int listen_fd, Router& router, ServerLimits limits = {});

}  // namespace sbx::agent
