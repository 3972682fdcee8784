#include "spec/spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace sbx::spec {
namespace {

using nlohmann::json;

Error Invalid(std::string msg) { return MakeError(ErrorCode::kInvalidArgument, std::move(msg)); }

const char* TypeName(const json& j) { return j.type_name(); }

// Rejects keys not in `allowed`, naming the first unknown one.
Result<void> CheckKeys(const json& obj, const std::set<std::string>& allowed,
                       const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key()))
      return Invalid(where + ": unknown field '" + it.key() + "'");
  }
  return Ok();
}

Result<std::string> GetString(const json& obj, const char* key, const std::string& where,
                              bool required, std::string def = "") {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Invalid(where + ": missing required field '" + key + "'");
    return def;
  }
  if (!it->is_string())
    return Invalid(where + "." + key + ": expected a string, got " + TypeName(*it));
  return it->get<std::string>();
}

Result<double> GetNumber(const json& obj, const char* key, const std::string& where, double def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_number())
    return Invalid(where + "." + key + ": expected a number, got " + TypeName(*it));
  double v = it->get<double>();
  if (!std::isfinite(v)) return Invalid(where + "." + key + ": not a finite number");
  return v;
}

// A byte size: a string such as "2GB" (ParseByteSize) or a whole number of bytes.
Result<bool> GetBool(const json& obj, const char* key, const std::string& where, bool def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean())
    return Invalid(where + "." + key + ": expected true or false, got " + TypeName(*it));
  return it->get<bool>();
}

Result<int64_t> GetSize(const json& obj, const char* key, const std::string& where, int64_t def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  Result<int64_t> bytes = it->is_string() ? ParseByteSize(it->get<std::string>())
                          : it->is_number_integer()
                              ? Result<int64_t>(it->get<int64_t>())
                              : Result<int64_t>(Invalid("expected a size such as \"2GB\""));
  if (!bytes.ok()) return Invalid(where + "." + key + ": " + bytes.error().message);
  return *bytes;
}

