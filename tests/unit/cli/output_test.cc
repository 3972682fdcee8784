// Tests of cli/output.h and the error mapping of client/http_client.h: the JSON users and scripts see.
#include "cli/output.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "cli/commands.h"

namespace sbx::cli {
namespace {

TEST(ErrorJson, HasTheThreeFieldsInOrder) {
  OJson j = ErrorJson("not_found", "sandbox 'abc' does not exist");
  EXPECT_EQ(j.dump(),
            R"({"success":false,"error":"sandbox 'abc' does not exist","error_code":"not_found"})");
}

TEST(Render, PrettyIsIndentedByTwoLikeTheGuide) {
  OJson j = OJson::object();
  j["success"] = true;
  j["sandbox_id"] = "my_first_sandbox";
  j["template"] = "python";
  j["files_uploaded"] = 0;
  EXPECT_EQ(Render(j, true),
            "{\n  \"success\": true,\n  \"sandbox_id\": \"my_first_sandbox\",\n"
            "  \"template\": \"python\",\n  \"files_uploaded\": 0\n}\n");
  EXPECT_EQ(Render(j, false),
            "{\"success\":true,\"sandbox_id\":\"my_first_sandbox\",\"template\":\"python\","
            "\"files_uploaded\":0}\n");
}

TEST(Render, InvalidUtf8DoesNotThrow) {
  OJson j = OJson::object();
  j["stdout"] = std::string(
      "a\xff\xfe"
      "b");
  std::string out;
  EXPECT_NO_THROW(out = Render(j, false));
  EXPECT_NE(out.find("a"), std::string::npos);
}

TEST(ErrorOutcome, UsesTheErrorCodeNameAndExitsTwo) {
  Outcome o = ErrorOutcome(MakeError(ErrorCode::kAlreadyExists, "sandbox 's1' already exists"));
  EXPECT_EQ(o.exit_code, kExitError);
  EXPECT_EQ(o.body["success"], false);
  EXPECT_EQ(o.body["error_code"], "already_exists");
  EXPECT_EQ(o.body["error"], "sandbox 's1' already exists");
  EXPECT_EQ(o.stderr_line, "sbx: error: sandbox 's1' already exists");
}

TEST(ErrorOutcome, SystemErrorsCarryStrerror) {
  Outcome o = ErrorOutcome(SysError("cannot read local file 'x'", ENOENT));
  EXPECT_EQ(o.body["error_code"], "not_found");
  EXPECT_EQ(o.body["error"], "cannot read local file 'x': No such file or directory");
}

TEST(UsageOutcome, CodeIsUsageAndStderrIsOneLine) {
  Outcome o = UsageOutcome("bad\nflag");
  EXPECT_EQ(o.exit_code, kExitError);
  EXPECT_EQ(o.body["error_code"], "usage");
  EXPECT_EQ(o.stderr_line.find('\n'), std::string::npos);
}

TEST(WithSuccessFirst, PutsSuccessFirstAndKeepsTheRest) {
  OJson body = OJson::parse(R"({"templates": [], "count": 0})");
  EXPECT_EQ(WithSuccessFirst(body).dump(), R"({"success":true,"templates":[],"count":0})");
  OJson had = OJson::parse(R"({"sandbox_id": "s1", "success": true})");
  EXPECT_EQ(WithSuccessFirst(had).dump(), R"({"success":true,"sandbox_id":"s1"})");
}

TEST(StringField, NeverThrows) {
  EXPECT_EQ(StringField(OJson::parse(R"({"a": "x"})"), "a"), "x");
  EXPECT_EQ(StringField(OJson::parse(R"({"a": 1})"), "a", "d"), "d");
  EXPECT_EQ(StringField(OJson::parse("[1]"), "a", "d"), "d");
  EXPECT_EQ(StringField(OJson(), "a"), "");
}

TEST(ErrorFromHttp, KeepsTheDaemonsCodeAndMessage) {
  Error e = ErrorFromHttp(404,
                          R"({"success": false, "error": {"code": "not_found",)"
                          R"( "message": "sandbox 'abc' does not exist"}})");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.message, "sandbox 'abc' does not exist");
  Error dup = ErrorFromHttp(
      409, R"({"success": false, "error": {"code": "already_exists", "message": "dup"}})");
  EXPECT_EQ(dup.code, ErrorCode::kAlreadyExists);
  Error pre = ErrorFromHttp(
      409, R"({"success": false, "error": {"code": "failed_precondition", "message": "stopped"}})");
  EXPECT_EQ(pre.code, ErrorCode::kFailedPrecondition);
}

TEST(ErrorFromHttp, UnknownCodeFallsBackToTheStatus) {
  Error e = ErrorFromHttp(429, R"({"error": {"code": "slow_down", "message": "too many"}})");
  EXPECT_EQ(e.code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(e.message, "too many (slow_down)");
}

TEST(ErrorFromHttp, NonJsonBodyIsQuoted) {
  Error e = ErrorFromHttp(502, "Bad Gateway\n");
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message, "sandboxd answered HTTP 502: Bad Gateway ");
  Error empty = ErrorFromHttp(500, "");
  EXPECT_EQ(empty.code, ErrorCode::kInternal);
  EXPECT_EQ(empty.message, "sandboxd answered HTTP 500");
}

TEST(ErrorFromHttp, FlatErrorFormIsTolerated) {
  Error e =
      ErrorFromHttp(400, R"({"success": false, "error": "bad", "error_code": "invalid_argument"})");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "bad");
}

TEST(ErrorCodeFromName, RoundTripsEveryCode) {
  for (ErrorCode c :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kFailedPrecondition, ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated,
        ErrorCode::kResourceExhausted, ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded,
        ErrorCode::kInternal}) {
    bool known = false;
    EXPECT_EQ(ErrorCodeFromName(ErrorCodeName(c), &known), c);
    EXPECT_TRUE(known);
  }
  bool known = true;
  EXPECT_EQ(ErrorCodeFromName("usage", &known), ErrorCode::kInternal);
  EXPECT_FALSE(known);
}

TEST(TransportError, MissingSocketSaysTheDaemonIsNotRunning) {
  Endpoint ep{"/nonexistent/sandboxd.sock", ""};
  Error e = TransportError(ep, CURLE_COULDNT_CONNECT, ENOENT, "Couldn't connect", 60, "GET /x");
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message,
            "sandboxd is not running (no socket at /nonexistent/sandboxd.sock); start it with "
            "`sandboxd`");
}

TEST(TransportError, PermissionAndRefusal) {
  Endpoint ep{"/run/sandboxd/sandboxd.sock", ""};
  EXPECT_EQ(TransportError(ep, CURLE_COULDNT_CONNECT, EACCES, "", 60, "GET /x").code,
            ErrorCode::kPermissionDenied);
  Endpoint tcp{"", "http://127.0.0.1:8080"};
  Error refused = TransportError(tcp, CURLE_COULDNT_CONNECT, ECONNREFUSED, "", 60, "GET /x");
  EXPECT_EQ(refused.code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.message.find("sandboxd --listen 127.0.0.1:8080"), std::string::npos);
}

TEST(TransportError, TimeoutIsDeadlineExceeded) {
  Endpoint ep{"/s.sock", ""};
  Error e = TransportError(ep, CURLE_OPERATION_TIMEDOUT, 0, "timed out", 90, "POST /v1/x");
  EXPECT_EQ(e.code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(e.message.find("within 90 s"), std::string::npos);
}

}  // namespace
}  // namespace sbx::cli
