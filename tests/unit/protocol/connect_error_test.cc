#include "protocol/connect_error.h"

#include <gtest/gtest.h>

namespace sbx::protocol {
namespace {

TEST(ConnectErrorTest, HttpStatusTable) {
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kInternal), 500);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusForCode(ConnectCode::kCanceled), 499);
  EXPECT_EQ(CodeFromHttpStatus(404), ConnectCode::kUnimplemented);
  EXPECT_EQ(CodeFromHttpStatus(400), ConnectCode::kInternal);
  EXPECT_EQ(CodeFromHttpStatus(502), ConnectCode::kUnavailable);
  EXPECT_EQ(CodeFromHttpStatus(418), ConnectCode::kUnknown);
}

TEST(ConnectErrorTest, NamesRoundTrip) {
  ConnectCode c;
  ASSERT_TRUE(ParseConnectCode("deadline_exceeded", &c));
  EXPECT_EQ(c, ConnectCode::kDeadlineExceeded);
  EXPECT_STREQ(ConnectCodeName(ConnectCode::kNotFound), "not_found");
  EXPECT_FALSE(ParseConnectCode("nope", &c));
}

TEST(ConnectErrorTest, JsonBodies) {
  ConnectError e{ConnectCode::kNotFound, "no \"such\" pid"};
  EXPECT_EQ(ErrorJson(e), R"({"code":"not_found","message":"no \"such\" pid"})");
  EXPECT_EQ(EndStreamJson(nullptr), "{}");
  EXPECT_EQ(EndStreamJson(&e), R"({"error":{"code":"not_found","message":"no \"such\" pid"}})");
  ConnectError parsed;
  EXPECT_FALSE(ParseEndStream("{}", &parsed));
  ASSERT_TRUE(ParseEndStream(EndStreamJson(&e), &parsed));
  EXPECT_EQ(parsed.code, ConnectCode::kNotFound);
  ASSERT_TRUE(ParseEndStream("garbage", &parsed));
  EXPECT_EQ(parsed.code, ConnectCode::kInternal);
  auto body = ParseErrorBody(409, R"({"code":"already_exists","message":"m"})");
  EXPECT_EQ(body.code, ConnectCode::kAlreadyExists);
  EXPECT_EQ(ParseErrorBody(404, "<html>").code, ConnectCode::kUnimplemented);
}

TEST(ConnectErrorTest, ErrorCodeMapping) {
  EXPECT_EQ(ToConnectCode(ErrorCode::kDeadlineExceeded), ConnectCode::kDeadlineExceeded);
  EXPECT_EQ(ToErrorCode(ConnectCode::kUnauthenticated), ErrorCode::kUnauthenticated);
  EXPECT_EQ(ToError({ConnectCode::kNotFound, "x"}).code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace sbx::protocol