Result<std::vector<std::string>> GetStringList(const json& obj, const char* key,
                                               const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array())
    return Invalid(where + "." + key + ": expected an array of strings, got " + TypeName(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    if (!e.is_string())
      return Invalid(where + "." + key + "[" + std::to_string(i) + "]: expected a string, got " +
                     TypeName(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<Env> GetEnv(const json& obj, const char* key, const std::string& where) {
  Env env;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return env;
  if (!it->is_object())
    return Invalid(where + "." + key + ": expected an object of strings, got " + TypeName(*it));
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (e->is_string()) env[e.key()] = e->get<std::string>();
    else if (e->is_number() || e->is_boolean()) env[e.key()] = e->dump();
    else
      return Invalid(where + "." + key + "." + e.key() + ": expected a string, got " +
                     TypeName(*e));
  }
  RETURN_IF_ERROR(ValidateEnv(env, where + "." + key));
  return env;
}

Result<Template> ParseTemplate(const std::string& key, const json& t, const std::string& where) {
  if (!t.is_object()) return Invalid(where + ": expected an object, got " + TypeName(t));
  RETURN_IF_ERROR(CheckKeys(t,
                            {"name", "baseImage", "cpus", "memory", "timeout", "environment",
                             "packages", "pythonPackages", "npmPackages", "startup", "features",
                             "pidsLimit", "disk", "inodes", "description", "aliases"},
                            where));
  Template out;
  out.key = key;
  ASSIGN_OR_RETURN(out.name, GetString(t, "name", where, false, key));
  ASSIGN_OR_RETURN(out.base_image, GetString(t, "baseImage", where, false, "host"));
  if (out.base_image.empty()) return Invalid(where + ".baseImage: must not be empty");
  ASSIGN_OR_RETURN(out.cpus, GetNumber(t, "cpus", where, 1));
  if (out.cpus <= 0 || out.cpus > 1024)
    return Invalid(where + ".cpus: must be in (0, 1024], got " + t["cpus"].dump());
  ASSIGN_OR_RETURN(out.memory_bytes, GetSize(t, "memory", where, out.memory_bytes));
  if (out.memory_bytes < (16LL << 20))
    return Invalid(where + ".memory: at least 16MB is needed, got " + t["memory"].dump());
  ASSIGN_OR_RETURN(out.disk_bytes, GetSize(t, "disk", where, out.disk_bytes));
  if (out.disk_bytes < kMinDiskBytes || out.disk_bytes > kMaxDiskBytes)
    return Invalid(where + ".disk: must be between 32MB and 16TB, got " + t["disk"].dump());
  double inodes = 0;
  // Without "inodes": the default, or as many as a small disk can hold.
  int64_t default_inodes = std::min(out.inodes, out.disk_bytes / kBytesPerInodeMin);
  ASSIGN_OR_RETURN(inodes, GetNumber(t, "inodes", where, static_cast<double>(default_inodes)));
  if (inodes != std::floor(inodes) || inodes < kMinInodes || inodes > 4294967295.0)
    return Invalid(where + ".inodes: must be a whole number between 1024 and 4294967295, got " +
                   t["inodes"].dump());
  out.inodes = static_cast<int64_t>(inodes);
  if (out.inodes > out.disk_bytes / kBytesPerInodeMin)
    return Invalid(where + ".inodes: at most one inode per KiB of disk (" +
                   std::to_string(out.disk_bytes / kBytesPerInodeMin) + " for this disk), got " +
                   std::to_string(out.inodes));
  double timeout = 0;
  ASSIGN_OR_RETURN(timeout, GetNumber(t, "timeout", where, 300));
  if (timeout < 1 || timeout > 30 * 86400)
    return Invalid(where + ".timeout: must be between 1 and 2592000 seconds");
  out.timeout_s = static_cast<int64_t>(timeout);
  double pids = 0;
  ASSIGN_OR_RETURN(pids, GetNumber(t, "pidsLimit", where, 512));
  if (pids < 8 || pids > 1 << 22) return Invalid(where + ".pidsLimit: must be between 8 and 4194304");
  out.pids_max = static_cast<int64_t>(pids);
  ASSIGN_OR_RETURN(out.environment, GetEnv(t, "environment", where));
  ASSIGN_OR_RETURN(out.packages, GetStringList(t, "packages", where));
  ASSIGN_OR_RETURN(out.python_packages, GetStringList(t, "pythonPackages", where));
  ASSIGN_OR_RETURN(out.npm_packages, GetStringList(t, "npmPackages", where));
  ASSIGN_OR_RETURN(out.startup, GetStringList(t, "startup", where));
  ASSIGN_OR_RETURN(out.features, GetStringList(t, "features", where));
  ASSIGN_OR_RETURN(out.aliases, GetStringList(t, "aliases", where));
  return out;
}

}  // namespace

Limits Template::ToLimits() const {
  Limits l;
  l.memory_bytes = memory_bytes;
  l.cpus = cpus;
  l.pids_max = pids_max;
  l.disk_bytes = disk_bytes;
  l.inodes = inodes;
  return l;
}

Result<int64_t> ParseByteSize(std::string_view text) {
  std::string s;
  for (char c : text)
    if (c != ' ') s.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (s.empty()) return Invalid("empty size");
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return Invalid("'" + std::string(text) + "' is not a size such as \"512MB\"");
  double num = 0;
  try {
    num = std::stod(s.substr(0, i));
  } catch (...) {
    return Invalid("'" + std::string(text) + "' is not a size such as \"512MB\"");
  }
  std::string unit = s.substr(i);
  double mult = 1;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TB" || unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
  else return Invalid("unknown unit '" + unit + "' in '" + std::string(text) + "' (use B, KB, MB, GB, TB)");
  double v = num * mult;
  if (!std::isfinite(v) || v > 9.0e18) return Invalid("size '" + std::string(text) + "' is too large");
  return static_cast<int64_t>(v);
}

Result<void> ValidateSandboxId(std::string_view id) {
  if (id.empty()) return Invalid("sandbox id must not be empty");
  if (id.size() > 64)
    return Invalid("sandbox id is " + std::to_string(id.size()) + " characters long; at most 64");
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return Invalid("sandbox id '" + std::string(id) +
                     "' may contain only lowercase letters, digits and '_'");
  }
  return Ok();
}

Result<void> ValidateEnv(const Env& env, std::string_view field) {
  for (const auto& [k, v] : env) {
    bool ok = !k.empty() && k.size() <= 256 &&
              (std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_');
    for (char c : k) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok)
      return Invalid(std::string(field) + ": '" + k +
                     "' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (v.find('\0') != std::string::npos)
      return Invalid(std::string(field) + "." + k + ": value contains a NUL byte");
    if (v.size() > (128 << 10))
      return Invalid(std::string(field) + "." + k + ": value longer than 128 KiB");
  }
  return Ok();
}

namespace {

// Aliases: names as template keys are, unique across templates, never another template's key.
Result<void> CheckAliases(const TemplatesConfig& cfg, const std::string& src) {
  std::map<std::string, std::string> owner;  // alias -> template key
  for (const auto& [key, t] : cfg.templates) {
    for (size_t i = 0; i < t.aliases.size(); ++i) {
      const std::string& a = t.aliases[i];
      std::string where = src + ": templates." + key + ".aliases[" + std::to_string(i) + "]";
      bool ok = !a.empty() && a.size() <= 64;
      for (char c : a)
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
      if (!ok)
        return Invalid(where + ": '" + a +
                       "': aliases are 1 to 64 letters, digits, '-', '_' or '.'");
      if (cfg.templates.count(a))
        return Invalid(where + ": '" + a + "' is the name of a template");
      auto [it, fresh] = owner.emplace(a, key);
      if (!fresh)
        return Invalid(where + ": '" + a + "' is already an alias of template '" + it->second +
                       "'");
    }
  }
  return Ok();
}

}  // namespace

const Template* FindTemplate(const TemplatesConfig& config, const std::string& name) {
  if (auto it = config.templates.find(name); it != config.templates.end()) return &it->second;
  for (const auto& [key, t] : config.templates)
    for (const auto& a : t.aliases)
      if (a == name) return &t;
  return nullptr;
}

Result<TemplatesConfig> ParseTemplatesConfig(std::string_view json_text, std::string_view source) {
  std::string src(source);
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Invalid(src + ": not valid JSON");
  if (!root.is_object()) return Invalid(src + ": expected a JSON object at the top level");
  RETURN_IF_ERROR(CheckKeys(root, {"templates", "monitoring", "security", "version"}, src));
  TemplatesConfig cfg;
  auto tpls = root.find("templates");
  if (tpls == root.end() || !tpls->is_object())
    return Invalid(src + ": missing 'templates' object");
  if (tpls->empty()) return Invalid(src + ": 'templates' defines no template");
  for (auto it = tpls->begin(); it != tpls->end(); ++it) {
    std::string where = src + ": templates." + it.key();
    if (it.key().empty() || it.key().size() > 64)
      return Invalid(where + ": template names must be 1 to 64 characters");
    for (char c : it.key())
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        return Invalid(where + ": template names may contain only letters, digits, '-', '_', '.'");
    ASSIGN_OR_RETURN(Template t, ParseTemplate(it.key(), *it, where));
    cfg.templates.emplace(it.key(), std::move(t));
  }
  RETURN_IF_ERROR(CheckAliases(cfg, src));
  if (auto mon = root.find("monitoring"); mon != root.end() && !mon->is_null()) {
    std::string where = src + ": monitoring";
    if (!mon->is_object()) return Invalid(where + ": expected an object");
    RETURN_IF_ERROR(CheckKeys(*mon, {"alertThresholds", "enabled", "interval"}, where));
    if (auto th = mon->find("alertThresholds"); th != mon->end()) {
      std::string w = where + ".alertThresholds";
      if (!th->is_object()) return Invalid(w + ": expected an object");
      RETURN_IF_ERROR(CheckKeys(
          *th, {"cpuUsagePercent", "memoryUsagePercent", "diskUsagePercent", "timeoutSeconds"}, w));
      AlertThresholds& a = cfg.alert_thresholds;
      ASSIGN_OR_RETURN(a.cpu_usage_percent, GetNumber(*th, "cpuUsagePercent", w, 80));
      ASSIGN_OR_RETURN(a.memory_usage_percent, GetNumber(*th, "memoryUsagePercent", w, 85));
      ASSIGN_OR_RETURN(a.disk_usage_percent, GetNumber(*th, "diskUsagePercent", w, 90));
      double t = 0;
      ASSIGN_OR_RETURN(t, GetNumber(*th, "timeoutSeconds", w, 300));
      a.timeout_seconds = static_cast<int64_t>(t);
      for (double p : {a.cpu_usage_percent, a.memory_usage_percent, a.disk_usage_percent})
        if (p <= 0 || p > 100) return Invalid(w + ": percentages must be in (0, 100]");
      if (a.timeout_seconds <= 0) return Invalid(w + ".timeoutSeconds: must be positive");
    }
  }
  if (auto sec = root.find("security"); sec != root.end() && !sec->is_null()) {
    std::string where = src + ": security";
    if (!sec->is_object()) return Invalid(where + ": expected an object");
    RETURN_IF_ERROR(CheckKeys(*sec, {"rateLimit", "apiKeyRotationDays", "networkIsolation"}, where));
    if (auto rl = sec->find("rateLimit"); rl != sec->end()) {
      std::string w = where + ".rateLimit";
      if (!rl->is_object()) return Invalid(w + ": expected an object");
      RETURN_IF_ERROR(CheckKeys(*rl, {"enabled", "requestsPerMinute", "requestsPerHour"}, w));
      RateLimit& r = cfg.rate_limit;
      if (auto en = rl->find("enabled"); en != rl->end()) {
        if (!en->is_boolean()) return Invalid(w + ".enabled: expected true or false");
        r.enabled = en->get<bool>();
      }
      double rpm = 0, rph = 0;
      ASSIGN_OR_RETURN(rpm, GetNumber(*rl, "requestsPerMinute", w, 100));
      ASSIGN_OR_RETURN(rph, GetNumber(*rl, "requestsPerHour", w, 5000));
      if (rpm < 1 || rph < 1) return Invalid(w + ": limits must be at least 1");
      r.requests_per_minute = static_cast<int64_t>(rpm);
      r.requests_per_hour = static_cast<int64_t>(rph);
    }
  }
  return cfg;
}

Result<SandboxSpec> SandboxSpecFromJson(const json& j) {
  if (!j.is_object()) return Invalid("request body: expected a JSON object");
  RETURN_IF_ERROR(CheckKeys(j,
                            {"template", "sandbox_id", "env", "timeout", "metadata", "on_timeout",
                             "auto_resume", "public_traffic"},
                            "request"));
  SandboxSpec s;
  ASSIGN_OR_RETURN(s.template_name, GetString(j, "template", "request", false, ""));
  ASSIGN_OR_RETURN(s.id, GetString(j, "sandbox_id", "request", false, ""));
  if (!s.id.empty()) RETURN_IF_ERROR(ValidateSandboxId(s.id));
  ASSIGN_OR_RETURN(s.env, GetEnv(j, "env", "request"));
  double timeout = 0;
  ASSIGN_OR_RETURN(timeout, GetNumber(j, "timeout", "request", 0));
  if (timeout < 0 || timeout > 30 * 86400)
    return Invalid("request.timeout: must be between 0 and 2592000 seconds");
  s.timeout_s = static_cast<int64_t>(timeout);
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) return Invalid("request.metadata: expected an object of strings");
    for (auto e = m->begin(); e != m->end(); ++e)
      if (!e->is_string()) return Invalid("request.metadata." + e.key() + ": expected a string");
    s.metadata = *m;
  }
  std::string on_timeout;
  ASSIGN_OR_RETURN(on_timeout, GetString(j, "on_timeout", "request", false, "stop"));
  ASSIGN_OR_RETURN(s.on_timeout, ParseOnTimeout(on_timeout));
  ASSIGN_OR_RETURN(s.auto_resume, GetBool(j, "auto_resume", "request", false));
  ASSIGN_OR_RETURN(s.public_traffic, GetBool(j, "public_traffic", "request", true));
  return s;
}

