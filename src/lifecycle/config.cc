// LifecycleConfig JSON and validation (see config.h).
#include "lifecycle/config.h"

#include <set>

#include "protocol/base64.h"

namespace sbx::lifecycle {
namespace {

using nlohmann::json;

Error Bad(const std::string& field, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "lifecycle." + field + ": " + why);
}

Result<double> Number(const json& j, const char* key, double def, double lo, double hi) {
  if (!j.contains(key)) return def;
  if (!j[key].is_number()) return Bad(key, "must be a number");
  double v = j[key].get<double>();
  if (!(v >= lo && v <= hi))
    return Bad(key, "must be between " + std::to_string(static_cast<int64_t>(lo)) + " and " +
                        std::to_string(static_cast<int64_t>(hi)));
  return v;
}

Result<bool> Bool(const json& j, const char* key, bool def) {
  if (!j.contains(key)) return def;
  if (!j[key].is_boolean()) return Bad(key, "must be true or false");
  return j[key].get<bool>();
}

Result<Script> ParseScript(const json& s, const std::string& field) {
  Script out;
  if (s.is_string()) {
    out.code = s.get<std::string>();
  } else if (s.is_object()) {
    for (auto it = s.begin(); it != s.end(); ++it)
      if (it.key() != "language" && it.key() != "code" && it.key() != "timeout")
        return Bad(field + "." + it.key(), "unknown field");
    if (!s.contains("code") || !s["code"].is_string())
      return Bad(field + ".code", "is required (a string)");
    out.code = s["code"].get<std::string>();
    if (s.contains("language")) {
      if (!s["language"].is_string()) return Bad(field + ".language", "must be a string");
      auto lang = spec::ParseLanguage(s["language"].get<std::string>());
      if (!lang.ok()) return Bad(field + ".language", lang.error().message);
      out.language = *lang;
    }
    ASSIGN_OR_RETURN(out.timeout_s, Number(s, "timeout", 0, 0, spec::kMaxExecTimeoutS));
  } else {
    return Bad(field, "must be code (a string) or {\"language\", \"code\"}");
  }
  if (out.code.empty()) return Bad(field, "code must not be empty");
  if (out.code.size() > spec::kMaxCodeBytes) return Bad(field, "code is too long");
  return out;
}

}  // namespace

