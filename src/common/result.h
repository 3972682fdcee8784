// Error and Result<T>: errors are values (docs/error-handling.md).
//
// An Error carries a stable code (what kind of failure, mapped to HTTP statuses by the api),
// the errno of the failing system call when there is one, and a message that names what was
// being done, with its arguments. Outcomes of user code are not errors: see spec::ExecResult.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sbx {

enum class ErrorCode {
  kInvalidArgument,   // bad input from a caller: names the field or value
  kNotFound,          // unknown sandbox, template, file, process
  kAlreadyExists,     // duplicate id
  kFailedPrecondition,// wrong state: exec in a stopped sandbox
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted, // limits, quotas, 413, 429
  kUnavailable,       // daemon or agent not reachable
  kDeadlineExceeded,
  kInternal,          // a system call or invariant failed
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  int sys_errno = 0;  // 0 when no system call is involved
  std::string message;

  // "message: strerror(errno)" when sys_errno is set.
  std::string ToString() const;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, 0, std::move(message)};
}
// For a failed system call: keeps errno, and appends strerror to the message in ToString().
inline Error SysError(std::string message, int err = errno) {
  ErrorCode code = ErrorCode::kInternal;
  if (err == ENOENT) code = ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) code = ErrorCode::kPermissionDenied;
  if (err == EEXIST) code = ErrorCode::kAlreadyExists;
  if (err == EINVAL || err == ENOTDIR || err == EISDIR || err == ENAMETOOLONG || err == ELOOP ||
      err == EXDEV)
    code = ErrorCode::kInvalidArgument;
  if (err == ENOSPC || err == EDQUOT || err == EMFILE || err == ENFILE || err == EAGAIN)
    code = ErrorCode::kResourceExhausted;
  return Error{code, err, std::move(message)};
}

// Result<T>: a T or an Error. Result<void> holds only an Error or nothing.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}        // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace sbx

#define SBX_CONCAT_INNER(a, b) a##b
#define SBX_CONCAT(a, b) SBX_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): propagate the Error of a Result<...>.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    auto sbx_status_ = (expr);                                 \
    if (!sbx_status_.ok()) return std::move(sbx_status_).error(); \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): lhs = value of expr, or propagate its Error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(SBX_CONCAT(sbx_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)      \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).error();    \
  lhs = std::move(tmp).value()
