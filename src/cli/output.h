// output: what sbx prints. Every command prints exactly one JSON document on stdout, indented by
// 2 like the E2B guide (--compact: one line), and exits with
//   0  success (for exec: the code ran and its status is "completed"),
//   1  exec only: the code ran but failed, timed out, ran out of memory or was killed,
//   2  the command could not be done: bad flags, bad values, API errors, no daemon.
// Failures print {"success": false, "error": "<message>", "error_code": "<code>"} on stdout and
// one line on stderr. error_code is the daemon's code (docs/api.md) or, for errors found by sbx
// itself, the same code the daemon would give (invalid_argument, unavailable, ...) or "usage"
// when the command line itself does not parse.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::cli {

// Output keeps the order of fields (the guide shows success, sandbox_id, template, ...).
using OJson = nlohmann::ordered_json;

inline constexpr int kExitOk = 0;
inline constexpr int kExitCodeFailed = 1;
inline constexpr int kExitError = 2;
inline constexpr std::string_view kUsageCode = "usage";

// What one command produced: the JSON for stdout, the exit status and, for failures, the line
// for stderr (without the trailing newline; empty: nothing on stderr).
struct Outcome {
  OJson body;
  int exit_code = kExitOk;
  std::string stderr_line;
};

// {"success": false, "error": message, "error_code": code}
OJson ErrorJson(std::string_view code, std::string_view message);
Outcome FailureOutcome(std::string_view code, std::string_view message);
// code = ErrorCodeName(e.code), message = e.ToString().
Outcome ErrorOutcome(const Error& e);
Outcome UsageOutcome(std::string_view message);
// body with "success": true as its first field (kept if the daemon already sent one).
Outcome SuccessOutcome(const OJson& body);
OJson WithSuccessFirst(const OJson& body, bool success = true);

// j[key] when j is an object holding a string there, else def. Never throws.
std::string StringField(const OJson& j, std::string_view key, std::string def = "");

// The JSON text with a trailing newline. Never throws: invalid UTF-8 is replaced.
std::string Render(const OJson& j, bool pretty);

}  // namespace sbx::cli
