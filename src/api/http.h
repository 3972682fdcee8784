// Plain request and response values for the API handlers. Handlers are functions from Request
// to Response, so they are tested without sockets; server.cc does the I/O.
#pragma once

#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sbx::api {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // decoded path, without the query
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string request_id;
  bool admin = false;  // arrived on the unix socket (root only)
  // Set by the router's gate from the API key: whose resources this request may see. Empty for
  // the administrator (unix socket), who sees every tenant's.
  std::string tenant;
  std::string key_id;
  bool admitted = false;  // set by Router::Admit once the gate let the request through

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  std::string Query(const std::string& name, const std::string& def = "") const {
    auto it = query.find(name);
    return it == query.end() ? def : it->second;
  }
};

// Writes one piece of a streamed body; false once the client is gone (the producer may go on
// with its work but need not write any more).
using ChunkWriter = std::function<bool(std::string_view)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is produced by this function while the server sends it as HTTP/1.1
  // chunks (body above is ignored); the connection closes afterwards. For long operations
  // that report progress (template builds: NDJSON lines).
  std::function<void(const ChunkWriter&)> stream;
  // With stream: the exact length of the body, sent as Content-Length instead of chunks (file
  // downloads, whose size is known first). The server sends no byte beyond it, and closes the
  // connection when the stream wrote fewer.
  std::optional<uint64_t> content_length;
  // With stream: called once stream returned. Its fields go in the trailer of a chunked body
  // (announce them in a "Trailer" header). An error means the body is incomplete: the
  // connection closes without the body's end, so the client sees a cut transfer, never a
  // complete-looking short one.
  std::function<Result<std::vector<std::pair<std::string, std::string>>>()> finish;
};

// The HTTP status for an error code (docs/api.md).
int HttpStatus(ErrorCode code);
Response JsonResponse(int status, const nlohmann::json& body);
// {"success": false, "error": {"code": ..., "message": ...}}
Response ErrorResponse(const Error& error);
// 400 naming the method and the path, for a route that exists with other methods.
Response MethodNotAllowed(const Request& req);

// The request body as a JSON object (malformed JSON, another type: kInvalidArgument). An empty
// body is {} when allow_empty, else an error.
Result<nlohmann::json> ParseJsonBody(const Request& req, bool allow_empty);

// Splits "a=b&c=d" with percent-decoding; false on a malformed escape.
bool ParseQuery(const std::string& raw, std::map<std::string, std::string>* out);
bool PercentDecode(const std::string& in, std::string* out);

}  // namespace sbx::api