Result<LifecycleConfig> LifecycleConfigFromJson(const json& j) {
  if (!j.is_object()) return Bad("body", "must be a JSON object");
  static const std::set<std::string> kKnown = {
      "sandbox_id",       "template",         "timeout",         "max_retries", "retry_delay",
      "cleanup_on_error", "monitor_interval", "enable_webhooks", "environment", "files",
      "scripts"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kKnown.count(it.key())) return Bad(it.key(), "unknown field");
  LifecycleConfig c;
  if (j.contains("sandbox_id") && !j["sandbox_id"].is_null()) {
    if (!j["sandbox_id"].is_string()) return Bad("sandbox_id", "must be a string");
    c.sandbox_id = j["sandbox_id"].get<std::string>();
    if (!c.sandbox_id.empty()) {
      auto v = spec::ValidateSandboxId(c.sandbox_id);
      if (!v.ok()) return Bad("sandbox_id", v.error().message);
    }
  }
  if (j.contains("template")) {
    if (!j["template"].is_string() || j["template"].get<std::string>().empty())
      return Bad("template", "must be a template name");
    c.template_name = j["template"].get<std::string>();
  }
  ASSIGN_OR_RETURN(double timeout, Number(j, "timeout", 300, 1, kMaxLifecycleTimeoutS));
  c.timeout_s = static_cast<int64_t>(timeout);
  ASSIGN_OR_RETURN(double retries, Number(j, "max_retries", 3, 0, kMaxRetries));
  if (retries != static_cast<int>(retries)) return Bad("max_retries", "must be a whole number");
  c.max_retries = static_cast<int>(retries);
  ASSIGN_OR_RETURN(c.retry_delay_s, Number(j, "retry_delay", 5, 0, 3600));
  ASSIGN_OR_RETURN(c.monitor_interval_s, Number(j, "monitor_interval", 5, 0, 3600));
  if (c.monitor_interval_s > 0 && c.monitor_interval_s < 0.1)
    return Bad("monitor_interval", "must be 0 (off) or at least 0.1");
  ASSIGN_OR_RETURN(c.cleanup_on_error, Bool(j, "cleanup_on_error", true));
  ASSIGN_OR_RETURN(c.enable_webhooks, Bool(j, "enable_webhooks", true));
  if (j.contains("environment")) {
    if (!j["environment"].is_object()) return Bad("environment", "must be an object");
    for (auto it = j["environment"].begin(); it != j["environment"].end(); ++it) {
      if (!it.value().is_string()) return Bad("environment." + it.key(), "must be a string");
      c.environment[it.key()] = it.value().get<std::string>();
    }
    auto v = spec::ValidateEnv(c.environment, "lifecycle.environment");
    if (!v.ok()) return v.error();
  }
  if (j.contains("files")) {
    if (!j["files"].is_array()) return Bad("files", "must be an array");
    if (j["files"].size() > kMaxFiles) return Bad("files", "too many files");
    size_t total = 0;
    for (size_t i = 0; i < j["files"].size(); ++i) {
      const json& f = j["files"][i];
      std::string field = "files[" + std::to_string(i) + "]";
      if (!f.is_object()) return Bad(field, "must be {\"path\", \"content\"}");
      for (auto it = f.begin(); it != f.end(); ++it)
        if (it.key() != "path" && it.key() != "content" && it.key() != "content_base64")
          return Bad(field + "." + it.key(), "unknown field");
      FileUpload up;
      if (!f.contains("path") || !f["path"].is_string() ||
          f["path"].get<std::string>().rfind('/', 0) != 0)
        return Bad(field + ".path", "must be an absolute path");
      up.path = f["path"].get<std::string>();
      if (f.contains("content") == f.contains("content_base64"))
        return Bad(field, "needs exactly one of content, content_base64");
      if (f.contains("content")) {
        if (!f["content"].is_string()) return Bad(field + ".content", "must be a string");
        up.content = f["content"].get<std::string>();
      } else {
        if (!f["content_base64"].is_string())
          return Bad(field + ".content_base64", "must be a string");
        auto d = protocol::Base64Decode(f["content_base64"].get<std::string>());
        if (!d.ok()) return Bad(field + ".content_base64", d.error().message);
        up.content = std::move(*d);
      }
      total += up.content.size();
      if (total > kMaxFilesBytes) return Bad("files", "more than 64 MiB in all");
      c.files.push_back(std::move(up));
    }
  }
  if (j.contains("scripts")) {
    if (!j["scripts"].is_array()) return Bad("scripts", "must be an array");
    if (j["scripts"].size() > kMaxScripts) return Bad("scripts", "too many scripts");
    for (size_t i = 0; i < j["scripts"].size(); ++i) {
      ASSIGN_OR_RETURN(Script s,
                       ParseScript(j["scripts"][i], "scripts[" + std::to_string(i) + "]"));
      c.scripts.push_back(std::move(s));
    }
  }
  return c;
}

json ToJson(const LifecycleConfig& c) {
  json j;
  j["sandbox_id"] = c.sandbox_id;
  j["template"] = c.template_name;
  j["timeout"] = c.timeout_s;
  j["max_retries"] = c.max_retries;
  j["retry_delay"] = c.retry_delay_s;
  j["cleanup_on_error"] = c.cleanup_on_error;
  j["monitor_interval"] = c.monitor_interval_s;
  j["enable_webhooks"] = c.enable_webhooks;
  j["environment"] = c.environment;
  j["files"] = json::array();
  for (const auto& f : c.files)
    j["files"].push_back({{"path", f.path}, {"content_base64", protocol::Base64Encode(f.content)}});
  j["scripts"] = json::array();
  for (const auto& s : c.scripts) {
    json sj = {{"language", spec::LanguageName(s.language)}, {"code", s.code}};
    if (s.timeout_s > 0) sj["timeout"] = s.timeout_s;
    j["scripts"].push_back(std::move(sj));
  }
  return j;
}

}  // namespace sbx::lifecycle
