// Connect error codes (connectrpc.com/docs/protocol#error-codes): names, the HTTP status each
// maps to (E2B-PROTOCOL.md 3.1), the inverse for non-JSON error bodies, and conversion to and
// from sbx::Error. Error bodies are {"code":"not_found","message":"..."}; an end-of-stream
// frame carries {} or {"error":{...}}.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::protocol {

enum class ConnectCode {
  kCanceled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

struct ConnectError {
  ConnectCode code = ConnectCode::kUnknown;
  std::string message;
};

const char* ConnectCodeName(ConnectCode code);
// Parses a snake_case code name; false if unknown.
bool ParseConnectCode(std::string_view name, ConnectCode* out);
// The HTTP status a unary error response uses for this code.
int HttpStatusForCode(ConnectCode code);
// What a Connect client infers from the HTTP status when the body is not a JSON error.
ConnectCode CodeFromHttpStatus(int status);

ConnectCode ToConnectCode(ErrorCode code);
ErrorCode ToErrorCode(ConnectCode code);
ConnectError FromError(const Error& error);
Error ToError(const ConnectError& error);

// {"code":"...","message":"..."}
std::string ErrorJson(const ConnectError& error);
// "{}" when error is null, else {"error":{"code":..,"message":..}}.
std::string EndStreamJson(const ConnectError* error);

// Parses a unary error body, falling back to the HTTP status when it is not a JSON error.
ConnectError ParseErrorBody(int http_status, std::string_view body);
// Parses an end-of-stream payload; returns true and fills *error when it carries one.
// A malformed payload is reported as an internal error.
bool ParseEndStream(std::string_view payload, ConnectError* error);

}  // namespace sbx::protocol