json ToJson(const SandboxSpec& s) {
  return json{{"template", s.template_name},
              {"sandbox_id", s.id},
              {"env", s.env},
              {"timeout", s.timeout_s},
              {"metadata", s.metadata},
              {"on_timeout", OnTimeoutName(s.on_timeout)},
              {"auto_resume", s.auto_resume},
              {"public_traffic", s.public_traffic}};
}

const char* OnTimeoutName(OnTimeout o) { return o == OnTimeout::kPause ? "pause" : "stop"; }

Result<OnTimeout> ParseOnTimeout(std::string_view s) {
  if (s == "stop") return OnTimeout::kStop;
  if (s == "pause") return OnTimeout::kPause;
  return Invalid("request.on_timeout: unknown value '" + std::string(s) +
                 "' (expected \"stop\" or \"pause\")");
}

Result<Language> ParseLanguage(std::string_view s) {
  if (s == "python" || s == "python3" || s == "py") return Language::kPython;
  if (s == "node" || s == "javascript" || s == "js" || s == "nodejs") return Language::kNode;
  if (s == "bash") return Language::kBash;
  if (s == "sh" || s == "shell") return Language::kSh;
  return Invalid("unknown language '" + std::string(s) + "' (use python, node, bash or sh)");
}

const char* LanguageName(Language l) {
  switch (l) {
    case Language::kPython: return "python";
    case Language::kNode: return "node";
    case Language::kBash: return "bash";
    case Language::kSh: return "sh";
  }
  return "python";
}

