// Key management routes (see key_routes.h).
#include "api/key_routes.h"

#include <limits>

#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

using nlohmann::json;

// An optional string field: kInvalidArgument naming it when present with another type.
Result<std::string> StringField(const json& body, const char* name, bool required) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required)
      return MakeError(ErrorCode::kInvalidArgument, std::string("request body: '") + name +
                                                        "' is required (a string)");
    return std::string();
  }
  if (!it->is_string())
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("request body: '") + name + "' must be a string, got " +
                         it->type_name());
  return it->get<std::string>();
}

// An optional integer field (def when absent); whole-valued numbers only.
Result<int> IntField(const json& body, const char* name, int def) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return def;
  if (it->is_number_integer()) {
    auto v = it->get<int64_t>();
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("request body: '") + name + "' is out of range");
    return static_cast<int>(v);
  }
  return MakeError(ErrorCode::kInvalidArgument, std::string("request body: '") + name +
                                                    "' must be an integer, got " +
                                                    it->type_name());
}

}  // namespace

int64_t KeyRoutes::Now() const { return clock_ ? clock_() : NowUnixMs(); }

std::vector<Route> KeyRoutes::Routes() {
  // Over TCP every key route answers 403, whatever the method (route_table.h).
  const std::string refusal =
      "API keys are managed only on sandboxd's unix socket, by its administrator "
      "(`sbx keys ...` on the host)";
  auto route = [&](const char* method, const char* pattern, RouteHandler h) {
    return Route{.method = method, .pattern = pattern, .handler = std::move(h),
                 .access = Access::kAdmin, .refusal = refusal};
  };
  return {
      route("POST", "/v1/keys", [this](const Request& req, const PathParams&) { return Create(req); }),
      route("GET", "/v1/keys", [this](const Request& req, const PathParams&) { return List(req); }),
      route("GET", "/v1/keys/{id}", [this](const Request&, const PathParams& p) { return Get(p["id"]); }),
      route("DELETE", "/v1/keys/{id}",
            [this](const Request&, const PathParams& p) { return Revoke(p["id"]); }),
      route("POST", "/v1/keys/{id}/rotate",
            [this](const Request& req, const PathParams& p) { return Rotate(p["id"], req); }),
  };
}

Response KeyRoutes::Create(const Request& req) {
  auto body = ParseJsonBody(req, false);
  if (!body.ok()) return ErrorResponse(body.error());
  auto tenant = StringField(*body, "tenant", true);
  if (!tenant.ok()) return ErrorResponse(tenant.error());
  auto name = StringField(*body, "name", false);
  if (!name.ok()) return ErrorResponse(name.error());
  auto ttl = IntField(*body, "ttl_days", auth::kDefaultKeyTtlDays);
  if (!ttl.ok()) return ErrorResponse(ttl.error());
  auto format_name = StringField(*body, "format", false);
  if (!format_name.ok()) return ErrorResponse(format_name.error());
  auto format = auth::ParseKeyFormat(format_name->empty() ? "sbx" : *format_name);
  if (!format.ok()) return ErrorResponse(format.error());
  auto created = keys_->Create(*tenant, *name, *ttl, *format);
  if (!created.ok()) return ErrorResponse(created.error());
  log::Info("auth.key_created", {{"key_id", created->info.id}, {"tenant", created->info.tenant},
                                 {"request_id", req.request_id}});
  json j = auth::KeyInfoToJson(created->info, Now());
  j["success"] = true;
  j["key"] = created->plaintext;
  return JsonResponse(201, j);
}

Response KeyRoutes::List(const Request& req) {
  auto keys = keys_->List(req.Query("tenant"));
  if (!keys.ok()) return ErrorResponse(keys.error());
  int64_t now = Now();
  json list = json::array();
  for (const auto& k : *keys) list.push_back(auth::KeyInfoToJson(k, now));
  return JsonResponse(200, {{"success", true}, {"keys", list}, {"count", list.size()}});
}

Response KeyRoutes::Get(const std::string& id) {
  auto k = keys_->Get(id);
  if (!k.ok()) return ErrorResponse(k.error());
  json j = auth::KeyInfoToJson(*k, Now());
  j["success"] = true;
  return JsonResponse(200, j);
}

Response KeyRoutes::Revoke(const std::string& id) {
  if (auto r = keys_->Revoke(id); !r.ok()) return ErrorResponse(r.error());
  log::Info("auth.key_revoked", {{"key_id", id}});
  return Get(id);
}

Response KeyRoutes::Rotate(const std::string& id, const Request& req) {
  auto body = ParseJsonBody(req, true);
  if (!body.ok()) return ErrorResponse(body.error());
  auto overlap = IntField(*body, "overlap_hours", auth::kDefaultRotationOverlapHours);
  if (!overlap.ok()) return ErrorResponse(overlap.error());
  auto ttl = IntField(*body, "ttl_days", auth::kDefaultKeyTtlDays);
  if (!ttl.ok()) return ErrorResponse(ttl.error());
  auto created = keys_->Rotate(id, *overlap, *ttl);
  if (!created.ok()) return ErrorResponse(created.error());
  log::Info("auth.key_rotated", {{"key_id", created->info.id}, {"rotated_from", id},
                                 {"tenant", created->info.tenant}, {"overlap_hours", *overlap},
                                 {"request_id", req.request_id}});
  json j = auth::KeyInfoToJson(created->info, Now());
  j["success"] = true;
  j["key"] = created->plaintext;
  auto old = keys_->Get(id);
  if (old.ok()) j["previous"] = auth::KeyInfoToJson(*old, Now());
  return JsonResponse(201, j);
}

}  // namespace sbx::api
