#include "events/payload.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "events/event_type.h"
#include "events/signing.h"
#include "events/subscriptions.h"

namespace sbx::events {
namespace {

using nlohmann::json;

store::EventRecord SampleEvent() {
  store::EventRecord e;
  e.id = 7;
  e.uid = "evt_0123456789abcdef";
  e.type = "execution_complete";
  e.sandbox_id = "test_sbx";
  e.tenant = "acme";
  e.time_ms = 1700000000123;
  e.data_json = R"({"run_id":"run_1","exit_code":0})";
  return e;
}

TEST(Payload, GenericShapeHeadersAndSignatures) {
  store::SubscriptionRecord s;
  s.id = "whk_1";
  s.kind = "generic";
  s.url = "http://127.0.0.1:9/hook";
  s.secret = "topsecret";
  auto r = BuildRequest(s, SampleEvent(), 1700000005);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, s.url);
  json body = json::parse(r->body);
  EXPECT_EQ(body["id"], "evt_0123456789abcdef");
  EXPECT_EQ(body["type"], "execution_complete");
  EXPECT_EQ(body["status"], "completed");
  EXPECT_EQ(body["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(body["sandbox_id"], "test_sbx");
  EXPECT_EQ(body["data"]["run_id"], "run_1");
  EXPECT_EQ(r->Header("X-Sandboxd-Event"), "execution_complete");
  EXPECT_EQ(r->Header("X-Sandboxd-Delivery"), "evt_0123456789abcdef");
  EXPECT_EQ(r->Header("X-Sandboxd-Timestamp"), "1700000005");
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_TRUE(VerifyGithubSignature("topsecret", r->body, r->Header("X-Hub-Signature-256")));
  EXPECT_TRUE(VerifyTimestampedSignature("topsecret", 1700000005, r->body,
                                         r->Header("X-Sandboxd-Signature-256"), 1700000005));
  // The secret itself never appears in what is sent.
  EXPECT_EQ(r->body.find("topsecret"), std::string::npos);
  for (const auto& [k, v] : r->headers) EXPECT_EQ(v.find("topsecret"), std::string::npos) << k;
}

TEST(Payload, GenericWithoutSecretIsUnsigned) {
  store::SubscriptionRecord s;
  s.kind = "zapier";
  s.url = "https://hooks.zapier.com/hooks/catch/1/abc/";
  auto r = BuildRequest(s, SampleEvent(), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Header("X-Hub-Signature-256"), "");
  EXPECT_EQ(json::parse(r->body)["id"], "evt_0123456789abcdef");
}

TEST(Payload, GithubRepositoryDispatch) {
  store::SubscriptionRecord s;
  s.id = "whk_gh";
  s.kind = "github";
  s.github_owner = "octo";
  s.github_repo = "hello";
  s.github_token = "ghp_x";
  s.github_api_base = "http://127.0.0.1:1234/api/v3/";
  auto r = BuildRequest(s, SampleEvent(), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://127.0.0.1:1234/api/v3/repos/octo/hello/dispatches");
  EXPECT_EQ(r->Header("Authorization"), "Bearer ghp_x");
  EXPECT_EQ(r->Header("Accept"), "application/vnd.github+json");
  json body = json::parse(r->body);
  EXPECT_EQ(body["event_type"], "execution_complete");
  EXPECT_EQ(body["client_payload"]["sandbox_id"], "test_sbx");
  EXPECT_EQ(body["client_payload"]["status"], "completed");
  EXPECT_EQ(body["client_payload"]["event_id"], "evt_0123456789abcdef");
  EXPECT_LE(body["client_payload"].size(), 10u);  // GitHub's limit
  s.github_api_base.clear();
  EXPECT_EQ(BuildRequest(s, SampleEvent(), 1)->url,
            "https://api.github.com/repos/octo/hello/dispatches");
}

TEST(Payload, StatusComesFromDataWhenPresent) {
  auto e = SampleEvent();
  e.type = "workflow_finished";
  e.data_json = R"({"status":"failed"})";
  EXPECT_EQ(json::parse(GenericBody(e))["status"], "failed");
}

TEST(Payload, UnknownKindIsAnError) {
  store::SubscriptionRecord s;
  s.kind = "carrier-pigeon";
  EXPECT_FALSE(BuildRequest(s, SampleEvent(), 1).ok());
}

TEST(EventTypes, NamesRoundTripAndGuideSpellings) {
  for (EventType t : kAllEventTypes) EXPECT_EQ(*ParseEventType(EventTypeName(t)), t);
  EXPECT_EQ(*ParseEventType("ON_COMPLETION"), EventType::kOnCompletion);
  EXPECT_EQ(*ParseEventType("ON_ERROR"), EventType::kOnError);
  EXPECT_FALSE(ParseEventType("bogus").ok());
  // The guide's GitHub workflow listens for these three.
  EXPECT_STREQ(EventTypeName(EventType::kSandboxCreated), "sandbox_created");
  EXPECT_STREQ(EventTypeName(EventType::kExecutionComplete), "execution_complete");
  EXPECT_STREQ(EventTypeName(EventType::kExecutionFailed), "execution_failed");
}

TEST(Subscriptions, ValidatesAndNeverShowsSecrets) {
  auto c =
      SubscriptionFromJson(json{{"url", "http://127.0.0.1:1/x"}, {"events", {"ON_ERROR"}}}, "acme");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->record.kind, "generic");
  EXPECT_EQ(c->record.events_json, R"(["on_error"])");
  EXPECT_EQ(c->secret.rfind("whsec_", 0), 0u);  // generated, shown once
  json pub = ToPublicJson(c->record);
  EXPECT_EQ(pub.dump().find(c->secret), std::string::npos);
  EXPECT_TRUE(pub["has_secret"].get<bool>());

  auto gh = SubscriptionFromJson(
      json{{"kind", "github"}, {"repository", "o/r"}, {"token", "ghp_secret_token"}}, "");
  ASSERT_TRUE(gh.ok()) << gh.error().ToString();
  EXPECT_EQ(ToPublicJson(gh->record).dump().find("ghp_secret_token"), std::string::npos);

  EXPECT_FALSE(SubscriptionFromJson(json{{"url", "ftp://x"}}, "").ok());
  EXPECT_FALSE(SubscriptionFromJson(json{{"url", "http://x"}, {"events", {"nope"}}}, "").ok());
  EXPECT_FALSE(SubscriptionFromJson(json{{"url", "http://x"}, {"colour", "red"}}, "").ok());
  EXPECT_FALSE(SubscriptionFromJson(json{{"kind", "github"}, {"repository", "o/r"}}, "").ok());
  EXPECT_FALSE(
      SubscriptionFromJson(json{{"kind", "github"}, {"repository", "or"}, {"token", "t"}}, "")
          .ok());
}

}  // namespace
}  // namespace sbx::events
