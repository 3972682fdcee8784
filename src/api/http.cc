#include "api/http.h"

namespace sbx::api {

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

Response JsonResponse(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response ErrorResponse(const Error& error) {
  return JsonResponse(HttpStatus(error.code),
                      {{"success", false},
                       {"error", {{"code", ErrorCodeName(error.code)}, {"message", error.ToString()}}}});
}

Result<nlohmann::json> ParseJsonBody(const Request& req, bool allow_empty) {
  if (req.body.empty()) {
    if (allow_empty) return nlohmann::json::object();
    return MakeError(ErrorCode::kInvalidArgument, "request body: expected a JSON object, got nothing");
  }
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return MakeError(ErrorCode::kInvalidArgument, "request body: malformed JSON");
  if (!j.is_object())
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("request body: expected a JSON object, got ") + j.type_name());
  return j;
}

Response MethodNotAllowed(const Request& req) {
  return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                 "method " + req.method + " is not allowed on " + req.path));
}

static int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexVal(in[i + 1]), lo = HexVal(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+') {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

bool ParseQuery(const std::string& raw, std::map<std::string, std::string>* out) {
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t amp = raw.find('&', pos);
    if (amp == std::string::npos) amp = raw.size();
    std::string part = raw.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string k, v;
      if (!PercentDecode(part.substr(0, eq), &k)) return false;
      if (eq != std::string::npos && !PercentDecode(part.substr(eq + 1), &v)) return false;
      (*out)[k] = v;
    }
    pos = amp + 1;
  }
  return true;
}

}  // namespace sbx::api
