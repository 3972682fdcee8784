// The non-template parts of the request loop (see request_loop.h).
#include "api/request_loop.h"

#include <cctype>

namespace sbx::api::request_loop {

namespace asio = boost::asio;

http::response<http::string_body> ToMessage(Response&& resp, const std::string& request_id,
                                             bool keep_alive) {
  http::response<http::string_body> out;
  out.version(11);
  out.result(static_cast<unsigned>(resp.status));
  out.set(http::field::server, "sandboxd");
  out.set(http::field::content_type, resp.content_type);
  out.set("X-Request-Id", request_id);
  for (const auto& [k, v] : resp.headers) out.set(k, v);
  out.keep_alive(keep_alive);
  out.body() = std::move(resp.body);
  out.prepare_payload();
  return out;
}

bool FillFromHeader(const http::request_header<>& h, Request* req) {
  req->method = std::string(h.method_string());
  std::string target(h.target());
  size_t q = target.find('?');
  bool ok = PercentDecode(target.substr(0, q), &req->path);
  if (ok && q != std::string::npos) ok = ParseQuery(target.substr(q + 1), &req->query);
  for (const auto& field : h) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req->headers[name] = std::string(field.value());
  }
  return ok;
}

namespace {

Response Refusal(int status, const std::string& code, const std::string& message) {
  return JsonResponse(status,
                      {{"success", false}, {"error", {{"code", code}, {"message", message}}}});
}

}  // namespace

Response TooLarge(uint64_t limit, bool keyless) {
  return Refusal(413, "resource_exhausted",
                 "request body exceeds " + std::to_string(limit) + " bytes" +
                     (keyless ? " (the limit for requests without an API key)" : ""));
}

Response TooManyInFlight(const Request& req, const std::string& peer, size_t limit) {
  std::string who = req.key_id.empty() ? "address " + peer + " (requests without an API key)"
                                       : "API key " + req.key_id;
  log::Info("http.too_many_in_flight", {{"request_id", req.request_id}, {"who", who},
                                        {"limit", static_cast<int64_t>(limit)}});
  Response r = Refusal(429, "resource_exhausted",
                       "too many requests in flight for " + who + ": at most " +
                           std::to_string(limit) +
                           " at once (sandboxd --max-requests-per-key); retry when one has "
                           "finished");
  r.headers.push_back({"Retry-After", "1"});
  return r;
}

Response BudgetRefusal(const Error& e) {
  log::Warn("http.body_budget_exhausted", {{"error", e.message}});
  Response r = ErrorResponse(e);
  if (r.status == 503) r.headers.push_back({"Retry-After", "2"});
  return r;
}

Response Timeout(const std::string& message) {
  return Refusal(408, "deadline_exceeded", message);
}

Response BadRequest(const beast::error_code& ec) {
  if (ec == http::error::header_limit)
    return Refusal(431, "invalid_argument", "request header exceeds 65536 bytes");
  return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "bad HTTP request: " + ec.message()));
}

bool IsEndOfStream(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated ||
         ec == http::error::partial_message;
}

bool ExpectsContinue(const Request& req) {
  std::string v = req.Header("expect");
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "100-continue";
}

}  // namespace sbx::api::request_loop
