// ExtractApiKey: header parsing edge cases.
#include "auth/credentials.h"

#include <gtest/gtest.h>

namespace sbx::auth {
namespace {

constexpr std::string_view kKey = "sbx_0123456789abcdefghijABCDEFGHIJ0123456789";

Result<std::string> Parse(std::optional<std::string_view> x, std::optional<std::string_view> a) {
  return ExtractApiKey(PresentedHeaders{x, a});
}

void ExpectRejected(const Result<std::string>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(kKey.substr(4)), std::string::npos) << "echoes the key";
}

TEST(CredentialsTest, NoHeadersMeansNoKey) {
  auto r = Parse(std::nullopt, std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

TEST(CredentialsTest, XApiKey) {
  EXPECT_EQ(*Parse(kKey, std::nullopt), kKey);
  EXPECT_EQ(*Parse(" \t" + std::string(kKey) + " ", std::nullopt), kKey);  // HTTP OWS
}

TEST(CredentialsTest, BearerSchemeIsCaseInsensitive) {
  for (std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"})
    EXPECT_EQ(*Parse(std::nullopt, scheme + " " + std::string(kKey)), kKey) << scheme;
  EXPECT_EQ(*Parse(std::nullopt, "Bearer   " + std::string(kKey) + "  "), kKey);
  EXPECT_EQ(*Parse(std::nullopt, "Bearer\t" + std::string(kKey)), kKey);
}

TEST(CredentialsTest, EmptyValuesAreRejected) {
  ExpectRejected(Parse("", std::nullopt), "X-API-Key header: empty");
  ExpectRejected(Parse("   ", std::nullopt), "X-API-Key header: empty");
  ExpectRejected(Parse(std::nullopt, ""), "Authorization header: empty");
  ExpectRejected(Parse(std::nullopt, "Bearer"), "Bearer without a key");
  ExpectRejected(Parse(std::nullopt, "Bearer    "), "Bearer without a key");
}

TEST(CredentialsTest, OtherSchemesAndBareKeysAreRejectedWithoutEcho) {
  ExpectRejected(Parse(std::nullopt, "Basic dXNlcjpwYXNz"), "only the Bearer scheme");
  ExpectRejected(Parse(std::nullopt, kKey), "only the Bearer scheme");  // bare key, no scheme
  ExpectRejected(Parse(std::nullopt, "Bearerx " + std::string(kKey)), "only the Bearer scheme");
}

TEST(CredentialsTest, InnerWhitespaceAndControlCharactersAreRejected) {
  ExpectRejected(Parse("sbx_abc def", std::nullopt), "contains whitespace");
  ExpectRejected(Parse(std::nullopt, "Bearer sbx_abc def"), "contains whitespace");
  ExpectRejected(Parse(std::string("sbx_abc\x01", 8), std::nullopt), "non-printable");
  ExpectRejected(Parse("sbx_\xc3\xa9", std::nullopt), "non-printable");
}

TEST(CredentialsTest, OverLongValuesAreRejected) {
  std::string max(kMaxPresentedKeyBytes, 'a');
  EXPECT_TRUE(Parse(max, std::nullopt).ok());
  ExpectRejected(Parse(max + "a", std::nullopt), "longer than 256 bytes");
  ExpectRejected(Parse(std::nullopt, "Bearer " + max + "a"), "longer than 256 bytes");
}

TEST(CredentialsTest, BothHeaders) {
  std::string bearer = "Bearer " + std::string(kKey);
  EXPECT_EQ(*Parse(kKey, bearer), kKey);  // the same key twice is fine
  std::string other = std::string(kKey.substr(0, kKey.size() - 1)) + "Z";
  ExpectRejected(Parse(other, bearer), "carry different keys");
  ExpectRejected(Parse("", bearer), "X-API-Key header: empty");  // a bad one is not ignored
  // A bad Bearer next to a good X-API-Key is still an error...
  ExpectRejected(Parse(kKey, "Bearer a b"), "contains whitespace");
  ExpectRejected(Parse(kKey, "bearer"), "Bearer without a key");
  // ...but another scheme next to X-API-Key is the E2B SDK naming a user: ignored.
  EXPECT_EQ(*Parse(kKey, "Basic cm9vdDo="), kKey);
}

}  // namespace
}  // namespace sbx::auth
