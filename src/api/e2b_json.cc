#include "api/e2b_json.h"

#include <algorithm>
#include <cmath>

#include "api/e2b_version.h"
#include "api/routes.h"
#include "common/util.h"

namespace sbx::api::e2b {
namespace {

using nlohmann::json;

Error Invalid(const std::string& message) { return MakeError(ErrorCode::kInvalidArgument, message); }

Result<std::map<std::string, std::string>> StringMap(const json& body, const char* key) {
  std::map<std::string, std::string> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object()) return Invalid(std::string(key) + ": expected an object of strings");
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e->is_string())
      return Invalid(std::string(key) + "." + e.key() + ": expected a string");
    out[e.key()] = e->get<std::string>();
  }
  return out;
}

Result<bool> Bool(const json& obj, const char* key, bool def, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) return Invalid(where + key + ": expected true or false");
  return it->get<bool>();
}

json Limits(const store::SandboxRecord& r) {
  json l = json::parse(r.limits_json, nullptr, false);
  return l.is_object() ? l : json::object();
}

json Metadata(const store::SandboxRecord& r) {
  json m = json::parse(r.metadata_json, nullptr, false);
  return m.is_object() ? m : json::object();
}

}  // namespace

bool IsE2bPath(const std::string& path) {
  std::vector<std::string> p = Router::SplitPath(path);
  if (p.empty()) return false;
  if (p[0] == "v1") return false;
  return !(p.size() == 1 && (p[0] == "health" || p[0] == "metrics"));
}

Response ErrorJson(int status, const std::string& message) {
  return JsonResponse(status, {{"code", status}, {"message", message}});
}

void ToE2bShape(Response& resp) {
  if (resp.status == 204) {
    resp.body.clear();
    return;
  }
  if (resp.status < 400 || resp.stream) return;
  json j = json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return;
  std::string message = j["error"].value("message", "");
  resp.body = json{{"code", resp.status}, {"message", message}}.dump();
  resp.content_type = "application/json";
}

Result<NewSandbox> ParseNewSandbox(const json& body) {
  if (!body.is_object()) return Invalid("request body: expected a JSON object");
  NewSandbox out;
  auto tpl = body.find("templateID");
  if (tpl == body.end() || !tpl->is_string() || tpl->get<std::string>().empty())
    return Invalid("templateID: required, a template name or alias (sbx templates list)");
  out.spec.template_name = tpl->get<std::string>();
  ASSIGN_OR_RETURN(out.spec.env, StringMap(body, "envVars"));
  RETURN_IF_ERROR(spec::ValidateEnv(out.spec.env, "envVars"));
  ASSIGN_OR_RETURN(auto metadata, StringMap(body, "metadata"));
  out.spec.metadata = metadata;
  out.spec.timeout_s = kDefaultTimeoutS;
  if (auto t = body.find("timeout"); t != body.end() && !t->is_null()) {
    ASSIGN_OR_RETURN(auto timeout, ParseTimeout(body, false));
    out.spec.timeout_s = *timeout;
  }
  ASSIGN_OR_RETURN(out.auto_pause, Bool(body, "autoPause", false, ""));
  if (auto r = body.find("autoResume"); r != body.end() && !r->is_null()) {
    if (!r->is_object()) return Invalid("autoResume: expected an object {\"enabled\": bool}");
    ASSIGN_OR_RETURN(out.auto_resume, Bool(*r, "enabled", false, "autoResume."));
  }
  if (auto n = body.find("network"); n != body.end() && !n->is_null()) {
    if (!n->is_object()) return Invalid("network: expected an object");
    ASSIGN_OR_RETURN(out.public_traffic, Bool(*n, "allowPublicTraffic", true, "network."));
  }
  // Accepted, not acted on (docs/e2b.md): secure (envd always wants its token),
  // allow_internet_access and the other network fields (sandboxes have loopback only).
  ASSIGN_OR_RETURN(bool secure, Bool(body, "secure", true, ""));
  ASSIGN_OR_RETURN(bool internet, Bool(body, "allow_internet_access", true, ""));
  (void)secure;
  (void)internet;
  return out;
}

