// The HTTP/1.1 server of the API (Boost.Beast, synchronous, one thread per connection). It
// listens on the administrator's unix socket (mode 0600) and optionally on a loopback TCP
// port, parses requests with a body limit and idle timeouts, hands them to the Router and
// writes the response. Why threads and not coroutines: docs/architecture.md.
//
// Thread safety: Listen* before Run; Stop from any thread (a signal-handling thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/routes.h"
#include "common/result.h"

namespace sbx::api {

struct ServerOptions {
  size_t max_body_bytes = (100 << 20) + (1 << 20);
  int idle_timeout_s = 120;     // a keep-alive connection with no request for this long closes
  size_t max_connections = 512;
};

// Called after each request with its final status and duration (metrics).
using RequestObserver = std::function<void(const Request& req, int status, double seconds)>;

class Server {
 public:
  Server(Router* router, ServerOptions options);
  ~Server();
  Result<void> ListenUnix(const std::string& path);
  Result<void> ListenTcp(const std::string& host, int port);
  int tcp_port() const { return tcp_port_; }
  // Before Run().
  void SetObserver(RequestObserver observer);
  // Serves until Stop(); then waits for open connections to finish their current request.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int tcp_port_ = 0;
};

}  // namespace sbx::api
