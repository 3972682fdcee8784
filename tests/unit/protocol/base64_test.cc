#include "protocol/base64.h"

#include <gtest/gtest.h>

namespace sbx::protocol {
namespace {

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("hi\n"), "aGkK");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff", false), "-_8");
}

TEST(Base64Test, DecodesStdAndUrlWithOrWithoutPadding) {
  EXPECT_EQ(Base64Decode("Zg==").value(), "f");
  EXPECT_EQ(Base64Decode("Zg").value(), "f");
  EXPECT_EQ(Base64Decode("Zm8").value(), "fo");
  EXPECT_EQ(Base64Decode("+/8=").value(), "\xfb\xff");
  EXPECT_EQ(Base64Decode("-_8").value(), "\xfb\xff");
  EXPECT_EQ(Base64Decode("").value(), "");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(Base64Decode(Base64Encode(all)).value(), all);
  EXPECT_EQ(Base64Decode(Base64UrlEncode(all, false)).value(), all);
}

TEST(Base64Test, RejectsGarbage) {
  EXPECT_FALSE(Base64Decode("Z").ok());        // impossible length
  EXPECT_FALSE(Base64Decode("Zg=").ok());      // bad padding
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());    // bad character
  EXPECT_FALSE(Base64Decode("Zm 9v").ok());
  EXPECT_FALSE(Base64Decode("Z===").ok());
  EXPECT_EQ(Base64Decode("Zm9v\x80").error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace sbx::protocol
