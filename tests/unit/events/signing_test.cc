#include "events/signing.h"

#include <gtest/gtest.h>

namespace sbx::events {
namespace {

// GitHub's documented example ("Validating webhook deliveries").
TEST(Signing, GithubDocumentedExample) {
  EXPECT_EQ(GithubSignature("It's a Secret to Everybody", "Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_TRUE(VerifyGithubSignature(
      "It's a Secret to Everybody", "Hello, World!",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
}

TEST(Signing, RejectsWrongSignatures) {
  std::string good = GithubSignature("s3cret", "body");
  EXPECT_TRUE(VerifyGithubSignature("s3cret", "body", good));
  EXPECT_FALSE(VerifyGithubSignature("s3cret", "body!", good));
  EXPECT_FALSE(VerifyGithubSignature("other", "body", good));
  EXPECT_FALSE(VerifyGithubSignature("s3cret", "body", good.substr(7)));  // no "sha256="
  EXPECT_FALSE(VerifyGithubSignature("s3cret", "body", ""));
  EXPECT_FALSE(VerifyGithubSignature("", "body", GithubSignature("", "body")));  // no secret
  std::string flipped = good;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(VerifyGithubSignature("s3cret", "body", flipped));
}

TEST(Signing, TimestampedSignatureBindsTheTime) {
  std::string sig = TimestampedSignature("k", 1700000000, "{}");
  EXPECT_EQ(sig, "sha256=" + HmacSha256Hex("k", "1700000000.{}"));
  EXPECT_TRUE(VerifyTimestampedSignature("k", 1700000000, "{}", sig, 1700000100));
  EXPECT_FALSE(VerifyTimestampedSignature("k", 1700000001, "{}", sig, 1700000100));
  EXPECT_FALSE(VerifyTimestampedSignature("k", 1700000000, "{}", sig, 1700000000 + 301));
}

TEST(Signing, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace sbx::events
