// HttpSender: the I/O shell of webhook delivery. Sends one OutgoingRequest with libcurl and
// reports what happened as data: the status code (0 when no HTTP answer came), the latency and
// an error text. One sender per delivery worker; it keeps its connections alive between sends.
//
// Thread safety: a sender is used by one thread at a time.
#pragma once

#include <string>

#include "events/payload.h"

namespace sbx::events {

struct SendResult {
  int status_code = 0;  // 0: refused, timed out, DNS, TLS...
  double latency_ms = 0;
  std::string error;  // "" on a 2xx; else curl's message or "HTTP 500: <body prefix>"
  bool ok() const { return status_code >= 200 && status_code < 300; }
};

struct SendTimeouts {
  int connect_ms = 5000;
  int total_ms = 10000;  // the most one slow receiver can cost one worker per attempt
};

class HttpSender {
 public:
  explicit HttpSender(SendTimeouts timeouts);
  ~HttpSender();
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  SendResult Send(const OutgoingRequest& req);

 private:
  SendTimeouts timeouts_;
  void* curl_;  // CURL*
};

// curl_global_init, once per process (not thread-safe in libcurl, so done under call_once).
void InitCurlOnce();

}  // namespace sbx::events
