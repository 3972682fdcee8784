// client/http_client: the low-level HTTP client of sandboxd's API (docs/api.md), libcurl
// over the daemon's unix socket (CURLOPT_UNIX_SOCKET_PATH) or a TCP URL, http:// or https://.
// One blocking request at a time. https:// uses TLS 1.2 or later and verifies the daemon's
// certificate and host name, against Endpoint::ca_cert or else the system's CA store; only an
// explicit Endpoint::insecure turns verification off.
//
// Errors are values: a failure to talk to the daemon becomes an Error whose message says what
// to do ("sandboxd is not running (no socket at ...); start it with `sandboxd`"), and an HTTP
// error answer becomes an Error carrying the daemon's code and message as they were sent.
//
// Thread safety: a Client is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>


#include "common/result.h"

namespace sbx::client {

// Answers keep the order of their fields (the CLI prints them as they came).
using OJson = nlohmann::ordered_json;

inline constexpr char kDefaultSocket[] = "/run/sandboxd/sandboxd.sock";

// Where the daemon is: exactly one of socket_path and base_url is set.
struct Endpoint {
  std::string socket_path;  // unix socket
  std::string base_url;     // "http://127.0.0.1:8080" or "https://...", no trailing '/'
  std::string ca_cert;      // https: PEM file of the CA(s) to trust ("": the system's store)
  bool insecure = false;    // https: no certificate or host name check (opt-in, for testing)
  // "/run/sandboxd/sandboxd.sock" or "http://127.0.0.1:8080", for messages.
  std::string Describe() const { return base_url.empty() ? socket_path : base_url; }
};

struct HttpResponse {
  long status = 0;
  std::string body;                            // empty when streamed to a Sink
  std::map<std::string, std::string> headers;  // names in lower case
};

// Supplies a request body: fills buf with up to cap bytes, 0 at the end.
using Source = std::function<Result<size_t>(char* buf, size_t cap)>;
// Receives the body of a 2xx answer as it arrives (other answers are kept in memory).
using Sink = std::function<Result<void>(std::string_view chunk)>;

// A Sink for line-oriented bodies (NDJSON, server-sent events): hands on_line each complete
// line without its "\n" or "\r\n" (empty lines too: SSE ends events with them); a partial
// last line waits for the rest of it. An error from on_line ends the request.
Sink LineSink(std::function<Result<void>(std::string_view line)> on_line);

struct HttpRequest {
  std::string method = "GET";
  std::string target;        // "/v1/sandboxes?state=running"
  std::string content_type;  // set with a body
  std::string body;          // used when source is empty
  Source source;             // streamed body of source_size bytes
  int64_t source_size = 0;
  Sink sink;
  double timeout_s = 30;       // the whole request; 0: no limit
  double stall_timeout_s = 0;  // > 0: abort when nothing moves for this long
  // Extra header lines, "Name: value" (e.g. "Content-Encoding: gzip"). An "Accept: ..." line
  // replaces the default Accept.
  std::vector<std::string> headers;
};

class Client {
 public:
  Client(Endpoint endpoint, std::string api_key);

  const Endpoint& endpoint() const { return endpoint_; }

  // Performs one request. Only transport failures are Errors here: any HTTP status is returned.
  Result<HttpResponse> Send(const HttpRequest& req);

  // A JSON request (body may be null for none). A 2xx answer's JSON body is returned; any other
  // answer becomes ErrorFromHttp().
  Result<OJson> CallJson(std::string_view method, std::string_view target,
                         const nlohmann::json& body, double timeout_s);

 private:
  Endpoint endpoint_;
  std::string api_key_;
};

// The Error for a non-2xx answer. With the API's error body the daemon's code and message are
// kept as they are; otherwise the code follows the HTTP status and the message quotes the body.
Error ErrorFromHttp(long status, std::string_view body);

// "not_found" -> kNotFound; false in *known (and kInternal) for a name we do not know.
ErrorCode ErrorCodeFromName(std::string_view name, bool* known);
ErrorCode ErrorCodeFromHttpStatus(long status);

// The Error for a request that got no answer, from the curl result and the connect errno.
Error TransportError(const Endpoint& ep, int curl_code, int os_errno, std::string_view curl_msg,
                     double timeout_s, std::string_view what);

// The last component of a path ("a/b.txt" -> "b.txt"; "a/" -> "").
std::string BaseName(std::string_view path);

// Percent-encodes a query value; keeps unreserved characters and '/'.
std::string PercentEncode(std::string_view s);

// "/v1/sandboxes/ID/files?path=...[&user=root]"
std::string FilesTarget(std::string_view sandbox_id, std::string_view path, std::string_view user);

}  // namespace sbx::client