Result<std::optional<int64_t>> ParseTimeout(const json& body, bool required) {
  if (!body.is_object()) return Invalid("request body: expected a JSON object");
  auto t = body.find("timeout");
  if (t == body.end() || t->is_null()) {
    if (required) return Invalid("timeout: required (seconds from now)");
    return std::optional<int64_t>();
  }
  double v = t->is_number() ? t->get<double>() : 0;
  if (!(v >= 1 && v <= static_cast<double>(kMaxTimeoutS) && std::floor(v) == v))
    return Invalid("timeout: must be a whole number of seconds from 1 to " +
                   std::to_string(kMaxTimeoutS));
  return std::optional<int64_t>(static_cast<int64_t>(v));
}

std::string NewSandboxId() { return "i" + RandomHex(10).substr(0, 19); }

const char* StateOf(const std::string& s) {
  if (s == "running") return "running";
  if (s == "paused") return "paused";
  return nullptr;
}

std::string EndAt(const store::SandboxRecord& r) {
  if (r.expires_at_ms <= 0) return "9999-12-31T23:59:59Z";
  return ToRfc3339(r.expires_at_ms);
}

json SandboxJson(const store::SandboxRecord& r, const Access& a) {
  return json{{"sandboxID", r.id},
              {"templateID", r.template_name},
              {"clientID", "sandboxd"},
              {"envdVersion", kEnvdVersion},
              {"envdAccessToken", a.envd_token},
              {"domain", a.domain.empty() ? json(nullptr) : json(a.domain)},
              {"trafficAccessToken", a.traffic_token ? json(*a.traffic_token) : json(nullptr)}};
}

json ListedSandboxJson(const store::SandboxRecord& r) {
  json l = Limits(r);
  const char* state = StateOf(r.state);
  return json{{"sandboxID", r.id},
              {"templateID", r.template_name},
              {"clientID", "sandboxd"},
              {"startedAt", ToRfc3339(r.created_at_ms)},
              {"endAt", EndAt(r)},
              {"state", state ? state : "running"},
              {"cpuCount", static_cast<int64_t>(std::ceil(l.value("cpus", 1.0)))},
              {"memoryMB", l.value("memory_bytes", int64_t{0}) >> 20},
              {"diskSizeMB", l.value("disk_bytes", int64_t{0}) >> 20},
              {"envdVersion", kEnvdVersion},
              {"metadata", Metadata(r)}};
}

json SandboxDetailJson(const store::SandboxRecord& r, const Access& a) {
  json j = ListedSandboxJson(r);
  j["envdAccessToken"] = a.envd_token;
  j["domain"] = a.domain.empty() ? json(nullptr) : json(a.domain);
  j["allowInternetAccess"] = false;  // loopback only until the networking issue
  j["lifecycle"] = {{"onTimeout", r.on_timeout == "pause" ? "pause" : "kill"},
                    {"autoResume", r.auto_resume}};
  return j;
}

json TemplateJson(const spec::Template& t, bool ready, const std::string& build_id,
                  int64_t built_at_ms) {
  std::string at = ToRfc3339(built_at_ms);
  return json{{"templateID", t.key},
              {"names", json::array({t.key})},
              {"aliases", t.aliases},
              {"buildID", build_id},
              {"buildStatus", ready ? "ready" : "waiting"},
              {"buildCount", build_id.empty() ? 0 : 1},
              {"cpuCount", static_cast<int64_t>(std::ceil(t.cpus))},
              {"memoryMB", t.memory_bytes >> 20},
              {"diskSizeMB", t.disk_bytes >> 20},
              {"envdVersion", kEnvdVersion},
              {"public", false},
              {"createdAt", at},
              {"updatedAt", at},
              {"createdBy", nullptr},
              {"lastSpawnedAt", nullptr},
              {"spawnCount", 0}};
}