Result<ExecRequest> ExecRequestFromJson(const json& j) {
  if (!j.is_object()) return Invalid("request body: expected a JSON object");
  RETURN_IF_ERROR(
      CheckKeys(j, {"language", "code", "timeout", "env", "cwd", "user"}, "request"));
  ExecRequest r;
  std::string lang;
  ASSIGN_OR_RETURN(lang, GetString(j, "language", "request", false, "python"));
  ASSIGN_OR_RETURN(r.language, ParseLanguage(lang));
  ASSIGN_OR_RETURN(r.code, GetString(j, "code", "request", true));
  if (r.code.size() > kMaxCodeBytes)
    return MakeError(ErrorCode::kResourceExhausted,
                     "request.code: " + std::to_string(r.code.size()) + " bytes; at most " +
                         std::to_string(kMaxCodeBytes));
  if (r.code.find('\0') != std::string::npos)
    return Invalid("request.code: contains a NUL byte");
  ASSIGN_OR_RETURN(r.timeout_s, GetNumber(j, "timeout", "request", 60));
  if (r.timeout_s <= 0 || r.timeout_s > kMaxExecTimeoutS)
    return Invalid("request.timeout: must be greater than 0 and at most 86400 seconds");
  ASSIGN_OR_RETURN(r.env, GetEnv(j, "env", "request"));
  ASSIGN_OR_RETURN(r.cwd, GetString(j, "cwd", "request", false, ""));
  if (r.cwd.find('\0') != std::string::npos) return Invalid("request.cwd: contains a NUL byte");
  ASSIGN_OR_RETURN(r.user, GetString(j, "user", "request", false, "user"));
  if (r.user != "user" && r.user != "root")
    return Invalid("request.user: must be 'user' or 'root', got '" + r.user + "'");
  return r;
}

