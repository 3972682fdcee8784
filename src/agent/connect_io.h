// Connect protocol over the agent's ResponseWriter: unary JSON responses and errors, and
// server-streaming responses (application/connect+json envelopes, one chunk per envelope,
// always closed by an end-of-stream frame). Also reads unary and streaming request bodies
// and the Connect-Timeout-Ms / Keepalive-Ping-Interval headers.
//
// Thread safety: a ConnectStream belongs to one connection thread.
#pragma once

#include <cstdint>
#include <optional>

#include "agent/http_types.h"
#include "common/result.h"
#include "protocol/json_fields.h"

namespace sbx::agent {

inline constexpr size_t kMaxRequestBytes = 16u << 20;

Result<void> SendUnary(ResponseWriter& w, const protocol::Json& message);
Result<void> SendUnaryError(ResponseWriter& w, const Error& error);

// Reads a unary request body (JSON object).
Result<protocol::Json> ReadUnaryRequest(const HttpRequest& req, BodyReader& body);
// Reads a server-streaming request: one envelope (or, leniently, plain JSON).
Result<protocol::Json> ReadStreamRequest(const HttpRequest& req, BodyReader& body);

// Connect-Timeout-Ms in milliseconds (nullopt when absent; error when malformed).
Result<std::optional<int64_t>> ConnectTimeoutMs(const HttpRequest& req);
// Keepalive-Ping-Interval in seconds; `fallback` when absent or invalid.
int64_t KeepaliveSeconds(const HttpRequest& req, int64_t fallback);

class ConnectStream {
 public:
  explicit ConnectStream(ResponseWriter& w) : w_(w) {}
  // Sends one message envelope (begins the 200 response first if needed).
  Result<void> Send(const protocol::Json& message);
  // Sends the end-of-stream frame ({} or the error) and ends the response.
  Result<void> Finish(const Error* error);
  ResponseWriter& writer() { return w_; }

 private:
  Result<void> EnsureBegun();
  ResponseWriter& w_;
  bool begun_ = false;
};

}  // namespace sbx::agent
