#include "api/e2b_json.h"

#include <gtest/gtest.h>

#include "api/e2b_version.h"

namespace sbx::api::e2b {
namespace {

using nlohmann::json;

store::SandboxRecord Rec(const std::string& id, int64_t created, const std::string& state,
                         const std::string& metadata = "{}") {
  store::SandboxRecord r;
  r.id = id;
  r.template_name = "python";
  r.state = state;
  r.created_at_ms = created;
  r.expires_at_ms = created + 300000;
  r.metadata_json = metadata;
  r.limits_json = R"({"cpus": 1.5, "memory_bytes": 2147483648, "disk_bytes": 1073741824})";
  return r;
}

TEST(E2bJson, PathsOfTheControlPlane) {
  EXPECT_TRUE(IsE2bPath("/sandboxes"));
  EXPECT_TRUE(IsE2bPath("/v2/sandboxes/x/connect"));
  EXPECT_TRUE(IsE2bPath("/templates"));
  EXPECT_TRUE(IsE2bPath("/nope"));
  EXPECT_FALSE(IsE2bPath("/v1/sandboxes"));
  EXPECT_FALSE(IsE2bPath("/health"));
  EXPECT_FALSE(IsE2bPath("/metrics"));
  EXPECT_FALSE(IsE2bPath("/"));
}

TEST(E2bJson, ErrorsTakeE2bsShapeAnd204sLoseTheirBody) {
  Response r = ErrorResponse(MakeError(ErrorCode::kNotFound, "sandbox 'x' does not exist"));
  ToE2bShape(r);
  EXPECT_EQ(json::parse(r.body), json({{"code", 404}, {"message", "sandbox 'x' does not exist"}}));
  Response ok = JsonResponse(200, {{"error", {{"message", "data, not an error"}}}});
  ToE2bShape(ok);
  EXPECT_NE(ok.body.find("data, not an error"), std::string::npos);
  EXPECT_EQ(json::parse(ok.body).count("code"), 0u);
  Response empty = JsonResponse(204, {{"x", 1}});
  ToE2bShape(empty);
  EXPECT_TRUE(empty.body.empty());
}

TEST(E2bJson, NewSandboxFieldsMapToTheSpec) {
  auto n = ParseNewSandbox(json::parse(R"({"templateID": "base", "timeout": 120,
      "metadata": {"a": "b"}, "envVars": {"FOO": "bar"}, "autoPause": true,
      "autoResume": {"enabled": true}, "network": {"allowPublicTraffic": false, "allowOut": []},
      "allow_internet_access": false, "secure": true, "unknownKey": [1, 2]})"));
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(n->spec.template_name, "base");
  EXPECT_EQ(n->spec.timeout_s, 120);
  EXPECT_EQ(n->spec.metadata, json({{"a", "b"}}));
  EXPECT_EQ(n->spec.env.at("FOO"), "bar");
  EXPECT_TRUE(n->auto_pause);
  EXPECT_TRUE(n->auto_resume);
  EXPECT_FALSE(n->public_traffic);

  auto plain = ParseNewSandbox(json::parse(R"({"templateID": "base"})"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->spec.timeout_s, kDefaultTimeoutS);
  EXPECT_FALSE(plain->auto_pause);
  EXPECT_TRUE(plain->public_traffic);
}

TEST(E2bJson, NewSandboxRefusalsNameTheField) {
  auto msg = [](const char* text) {
    auto n = ParseNewSandbox(json::parse(text));
    return n.ok() ? std::string("ok") : n.error().message;
  };
  EXPECT_NE(msg("{}").find("templateID"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": 3})").find("templateID"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "timeout": 1.5})").find("timeout"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "timeout": 0})").find("timeout"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "envVars": {"A": 1}})").find("envVars.A"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "envVars": {"1A": "x"}})").find("envVars"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "metadata": []})").find("metadata"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "autoPause": "yes"})").find("autoPause"), std::string::npos);
  EXPECT_NE(msg(R"({"templateID": "b", "network": {"allowPublicTraffic": 1}})")
                .find("network.allowPublicTraffic"),
            std::string::npos);
  EXPECT_FALSE(ParseNewSandbox(json::array()).ok());
}

TEST(E2bJson, TimeoutBodies) {
  EXPECT_EQ(**ParseTimeout(json::parse(R"({"timeout": 30})"), true), 30);
  EXPECT_EQ(**ParseTimeout(json::parse(R"({"timeout": 30.0})"), true), 30);
  EXPECT_FALSE(ParseTimeout(json::parse("{}"), true).ok());
  EXPECT_FALSE(ParseTimeout(json::parse("{}"), false)->has_value());
  EXPECT_FALSE(ParseTimeout(json::parse(R"({"timeout": "30"})"), true).ok());
  EXPECT_FALSE(ParseTimeout(json::parse(R"({"timeout": 2592001})"), true).ok());
}

TEST(E2bJson, GeneratedIdsFitTheHostForm) {
  for (int i = 0; i < 50; ++i) {
    std::string id = NewSandboxId();
    ASSERT_EQ(id.size(), 20u);
    EXPECT_EQ(id[0], 'i');
    for (char c : id) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << id;
    EXPECT_TRUE(spec::ValidateSandboxId(id).ok());
  }
  EXPECT_NE(NewSandboxId(), NewSandboxId());
}

