// The E2B gateway's pure rules (src/api/gateway_rules.h): Host parsing, claims, signatures and
// who may pass.
#include "api/gateway_rules.h"

#include <gtest/gtest.h>

namespace sbx::api::gateway {
namespace {

Request Req(const std::string& method, const std::string& path,
            std::map<std::string, std::string> headers = {},
            std::map<std::string, std::string> query = {}) {
  Request r;
  r.method = method;
  r.path = path;
  r.headers = std::move(headers);
  r.query = std::move(query);
  return r;
}

TEST(ParseSandboxHost, PortIdAndAnyDomain) {
  auto r = ParseSandboxHost("49983-abc123.e2b.local", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->port, 49983);
  EXPECT_EQ(r->sandbox_id, "abc123");
  r = ParseSandboxHost("8080-Abc.Example.COM:3000", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->port, 8080);
  EXPECT_EQ(r->sandbox_id, "abc");  // host names are case-insensitive
  r = ParseSandboxHost("8080-abc.example.com.", "");
  ASSERT_TRUE(r);
}

TEST(ParseSandboxHost, DomainFlagIsExact) {
  EXPECT_TRUE(ParseSandboxHost("1-abc.sbx.example", "sbx.example"));
  EXPECT_TRUE(ParseSandboxHost("1-abc.SBX.example:80", "sbx.example"));
  EXPECT_FALSE(ParseSandboxHost("1-abc.other.example", "sbx.example"));
  EXPECT_FALSE(ParseSandboxHost("1-abc.x.sbx.example", "sbx.example"));
}

TEST(ParseSandboxHost, NotTheForm) {
  for (const char* h : {"", "localhost", "localhost:3000", "127.0.0.1", "127.0.0.1:8080",
                        "[::1]:80", "abc-123.x", "-abc.x", "49983-.x", "49983-abc",
                        "49983-abc.", "49983-a_b.x", "49983-a-b.x", "4x-abc.x", "1-abc.x:9z"}) {
    EXPECT_FALSE(ParseSandboxHost(h, "")) << h;
  }
  EXPECT_FALSE(ParseSandboxHost(std::string(300, 'a'), ""));
  EXPECT_FALSE(ParseSandboxHost("1-" + std::string(65, 'a') + ".x", ""));
}

TEST(ParseSandboxHost, PortOutOfRangeStillMatchesAsZero) {
  auto r = ParseSandboxHost("99999-abc.x", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->port, 0);
  r = ParseSandboxHost("0-abc.x", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->port, 0);
}

TEST(ParsePort, OnlyPlainDecimalInRange) {
  EXPECT_EQ(ParsePort("1"), 1);
  EXPECT_EQ(ParsePort("65535"), 65535);
  EXPECT_EQ(ParsePort("049983"), std::nullopt);  // six digits
  for (const char* p : {"", "0", "65536", "-1", "+80", " 80", "80 ", "8o", "99999999999999"})
    EXPECT_EQ(ParsePort(p), std::nullopt) << p;
}

TEST(Claim, HeaderFirstWithDefaultPort) {
  auto r = Claim(Req("GET", "/health", {{"e2b-sandbox-id", "abc"}, {"host", "8080-xyz.d"}}), "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->via, "header");
  EXPECT_EQ(r->sandbox_id, "abc");
  EXPECT_EQ(r->port, kEnvdPort);
  EXPECT_TRUE(r->error.empty());
}

TEST(Claim, BadPortHeaderIsClaimedWithAnError) {
  auto r = Claim(Req("GET", "/", {{"e2b-sandbox-id", "abc"}, {"e2b-sandbox-port", "\xff" "abc"}}),
                 "");
  ASSERT_TRUE(r);
  EXPECT_NE(r->error.find("E2b-Sandbox-Port"), std::string::npos);
  EXPECT_EQ(r->error.find('\xff'), std::string::npos);  // quoted as printable ASCII only
}

TEST(Claim, HostFormAndSignedFilesAndNothingElse) {
  auto r = Claim(Req("GET", "/x", {{"host", "3000-abc.sandbox.test"}}), "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->via, "host");
  EXPECT_EQ(r->port, 3000);
  r = Claim(Req("GET", "/x", {{"host", "99999-abc.sandbox.test"}}), "");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->error.empty());
  r = Claim(Req("GET", "/files", {{"host", "127.0.0.1:1"}}, {{"signature", "v1_x"}}), "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->via, "signature");
  EXPECT_TRUE(r->sandbox_id.empty());
  EXPECT_FALSE(Claim(Req("GET", "/files", {{"host", "127.0.0.1:1"}}), ""));
  EXPECT_FALSE(Claim(Req("GET", "/v1/sandboxes", {{"host", "localhost"}}), ""));
  EXPECT_FALSE(Claim(Req("GET", "/health", {{"host", "3000-abc.other"}}), "sandbox.test"));
}

TEST(EnvdSignature, MatchesTheSdkFormula) {
  // "v1_" + base64(sha256("/a.txt:read::tok")) without padding; the digest below was computed
  // independently (python3 hashlib + base64).
  EXPECT_EQ(EnvdSignature("/a.txt", "read", "", "tok", std::nullopt),
            "v1_" "EV/DvoS4mUiocl2RlxlZEymBC6EMYhkDL6kq8QBzt6g");
  EXPECT_NE(EnvdSignature("/a.txt", "read", "", "tok", 100),
            EnvdSignature("/a.txt", "read", "", "tok", std::nullopt));
}

TEST(SignatureValid, OperationPathUserAndExpiry) {
  const std::string tok = "t0k";
  auto sig = EnvdSignature("/f", "read", "root", tok, 1000);
  Request r = Req("GET", "/files", {},
                  {{"path", "/f"}, {"username", "root"}, {"signature", sig},
                   {"signature_expiration", "1000"}});
  EXPECT_TRUE(SignatureValid(r, tok, 999));
  EXPECT_TRUE(SignatureValid(r, tok, 1000));
  EXPECT_FALSE(SignatureValid(r, tok, 1001));  // expired
  EXPECT_FALSE(SignatureValid(r, "other", 999));
  Request post = r;
  post.method = "POST";  // a read signature does not write
  EXPECT_FALSE(SignatureValid(post, tok, 999));
  Request other_path = r;
  other_path.query["path"] = "/g";
  EXPECT_FALSE(SignatureValid(other_path, tok, 999));
  Request other_user = r;
  other_user.query.erase("username");
  EXPECT_FALSE(SignatureValid(other_user, tok, 999));
  Request bad_exp = r;
  bad_exp.query["signature_expiration"] = "1e9";
  EXPECT_FALSE(SignatureValid(bad_exp, tok, 0));
  Request not_files = r;
  not_files.path = "/filesx";
  EXPECT_FALSE(SignatureValid(not_files, tok, 999));
  EXPECT_FALSE(SignatureValid(r, "", 999));  // no token: never valid
}

TEST(Decide, Envd) {
  Expected e{"envdtok", "traffictok", true};
  auto d = [&](const Request& r, KeyMatch k = KeyMatch::kNone, bool admin = false) {
    return Decide(r, kEnvdPort, admin, k, e, 0);
  };
  EXPECT_EQ(d(Req("GET", "/health")), Verdict::kAllow);
  EXPECT_EQ(d(Req("POST", "/health")), Verdict::kUnauthorized);
  EXPECT_EQ(d(Req("POST", "/process.Process/List")), Verdict::kUnauthorized);
  EXPECT_EQ(d(Req("POST", "/process.Process/List", {{"x-access-token", "envdtok"}})),
            Verdict::kAllow);
  EXPECT_EQ(d(Req("POST", "/process.Process/List", {{"x-access-token", "traffictok"}})),
            Verdict::kUnauthorized);
  EXPECT_EQ(d(Req("POST", "/x"), KeyMatch::kOwnTenant), Verdict::kAllow);
  EXPECT_EQ(d(Req("POST", "/x", {{"x-access-token", "envdtok"}}), KeyMatch::kOtherTenant),
            Verdict::kNotFound);
  EXPECT_EQ(d(Req("POST", "/x", {{"x-access-token", "envdtok"}}), KeyMatch::kInvalid),
            Verdict::kUnauthorized);
  EXPECT_EQ(d(Req("POST", "/x"), KeyMatch::kNone, true), Verdict::kAllow);
  auto sig = EnvdSignature("/f", "read", "", "envdtok", std::nullopt);
  EXPECT_EQ(d(Req("GET", "/files", {}, {{"path", "/f"}, {"signature", sig}})), Verdict::kAllow);
}

TEST(Decide, PortsArePublicUnlessTheSandboxSaysNot) {
  Expected open{"envdtok", "traffictok", true};
  Expected closed{"envdtok", "traffictok", false};
  Request plain = Req("GET", "/");
  EXPECT_EQ(Decide(plain, 8080, false, KeyMatch::kNone, open, 0), Verdict::kAllow);
  EXPECT_EQ(Decide(plain, 8080, false, KeyMatch::kOtherTenant, open, 0), Verdict::kNotFound);
  EXPECT_EQ(Decide(plain, 8080, false, KeyMatch::kNone, closed, 0), Verdict::kUnauthorized);
  EXPECT_EQ(Decide(Req("GET", "/", {{"e2b-traffic-access-token", "traffictok"}}), 8080, false,
                   KeyMatch::kNone, closed, 0),
            Verdict::kAllow);
  EXPECT_EQ(Decide(Req("GET", "/", {{"e2b-traffic-access-token", "envdtok"}}), 8080, false,
                   KeyMatch::kNone, closed, 0),
            Verdict::kUnauthorized);
  EXPECT_EQ(Decide(plain, 8080, false, KeyMatch::kOwnTenant, closed, 0), Verdict::kAllow);
}

TEST(NotFound, E2bShapeWithPrintableId) {
  Response r = NotFound("abc");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(nlohmann::json::parse(r.body),
            (nlohmann::json{{"sandboxId", "abc"}, {"message", "The sandbox was not found"},
                            {"code", 502}}));
  Response bad = NotFound("\xc3\x28" + std::string(100, 'a'));  // invalid UTF-8, long
  auto j = nlohmann::json::parse(bad.body);
  EXPECT_EQ(j["sandboxId"].get<std::string>().size(), 64u);
}

}  // namespace
}  // namespace sbx::api::gateway
