// Template endpoints (docs/api.md): list and show with build state, build with progress
// streamed as NDJSON, remove.
#include "api/routes.h"
#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

json DefinitionJson(const spec::Template& t) {
  char mem[32];
  if (t.memory_bytes % (1LL << 30) == 0)
    std::snprintf(mem, sizeof mem, "%lldGB", static_cast<long long>(t.memory_bytes >> 30));
  else
    std::snprintf(mem, sizeof mem, "%lldMB", static_cast<long long>(t.memory_bytes >> 20));
  return json{{"template", t.key},          {"name", t.name},
              {"base_image", t.base_image}, {"cpus", t.cpus},
              {"memory", mem},              {"memory_bytes", t.memory_bytes},
              {"timeout", t.timeout_s},     {"environment", t.environment},
              {"packages", t.packages},     {"python_packages", t.python_packages},
              {"npm_packages", t.npm_packages}, {"startup", t.startup},
              {"features", t.features},     {"pids_max", t.pids_max},
              {"disk_bytes", t.disk_bytes}, {"inodes", t.inodes},
              {"aliases", t.aliases}};
}

json TemplateJson(const sandbox::TemplateView& v, bool detail) {
  json j = DefinitionJson(v.definition);
  j["host"] = v.host;
  j["built"] = v.host || v.current.has_value();
  j["up_to_date"] = v.up_to_date();
  if (!v.host) j["hash"] = v.wanted_hash;
  if (v.current) {
    const templates::VersionInfo& c = *v.current;
    j["version"] = c.version;
    j["built_hash"] = c.hash;
    j["size_bytes"] = c.size_bytes;
    j["built_at"] = ToRfc3339(c.built_at_ms);
    j["build_seconds"] = c.duration_s;
    j["in_use"] = c.pins;
    if (detail) {
      j["build_log"] = c.log_path;
      j["rootfs"] = c.rootfs_dir;
      j["image_env"] = c.env;
      j["debian_packages"] = c.debian_packages;
      j["pip_packages"] = c.pip_packages;
      j["installed_npm_packages"] = c.npm_packages;
    }
  }
  return j;
}

bool Truthy(const std::string& s) { return s == "1" || s == "true" || s == "yes"; }

}  // namespace

Response Router::Templates() {
  auto all = manager_->ListTemplates();
  if (!all.ok()) return ErrorResponse(all.error());
  json list = json::array();
  for (const auto& v : *all) list.push_back(TemplateJson(v, false));
  return JsonResponse(200, {{"success", true}, {"templates", list}});
}

Response Router::GetTemplate(const std::string& name) {
  auto v = manager_->GetTemplate(name);
  if (!v.ok()) return ErrorResponse(v.error());
  json j = TemplateJson(*v, true);
  j["success"] = true;
  return JsonResponse(200, j);
}

Response Router::BuildTemplate(const std::string& name, const Request& req) {
  bool force = Truthy(req.Query("force"));
  if (!req.body.empty()) {
    json b = json::parse(req.body, nullptr, false);
    if (b.is_discarded() || !b.is_object())
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "request body: expected a JSON object such as {\"force\": true}"));
    if (auto f = b.find("force"); f != b.end()) {
      if (!f->is_boolean())
        return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "request.force: expected true or false"));
      force = force || f->get<bool>();
    }
  }
  // Errors that need no build answer at once with their status.
  auto view = manager_->GetTemplate(name);
  if (!view.ok()) return ErrorResponse(view.error());
  Response r;
  r.status = 200;
  r.content_type = "application/x-ndjson";
  sandbox::SandboxManager* manager = manager_;
  std::string request_id = req.request_id;
  r.stream = [manager, name, force, request_id](const ChunkWriter& write) {
    auto line = [&](const json& j) {
      (void)write(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    };
    auto result = manager->BuildTemplate(
        name, [&](const templates::Progress& p) { line({{"progress", p.ToJson()}}); }, force);
    if (result.ok()) {
      json j = result->ToJson();
      j["success"] = true;
      j["template"] = name;
      line(j);
    } else {
      const Error& e = result.error();
      line({{"success", false},
            {"template", name},
            {"error", {{"code", ErrorCodeName(e.code)}, {"message", e.ToString()}}}});
    }
    log::Info("template.build_request", {{"request_id", request_id}, {"template", name},
                                         {"ok", result.ok()}});
  };
  return r;
}

Response Router::RemoveTemplate(const std::string& name) {
  auto r = manager_->RemoveTemplate(name);
  if (!r.ok()) return ErrorResponse(r.error());
  return JsonResponse(200, {{"success", true}, {"template", name}, {"removed", true}});
}

}  // namespace sbx::api
