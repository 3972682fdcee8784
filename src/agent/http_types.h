// The agent's HTTP seam: plain request data plus abstract body reader and response writer, so
// handlers (process, filesystem, files) never include Beast and can be driven by tests or by
// another transport (vsock) later. http_server.cc implements both over a socket.
//
// Thread safety: a request, its BodyReader and its ResponseWriter belong to the one
// connection thread that serves the request.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sbx::agent {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::map<std::string, std::string> query;    // percent-decoded; '+' is a space
  std::map<std::string, std::string> headers;  // names lower-cased

  // The header value, or "" when absent.
  std::string Header(std::string_view name) const;
  std::string Query(std::string_view name) const;
  bool HasQuery(std::string_view name) const;
};

class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Reads up to n bytes of the (de-chunked) body; returns 0 at its end.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

// Reads the whole body; kResourceExhausted when it exceeds limit.
Result<std::string> ReadAll(BodyReader& body, size_t limit);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // A complete response with Content-Length.
  virtual Result<void> Send(int status, const HeaderList& headers, std::string_view body) = 0;
  // Starts a chunked response; each Write() then sends and flushes one chunk.
  virtual Result<void> BeginChunked(int status, const HeaderList& headers) = 0;
  // Starts a response of exactly `length` body bytes, sent by Write().
  virtual Result<void> BeginFixed(int status, const HeaderList& headers, uint64_t length) = 0;
  virtual Result<void> Write(std::string_view data) = 0;
  // Finishes a response begun with BeginChunked/BeginFixed.
  virtual Result<void> End() = 0;
  // True when the peer has gone away (checked without blocking).
  virtual bool PeerClosed() = 0;
  // True once a status line has been sent.
  virtual bool started() const = 0;
};

// Sends {"code":<status>,"message":...} (the envd REST error shape).
Result<void> SendJsonError(ResponseWriter& w, int status, std::string_view message);
// Picks the REST status for an Error (404, 400, 401, 403, 409, 507, 500).
int RestStatusForError(const Error& error);

}  // namespace sbx::agent