TEST(E2bJson, SandboxAndListedShapes) {
  store::SandboxRecord r = Rec("iabc", 1700000000000, "running", R"({"k": "v"})");
  Access a{"tok", std::nullopt, ""};
  json s = SandboxJson(r, a);
  EXPECT_EQ(s["sandboxID"], "iabc");
  EXPECT_EQ(s["templateID"], "python");
  EXPECT_EQ(s["clientID"], "sandboxd");
  EXPECT_EQ(s["envdVersion"], kEnvdVersion);
  EXPECT_EQ(s["envdAccessToken"], "tok");
  EXPECT_TRUE(s["domain"].is_null());
  EXPECT_TRUE(s["trafficAccessToken"].is_null());
  a.traffic_token = "t2";
  a.domain = "sbx.example";
  s = SandboxJson(r, a);
  EXPECT_EQ(s["trafficAccessToken"], "t2");
  EXPECT_EQ(s["domain"], "sbx.example");

  json l = ListedSandboxJson(r);
  EXPECT_EQ(l["startedAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(l["endAt"], "2023-11-14T22:18:20.000Z");
  EXPECT_EQ(l["state"], "running");
  EXPECT_EQ(l["cpuCount"], 2);
  EXPECT_EQ(l["memoryMB"], 2048);
  EXPECT_EQ(l["diskSizeMB"], 1024);
  EXPECT_EQ(l["metadata"], json({{"k", "v"}}));
  json d = SandboxDetailJson(r, a);
  EXPECT_EQ(d["envdAccessToken"], "tok");
  EXPECT_EQ(d["state"], "running");
}

TEST(E2bJson, ListQueryParsing) {
  auto q = ParseListQuery({{"state", "running"}, {"metadata", "a=b&c=d"}, {"limit", "5"}});
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(q->states, (std::set<std::string>{"running"}));
  EXPECT_EQ(q->metadata, (std::map<std::string, std::string>{{"a", "b"}, {"c", "d"}}));
  EXPECT_EQ(q->limit, 5u);
  // As the SDK sends {"a b": "c&d"}: each encoded, then the pairs (the server decoded once).
  auto sdk = ParseListQuery({{"metadata", "a%2520b=c%2526d"}});
  ASSERT_TRUE(sdk.ok()) << sdk.error().ToString();
  EXPECT_EQ(sdk->metadata, (std::map<std::string, std::string>{{"a b", "c&d"}}));
  auto d = ParseListQuery({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->states.size(), 2u);
  EXPECT_EQ(d->limit, 100u);
  EXPECT_FALSE(ParseListQuery({{"state", "running,stopped"}}).ok());
  EXPECT_FALSE(ParseListQuery({{"limit", "0"}}).ok());
  EXPECT_FALSE(ParseListQuery({{"limit", "101"}}).ok());
  EXPECT_FALSE(ParseListQuery({{"limit", "-1"}}).ok());
  EXPECT_FALSE(ParseListQuery({{"nextToken", "zz"}}).ok());
}

TEST(E2bJson, TokensRoundTripAndRefuseForgeries) {
  auto t = DecodeToken(EncodeToken(1700000000123, "iabc1"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->first, 1700000000123);
  EXPECT_EQ(t->second, "iabc1");
  EXPECT_FALSE(DecodeToken("").ok());
  EXPECT_FALSE(DecodeToken("abc").ok());
  EXPECT_FALSE(DecodeToken(EncodeToken(1, "Bad-Id")).ok());
  EXPECT_FALSE(DecodeToken("3a6964").ok());  // ":id", no time
}

TEST(E2bJson, PagesFilterOrderAndContinue) {
  std::vector<store::SandboxRecord> all = {
      Rec("c", 3, "running", R"({"team": "x"})"), Rec("a", 1, "running", R"({"team": "x"})"),
      Rec("b", 2, "paused", R"({"team": "y"})"),  Rec("d", 4, "stopped"),
      Rec("e", 3, "running", R"({"team": "x", "k": "v"})")};
  ListQuery q;
  q.limit = 2;
  Page p1 = SelectPage(all, q);
  ASSERT_EQ(p1.items.size(), 2u);
  EXPECT_EQ(p1.items[0].id, "a");
  EXPECT_EQ(p1.items[1].id, "b");
  ASSERT_FALSE(p1.next_token.empty());
  q.after = *DecodeToken(p1.next_token);
  Page p2 = SelectPage(all, q);
  ASSERT_EQ(p2.items.size(), 2u);
  EXPECT_EQ(p2.items[0].id, "c");
  EXPECT_EQ(p2.items[1].id, "e");  // same created_at: ordered by id
  EXPECT_TRUE(p2.next_token.empty());  // "d" is stopped: nothing remains

  ListQuery byState;
  byState.states = {"paused"};
  Page paused = SelectPage(all, byState);
  ASSERT_EQ(paused.items.size(), 1u);
  EXPECT_EQ(paused.items[0].id, "b");

  ListQuery byMeta;
  byMeta.metadata = {{"team", "x"}, {"k", "v"}};
  Page meta = SelectPage(all, byMeta);
  ASSERT_EQ(meta.items.size(), 1u);
  EXPECT_EQ(meta.items[0].id, "e");
}

}  // namespace
}  // namespace sbx::api::e2b
