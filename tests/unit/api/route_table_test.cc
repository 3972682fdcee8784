// The route table: matching, method / access answers, metrics labels, and the daemon's v1
// routes held against docs/openapi.yaml.
#include "api/route_table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "api/batch_file_routes.h"
#include "api/event_routes.h"
#include "api/exec_routes.h"
#include "api/key_routes.h"
#include "api/metrics_routes.h"
#include "api/routes.h"

namespace sbx::api {
namespace {

RouteHandler Echo(std::string what) {
  return [what](const Request&, const PathParams& p) {
    return JsonResponse(200, {{"route", what}, {"id", p["id"]}, {"sub", p["sub"]}});
  };
}

Request Req(std::string method, std::string path, bool admin = false) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.admin = admin;
  return r;
}

nlohmann::json Body(const Response& r) { return nlohmann::json::parse(r.body); }

RouteTable Small() {
  RouteTable t;
  EXPECT_TRUE(t.AddAll({
                  {.method = "GET", .pattern = "/v1/things/{id}", .handler = Echo("get")},
                  {.method = "DELETE", .pattern = "/v1/things/{id}", .handler = Echo("delete"),
                   .access = Access::kAdmin, .refusal = "{method} {path}: not yours"},
                  {.method = "GET", .pattern = "/v1/things/stats", .handler = Echo("stats")},
                  {.method = "POST", .pattern = "/v1/things/{id}/subs/{sub}", .handler = Echo("sub")},
                  {.method = "POST", .pattern = "/v1/admin", .handler = Echo("admin"),
                   .access = Access::kAdmin},
                  {.method = "POST", .pattern = "/hook", .handler = Echo("hook"),
                   .access = Access::kKeyless, .label = "hook"},
              })
                  .ok());
  return t;
}

TEST(RouteTableTest, DispatchesWithParameters) {
  RouteTable t = Small();
  Response r = t.Dispatch(Req("GET", "/v1/things/t1"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["route"], "get");
  EXPECT_EQ(Body(r)["id"], "t1");
  r = t.Dispatch(Req("POST", "//v1/things/t2/subs/s9/"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["id"], "t2");
  EXPECT_EQ(Body(r)["sub"], "s9");
}

TEST(RouteTableTest, LiteralSegmentBeatsParameter) {
  RouteTable t = Small();
  EXPECT_EQ(Body(t.Dispatch(Req("GET", "/v1/things/stats")))["route"], "stats");
  // The literal pattern takes the path: its methods decide, not {id}'s.
  EXPECT_EQ(t.Dispatch(Req("DELETE", "/v1/things/stats", true)).status, 400);
}

TEST(RouteTableTest, WrongMethodIsNotAllowedAndUnknownPathIsNotFound) {
  RouteTable t = Small();
  Response r = t.Dispatch(Req("PUT", "/v1/things/t1"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find("not allowed"), std::string::npos);
  r = t.Dispatch(Req("GET", "/v1/things/t1/nope"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["error"]["message"], "no such endpoint: GET /v1/things/t1/nope");
}

TEST(RouteTableTest, AdminRoutesRefuseTcpWithTheirMessage) {
  RouteTable t = Small();
  Response r = t.Dispatch(Req("DELETE", "/v1/things/t1"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Body(r)["error"]["code"], "permission_denied");
  EXPECT_EQ(Body(r)["error"]["message"], "DELETE /v1/things/t1: not yours");
  EXPECT_EQ(t.Dispatch(Req("DELETE", "/v1/things/t1", true)).status, 200);
  // A path whose routes are all the administrator's: 403 whatever the method.
  r = t.Dispatch(Req("GET", "/v1/admin"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Body(r)["error"]["message"], "GET /v1/admin is only available to the administrator");
  EXPECT_EQ(t.Dispatch(Req("GET", "/v1/admin", true)).status, 400);
}

TEST(RouteTableTest, KeylessAndLabels) {
  RouteTable t = Small();
  EXPECT_TRUE(t.Keyless("POST", "/hook"));
  EXPECT_FALSE(t.Keyless("GET", "/hook"));
  EXPECT_FALSE(t.Keyless("GET", "/v1/things/x"));
  EXPECT_EQ(t.Label("/hook"), "hook");
  EXPECT_EQ(t.Label("/v1/things/x?y=1"), "/v1/things/{id}");
  EXPECT_EQ(t.Label("/v1/things/stats"), "/v1/things/stats");
  EXPECT_EQ(t.Label("/wp-admin/setup.php"), "unmatched");
}

TEST(RouteTableTest, RefusesDuplicatesAndMalformedPatterns) {
  RouteTable t = Small();
  EXPECT_FALSE(t.Add({.method = "GET", .pattern = "/v1/things/{other}", .handler = Echo("x")}).ok());
  EXPECT_FALSE(t.Add({.method = "GET", .pattern = "v1/x", .handler = Echo("x")}).ok());
  EXPECT_FALSE(t.Add({.method = "GET", .pattern = "/v1/{x", .handler = Echo("x")}).ok());
  EXPECT_FALSE(t.Add({.method = "GET", .pattern = "/v1/y"}).ok());
  EXPECT_TRUE(t.Add({.method = "PUT", .pattern = "/v1/things/{id}", .handler = Echo("x")}).ok());
}

// ------------------------------------------------------------------------------------------
// The daemon's routes (the groups main.cc registers; no handler runs, so no services).

class DaemonRoutes : public ::testing::Test {
 protected:
  DaemonRoutes() : router_(nullptr, ApiOptions{}) {
    EventServices none;
    std::vector<std::unique_ptr<RouteGroup>> groups;
    groups.push_back(std::make_unique<KeyRoutes>(nullptr));
    groups.push_back(MakeExecRoutes(nullptr));
    groups.push_back(MakeBatchFileRoutes(nullptr, ApiOptions{}));
    groups.push_back(std::make_unique<MetricsRoutes>(nullptr, nullptr, nullptr));
    groups.push_back(MakeEventRoutes(none));
    groups.push_back(MakeWebhookRoutes(none));
    groups.push_back(MakeLifecycleRoutes(none));
    for (auto& g : groups) {
      auto added = router_.AddGroup(std::move(g));
      EXPECT_TRUE(added.ok()) << added.error().ToString();
    }
  }
  const RouteTable& table() { return router_.table(); }
  Router router_;
};

// The operations of docs/openapi.yaml: "METHOD /path" for each method key under each path of
// `paths:` (paths at two spaces, methods at four, as the file is written).
std::set<std::string> OpenApiOperations() {
  std::ifstream in(std::string(SBX_SOURCE_DIR) + "/docs/openapi.yaml");
  EXPECT_TRUE(in.good()) << "docs/openapi.yaml not found under " << SBX_SOURCE_DIR;
  static const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options"};
  std::set<std::string> ops;
  bool in_paths = false;
  std::string path;
  for (std::string line; std::getline(in, line);) {
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!in_paths) continue;
    if (!line.empty() && line[0] != ' ' && line[0] != '#') break;  // the next top-level key
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      path = line.substr(2, line.size() - 3);
    } else if (line.rfind("    ", 0) == 0 && line[4] != ' ' && line.back() == ':') {
      std::string key = line.substr(4, line.size() - 5);
      if (kMethods.count(key)) {
        for (char& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ops.insert(key + " " + path);
      }
    }
  }
  return ops;
}

TEST_F(DaemonRoutes, TableAndOpenApiListTheSameOperations) {
  std::set<std::string> documented = OpenApiOperations();
  ASSERT_GT(documented.size(), 40u);
  std::set<std::string> served;
  for (const Route& r : table().routes())
    if (r.api == Api::kV1) served.insert(r.method + " " + r.pattern);
  for (const std::string& op : served)
    EXPECT_TRUE(documented.count(op)) << op << " is served but not in docs/openapi.yaml";
  for (const std::string& op : documented)
    EXPECT_TRUE(served.count(op)) << op << " is in docs/openapi.yaml but not in the route table";
}

TEST_F(DaemonRoutes, LabelsEachPathWithItsPattern) {
  EXPECT_EQ(table().Label("/v1/sandboxes/abc123/exec"), "/v1/sandboxes/{id}/exec");
  EXPECT_EQ(table().Label("/v1/sandboxes/abc/files?path=/x/y"), "/v1/sandboxes/{id}/files");
  EXPECT_EQ(table().Label("/v1/webhooks/stats"), "/v1/webhooks/stats");
  EXPECT_EQ(table().Label("/v1/webhooks/whk_1/deliveries/7/redeliver"),
            "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver");
  EXPECT_EQ(table().Label("/sandboxes/x/metrics"), "/sandboxes/{id}/metrics");
  EXPECT_EQ(table().Label("//v1//sandboxes/"), "/v1/sandboxes");
  EXPECT_EQ(table().Label("/v1/webhooks/whk_1/deliveries/7"), "unmatched");
  EXPECT_EQ(table().Label("/v1/sandboxes/a/b/c/d"), "unmatched");
  // Every pattern, its parameters filled in, labels itself (none is shadowed by another).
  for (const Route& r : table().routes()) {
    std::string concrete;
    for (size_t pos = 0; pos < r.pattern.size();) {
      if (r.pattern[pos] == '{') {
        concrete += "v1x";
        pos = r.pattern.find('}', pos) + 1;
      } else {
        concrete += r.pattern[pos++];
      }
    }
    EXPECT_EQ(table().Label(concrete), r.pattern) << concrete;
  }
}

TEST_F(DaemonRoutes, AccessOfTheSensitiveRoutes) {
  EXPECT_TRUE(table().Keyless("GET", "/health"));
  EXPECT_TRUE(table().Keyless("POST", "/v1/hooks/github"));
  EXPECT_TRUE(table().Keyless("POST", "/v1/hooks/token/abc"));
  EXPECT_FALSE(table().Keyless("GET", "/v1/sandboxes"));
  for (const char* admin : {"POST /v1/keys", "GET /v1/keys/{id}", "DELETE /v1/templates/{name}",
                            "POST /v1/templates/{name}/build", "GET /metrics", "GET /v1/host/metrics"}) {
    bool found = false;
    for (const Route& r : table().routes())
      if (r.method + " " + r.pattern == admin) found = r.access == Access::kAdmin;
    EXPECT_TRUE(found) << admin << " must be the administrator's";
  }
}

}  // namespace
}  // namespace sbx::api
