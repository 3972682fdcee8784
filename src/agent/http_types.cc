// Helpers of the agent's HTTP seam.
#include "agent/http_types.h"

#include "protocol/json_fields.h"

namespace sbx::agent {

std::string HttpRequest::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? std::string() : it->second;
}

bool HttpRequest::HasQuery(std::string_view name) const {
  return query.count(std::string(name)) != 0;
}

Result<std::string> ReadAll(BodyReader& body, size_t limit) {
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf, sizeof buf));
    if (n == 0) return out;
    if (out.size() + n > limit) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "request body exceeds " + std::to_string(limit) + " bytes");
    }
    out.append(buf, n);
  }
}

Result<void> SendJsonError(ResponseWriter& w, int status, std::string_view message) {
  protocol::Json j = {{"code", status}, {"message", std::string(message)}};
  return w.Send(status, {{"Content-Type", "application/json"}}, protocol::DumpJson(j));
}

int RestStatusForError(const Error& e) {
  if (e.sys_errno == ENOSPC || e.sys_errno == EDQUOT || e.sys_errno == EFBIG) return 507;
  switch (e.code) {
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kFailedPrecondition: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kResourceExhausted: return 413;
    default: return 500;
  }
}

}  // namespace sbx::agent