json ToJson(const ExecRequest& r) {
  return json{{"language", LanguageName(r.language)}, {"code", r.code}, {"timeout", r.timeout_s},
              {"env", r.env}, {"cwd", r.cwd}, {"user", r.user}};
}

std::vector<std::string> InterpreterArgv(Language l, const std::string& code) {
  switch (l) {
    case Language::kPython: return {"python3", "-c", code};
    case Language::kNode: return {"node", "-e", code};
    case Language::kBash: return {"bash", "-c", code};
    case Language::kSh: return {"sh", "-c", code};
  }
  return {};
}

std::vector<std::string> InterpreterArgvForFile(Language l, const std::string& path) {
  switch (l) {
    case Language::kPython: return {"python3", path};
    case Language::kNode: return {"node", path};
    case Language::kBash: return {"bash", path};
    case Language::kSh: return {"sh", path};
  }
  return {};
}

const char* ExecStatusName(ExecStatus s) {
  switch (s) {
    case ExecStatus::kCompleted: return "completed";
    case ExecStatus::kFailed: return "failed";
    case ExecStatus::kTimeout: return "timeout";
    case ExecStatus::kOom: return "oom";
    case ExecStatus::kKilled: return "killed";
    case ExecStatus::kError: return "error";
  }
  return "error";
}

Result<ExecStatus> ParseExecStatus(std::string_view s) {
  for (ExecStatus st : {ExecStatus::kCompleted, ExecStatus::kFailed, ExecStatus::kTimeout,
                        ExecStatus::kOom, ExecStatus::kKilled, ExecStatus::kError})
    if (s == ExecStatusName(st)) return st;
  return Invalid("unknown execution status '" + std::string(s) +
                 "' (completed, failed, timeout, oom, killed, error)");
}

json ToJson(const ExecResult& r) {
  json j{{"success", r.success()},
         {"status", ExecStatusName(r.status)},
         {"exit_code", r.exit_code},
         {"stdout", r.stdout_data},
         {"stderr", r.stderr_data},
         {"execution_time", r.execution_time}};
  if (r.signal) j["signal"] = r.signal;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (r.stdout_truncated) j["stdout_truncated"] = true;
  if (r.stderr_truncated) j["stderr_truncated"] = true;
  return j;
}

Result<ExecResult> ExecResultFromJson(const json& j) {
  if (!j.is_object()) return Invalid("execution result: expected an object");
  ExecResult r;
  std::string st;
  ASSIGN_OR_RETURN(st, GetString(j, "status", "result", true));
  ASSIGN_OR_RETURN(r.status, ParseExecStatus(st));
  r.exit_code = j.value("exit_code", -1);
  r.signal = j.value("signal", 0);
  r.stdout_data = j.value("stdout", "");
  r.stderr_data = j.value("stderr", "");
  r.execution_time = j.value("execution_time", 0.0);
  r.reason = j.value("reason", "");
  r.stdout_truncated = j.value("stdout_truncated", false);
  r.stderr_truncated = j.value("stderr_truncated", false);
  return r;
}

}  // namespace sbx::spec
