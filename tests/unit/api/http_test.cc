#include "api/http.h"

#include <gtest/gtest.h>

namespace sbx::api {
namespace {

TEST(Query, DecodesAndRejectsMalformedEscapes) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(ParseQuery("path=%2Fhome%2Fuser%2Fa%20b.txt&user=root&flag", &q));
  EXPECT_EQ(q["path"], "/home/user/a b.txt");
  EXPECT_EQ(q["user"], "root");
  EXPECT_EQ(q.count("flag"), 1u);
  std::map<std::string, std::string> bad;
  EXPECT_FALSE(ParseQuery("path=%2", &bad));
  EXPECT_FALSE(ParseQuery("path=%zz", &bad));
  std::string out;
  EXPECT_FALSE(PercentDecode("%", &out));
  EXPECT_TRUE(PercentDecode("a%00b", &out));
  EXPECT_EQ(out.size(), 3u);
}

TEST(Errors, StatusAndBody) {
  EXPECT_EQ(HttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatus(ErrorCode::kInvalidArgument), 400);
  Response r = ErrorResponse(MakeError(ErrorCode::kNotFound, "sandbox 'x' does not exist"));
  EXPECT_EQ(r.status, 404);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["success"], false);
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "sandbox 'x' does not exist");
}

}  // namespace
}  // namespace sbx::api