Result<ListQuery> ParseListQuery(const std::map<std::string, std::string>& query) {
  ListQuery q;
  if (auto it = query.find("state"); it != query.end() && !it->second.empty()) {
    q.states.clear();
    size_t pos = 0;
    const std::string& s = it->second;
    while (pos <= s.size()) {
      size_t comma = std::min(s.find(',', pos), s.size());
      std::string one = s.substr(pos, comma - pos);
      if (one != "running" && one != "paused")
        return Invalid("query parameter 'state': '" + one + "' is not running or paused");
      q.states.insert(one);
      pos = comma + 1;
    }
  }
  if (auto it = query.find("metadata"); it != query.end() && !it->second.empty()) {
    std::map<std::string, std::string> pairs;
    if (!ParseQuery(it->second, &pairs))
      return Invalid("query parameter 'metadata': expected url-encoded key=value pairs");
    // The SDK encodes each key and value (encodeURIComponent) before URLSearchParams encodes
    // the pairs: decode them once more, as E2B's API does.
    for (const auto& [k, v] : pairs) {
      std::string key, value;
      if (!PercentDecode(k, &key) || !PercentDecode(v, &value))
        return Invalid("query parameter 'metadata': malformed percent-encoding");
      q.metadata[key] = value;
    }
  }
  if (auto it = query.find("limit"); it != query.end() && !it->second.empty()) {
    const std::string& s = it->second;
    bool digits = !s.empty() && s.size() <= 4 &&
                  std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    int64_t n = digits ? std::stoll(s) : 0;
    if (n < 1 || n > static_cast<int64_t>(kMaxListLimit))
      return Invalid("query parameter 'limit': must be an integer from 1 to 100");
    q.limit = static_cast<size_t>(n);
  }
  if (auto it = query.find("nextToken"); it != query.end() && !it->second.empty()) {
    ASSIGN_OR_RETURN(auto after, DecodeToken(it->second));
    q.after = std::move(after);
  }
  return q;
}

Page SelectPage(std::vector<store::SandboxRecord> records, const ListQuery& q) {
  auto key = [](const store::SandboxRecord& r) { return std::make_pair(r.created_at_ms, r.id); };
  std::erase_if(records, [&](const store::SandboxRecord& r) {
    const char* state = StateOf(r.state);
    if (state == nullptr || !q.states.count(state)) return true;
    if (q.after && !(key(r) > *q.after)) return true;
    if (!q.metadata.empty()) {
      json m = Metadata(r);
      for (const auto& [k, v] : q.metadata) {
        auto it = m.find(k);
        if (it == m.end() || !it->is_string() || it->get<std::string>() != v) return true;
      }
    }
    return false;
  });
  std::sort(records.begin(), records.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  Page page;
  if (records.size() > q.limit) {
    records.resize(q.limit);
    page.next_token = EncodeToken(records.back().created_at_ms, records.back().id);
  }
  page.items = std::move(records);
  return page;
}

std::string EncodeToken(int64_t created_at_ms, const std::string& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string plain = std::to_string(created_at_ms) + ":" + id, out;
  for (unsigned char c : plain) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<std::pair<int64_t, std::string>> DecodeToken(const std::string& token) {
  auto bad = [] { return Invalid("query parameter 'nextToken': not a token this server gave"); };
  if (token.empty() || token.size() % 2 != 0 || token.size() > 256) return bad();
  std::string plain;
  for (size_t i = 0; i < token.size(); i += 2) {
    int v = 0;
    for (size_t k = i; k < i + 2; ++k) {
      char c = token[k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return bad();
      v = v * 16 + d;
    }
    plain += static_cast<char>(v);
  }
  size_t colon = plain.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 18) return bad();
  int64_t ms = 0;
  for (size_t i = 0; i < colon; ++i) {
    if (plain[i] < '0' || plain[i] > '9') return bad();
    ms = ms * 10 + (plain[i] - '0');
  }
  std::string id = plain.substr(colon + 1);
  if (!spec::ValidateSandboxId(id).ok()) return bad();
  return std::make_pair(ms, id);
}

}  // namespace sbx::api::e2b
