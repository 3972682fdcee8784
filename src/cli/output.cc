// output: JSON documents and exit statuses of sbx (see output.h).
#include "cli/output.h"

namespace sbx::cli {

OJson ErrorJson(std::string_view code, std::string_view message) {
  OJson j = OJson::object();
  j["success"] = false;
  j["error"] = std::string(message);
  j["error_code"] = std::string(code);
  return j;
}

Outcome FailureOutcome(std::string_view code, std::string_view message) {
  Outcome o;
  o.body = ErrorJson(code, message);
  o.exit_code = kExitError;
  o.stderr_line = "sbx: error: " + std::string(message);
  // One line on stderr, whatever the message holds.
  for (char& c : o.stderr_line)
    if (c == '\n' || c == '\r') c = ' ';
  return o;
}

Outcome ErrorOutcome(const Error& e) { return FailureOutcome(ErrorCodeName(e.code), e.ToString()); }

Outcome UsageOutcome(std::string_view message) {
  Outcome o = FailureOutcome(kUsageCode, message);
  o.stderr_line += " (see sbx --help)";
  return o;
}

OJson WithSuccessFirst(const OJson& body, bool success) {
  OJson out = OJson::object();
  out["success"] = success;
  if (body.is_object()) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() == "success") {
        out["success"] = *it;
        continue;
      }
      out[it.key()] = *it;
    }
  } else if (!body.is_null()) {
    out["result"] = body;
  }
  return out;
}

Outcome SuccessOutcome(const OJson& body) {
  Outcome o;
  o.body = WithSuccessFirst(body);
  o.exit_code = kExitOk;
  return o;
}

std::string StringField(const OJson& j, std::string_view key, std::string def) {
  if (!j.is_object()) return def;
  auto it = j.find(std::string(key));
  if (it == j.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

std::string Render(const OJson& j, bool pretty) {
  return j.dump(pretty ? 2 : -1, ' ', false, OJson::error_handler_t::replace) + "\n";
}

}  // namespace sbx::cli
