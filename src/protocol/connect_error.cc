// Connect error code tables and JSON error bodies.
#include "protocol/connect_error.h"

#include <nlohmann/json.hpp>

#include "protocol/json_fields.h"

namespace sbx::protocol {
namespace {

struct CodeRow {
  ConnectCode code;
  const char* name;
  int http;
};

constexpr CodeRow kCodes[] = {
    {ConnectCode::kCanceled, "canceled", 499},
    {ConnectCode::kUnknown, "unknown", 500},
    {ConnectCode::kInvalidArgument, "invalid_argument", 400},
    {ConnectCode::kDeadlineExceeded, "deadline_exceeded", 504},
    {ConnectCode::kNotFound, "not_found", 404},
    {ConnectCode::kAlreadyExists, "already_exists", 409},
    {ConnectCode::kPermissionDenied, "permission_denied", 403},
    {ConnectCode::kResourceExhausted, "resource_exhausted", 429},
    {ConnectCode::kFailedPrecondition, "failed_precondition", 400},
    {ConnectCode::kAborted, "aborted", 409},
    {ConnectCode::kOutOfRange, "out_of_range", 400},
    {ConnectCode::kUnimplemented, "unimplemented", 501},
    {ConnectCode::kInternal, "internal", 500},
    {ConnectCode::kUnavailable, "unavailable", 503},
    {ConnectCode::kDataLoss, "data_loss", 500},
    {ConnectCode::kUnauthenticated, "unauthenticated", 401},
};

nlohmann::json ErrorObject(const ConnectError& error) {
  nlohmann::json j = nlohmann::json::object();
  j["code"] = ConnectCodeName(error.code);
  if (!error.message.empty()) j["message"] = error.message;
  return j;
}

// Reads {"code","message"} from an object; false if code is missing or unknown.
bool ReadErrorObject(const nlohmann::json& j, ConnectError* out) {
  if (!j.is_object()) return false;
  auto code = j.find("code");
  if (code == j.end() || !code->is_string()) return false;
  if (!ParseConnectCode(code->get_ref<const std::string&>(), &out->code)) return false;
  auto msg = j.find("message");
  out->message = (msg != j.end() && msg->is_string()) ? msg->get<std::string>() : "";
  return true;
}

}  // namespace

const char* ConnectCodeName(ConnectCode code) {
  for (const auto& row : kCodes) {
    if (row.code == code) return row.name;
  }
  return "unknown";
}

bool ParseConnectCode(std::string_view name, ConnectCode* out) {
  for (const auto& row : kCodes) {
    if (name == row.name) {
      *out = row.code;
      return true;
    }
  }
  return false;
}

int HttpStatusForCode(ConnectCode code) {
  for (const auto& row : kCodes) {
    if (row.code == code) return row.http;
  }
  return 500;
}

ConnectCode CodeFromHttpStatus(int status) {
  switch (status) {
    case 400: return ConnectCode::kInternal;
    case 401: return ConnectCode::kUnauthenticated;
    case 403: return ConnectCode::kPermissionDenied;
    case 404: return ConnectCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return ConnectCode::kUnavailable;
    default: return ConnectCode::kUnknown;
  }
}

ConnectCode ToConnectCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return ConnectCode::kInvalidArgument;
    case ErrorCode::kNotFound: return ConnectCode::kNotFound;
    case ErrorCode::kAlreadyExists: return ConnectCode::kAlreadyExists;
    case ErrorCode::kFailedPrecondition: return ConnectCode::kFailedPrecondition;
    case ErrorCode::kPermissionDenied: return ConnectCode::kPermissionDenied;
    case ErrorCode::kUnauthenticated: return ConnectCode::kUnauthenticated;
    case ErrorCode::kResourceExhausted: return ConnectCode::kResourceExhausted;
    case ErrorCode::kUnavailable: return ConnectCode::kUnavailable;
    case ErrorCode::kDeadlineExceeded: return ConnectCode::kDeadlineExceeded;
    case ErrorCode::kInternal: return ConnectCode::kInternal;
  }
  return ConnectCode::kInternal;
}

ErrorCode ToErrorCode(ConnectCode code) {
  switch (code) {
    case ConnectCode::kInvalidArgument:
    case ConnectCode::kOutOfRange: return ErrorCode::kInvalidArgument;
    case ConnectCode::kNotFound: return ErrorCode::kNotFound;
    case ConnectCode::kAlreadyExists: return ErrorCode::kAlreadyExists;
    case ConnectCode::kFailedPrecondition:
    case ConnectCode::kAborted: return ErrorCode::kFailedPrecondition;
    case ConnectCode::kPermissionDenied: return ErrorCode::kPermissionDenied;
    case ConnectCode::kUnauthenticated: return ErrorCode::kUnauthenticated;
    case ConnectCode::kResourceExhausted: return ErrorCode::kResourceExhausted;
    case ConnectCode::kCanceled:
    case ConnectCode::kUnavailable: return ErrorCode::kUnavailable;
    case ConnectCode::kDeadlineExceeded: return ErrorCode::kDeadlineExceeded;
    default: return ErrorCode::kInternal;
  }
}

ConnectError FromError(const Error& error) {
  return ConnectError{ToConnectCode(error.code), error.ToString()};
}

Error ToError(const ConnectError& error) {
  return MakeError(ToErrorCode(error.code),
                   std::string("agent: ") + ConnectCodeName(error.code) +
                       (error.message.empty() ? "" : ": " + error.message));
}

std::string ErrorJson(const ConnectError& error) { return DumpJson(ErrorObject(error)); }

std::string EndStreamJson(const ConnectError* error) {
  if (error == nullptr) return "{}";
  nlohmann::json j = nlohmann::json::object();
  j["error"] = ErrorObject(*error);
  return DumpJson(j);
}

ConnectError ParseErrorBody(int http_status, std::string_view body) {
  ConnectError out{CodeFromHttpStatus(http_status), ""};
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && ReadErrorObject(j, &out)) return out;
  out.code = CodeFromHttpStatus(http_status);
  out.message = "HTTP " + std::to_string(http_status);
  return out;
}

bool ParseEndStream(std::string_view payload, ConnectError* error) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = ConnectError{ConnectCode::kInternal, "malformed end-of-stream payload"};
    return true;
  }
  auto e = j.find("error");
  if (e == j.end() || e->is_null()) return false;
  if (!ReadErrorObject(*e, error)) {
    *error = ConnectError{ConnectCode::kUnknown, "end-of-stream error without a valid code"};
  }
  return true;
}

}  // namespace sbx::protocol
