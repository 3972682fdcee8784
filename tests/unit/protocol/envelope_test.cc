#include "protocol/envelope.h"

#include <gtest/gtest.h>

#include <random>

namespace sbx::protocol {
namespace {

TEST(EnvelopeTest, EncodesHeaderBigEndian) {
  std::string e = EncodeData("{}");
  ASSERT_EQ(e.size(), 7u);
  EXPECT_EQ(e[0], 0);
  EXPECT_EQ(e.substr(1, 4), std::string("\0\0\0\x02", 4));
  EXPECT_EQ(EncodeEndStream("{}")[0], 2);
  std::string big(0x010203, 'x');
  std::string b = EncodeData(big);
  EXPECT_EQ(b.substr(1, 4), std::string("\0\x01\x02\x03", 4));
}

TEST(EnvelopeTest, DecodesAcrossArbitraryChunkBoundaries) {
  std::string stream = EncodeData("{\"a\":1}") + EncodeData("") + EncodeData(std::string(300, 'z')) +
                       EncodeEndStream("{}");
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    EnvelopeDecoder d;
    std::vector<Envelope> frames;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t n = std::min<size_t>(stream.size() - pos, 1 + rng() % 9);
      ASSERT_TRUE(d.Feed(std::string_view(stream).substr(pos, n), &frames).ok());
      pos += n;
    }
    ASSERT_TRUE(d.idle());
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0].payload, "{\"a\":1}");
    EXPECT_EQ(frames[1].payload, "");
    EXPECT_EQ(frames[2].payload.size(), 300u);
    EXPECT_FALSE(frames[2].end_stream());
    EXPECT_TRUE(frames[3].end_stream());
  }
}

TEST(EnvelopeTest, ByteByByteLeavesPartialState) {
  EnvelopeDecoder d;
  std::vector<Envelope> frames;
  std::string e = EncodeData("hello");
  for (size_t i = 0; i + 1 < e.size(); ++i) {
    ASSERT_TRUE(d.Feed(e.substr(i, 1), &frames).ok());
    EXPECT_FALSE(d.idle());
  }
  ASSERT_TRUE(d.Feed(e.substr(e.size() - 1), &frames).ok());
  EXPECT_TRUE(d.idle());
  ASSERT_EQ(frames.size(), 1u);
}

TEST(EnvelopeTest, RejectsOversizeBeforeBuffering) {
  EnvelopeDecoder d(1024);
  std::vector<Envelope> frames;
  auto r = d.Feed(std::string("\x00\x7f\xff\xff\xff", 5), &frames);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_TRUE(d.failed());
  EXPECT_FALSE(d.Feed("x", &frames).ok());
}

TEST(EnvelopeTest, RejectsCompressedAndUnknownFlags) {
  EnvelopeDecoder d;
  std::vector<Envelope> frames;
  auto r = d.Feed(EncodeEnvelope(kFlagCompressed, "x"), &frames);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("compressed"), std::string::npos);
  EnvelopeDecoder d2;
  EXPECT_FALSE(d2.Feed(EncodeEnvelope(0x80, "x"), &frames).ok());
  EXPECT_TRUE(frames.empty());
}

TEST(EnvelopeTest, SingleEnvelopeRequest) {
  auto ok = DecodeSingleEnvelope(EncodeData("{\"x\":1}"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), "{\"x\":1}");
  EXPECT_FALSE(DecodeSingleEnvelope(EncodeData("{}").substr(0, 4)).ok());  // truncated
  EXPECT_FALSE(DecodeSingleEnvelope("").ok());
  EXPECT_FALSE(DecodeSingleEnvelope(EncodeData("{}") + EncodeData("{}")).ok());
  EXPECT_FALSE(DecodeSingleEnvelope(EncodeEndStream("{}")).ok());
}

}  // namespace
}  // namespace sbx::protocol
