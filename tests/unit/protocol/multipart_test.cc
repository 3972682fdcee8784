#include "protocol/multipart.h"

#include <gtest/gtest.h>

#include <random>

namespace sbx::protocol {
namespace {

struct Collected {
  std::vector<PartHeaders> headers;
  std::vector<std::string> bodies;
  bool open = false;
};

MultipartCallbacks Collect(Collected* c) {
  MultipartCallbacks cb;
  cb.on_part_begin = [c](const PartHeaders& h) -> Result<void> {
    c->headers.push_back(h);
    c->bodies.emplace_back();
    c->open = true;
    return Ok();
  };
  cb.on_part_data = [c](std::string_view d) -> Result<void> {
    c->bodies.back().append(d);
    return Ok();
  };
  cb.on_part_end = [c]() -> Result<void> {
    c->open = false;
    return Ok();
  };
  return cb;
}

const std::string kBoundary = "----formdata-undici-078493539990";

std::string UndiciBody() {
  return "--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/home/user/a.txt\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\nx\r\n--" +
         kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"we%22ird%0Aname\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\nline1\r\n--not-it\r\n\r\r\n--" +
         kBoundary + "--\r\n";
}

TEST(MultipartTest, BoundaryFromContentType) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=" + kBoundary).value(), kBoundary);
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data; boundary=\"a b\"").value(), "a b");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
}

TEST(MultipartTest, ParsesUndiciBodyInAnyChunking) {
  const std::string body = UndiciBody();
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    Collected c;
    MultipartParser p(kBoundary, Collect(&c));
    size_t pos = 0;
    while (pos < body.size()) {
      size_t n = round == 0 ? 1 : std::min<size_t>(body.size() - pos, 1 + rng() % 40);
      ASSERT_TRUE(p.Feed(std::string_view(body).substr(pos, n)).ok()) << round;
      pos += n;
    }
    ASSERT_TRUE(p.Finish().ok());
    ASSERT_EQ(c.headers.size(), 2u);
    EXPECT_EQ(c.headers[0].name, "file");
    EXPECT_EQ(*c.headers[0].filename, "/home/user/a.txt");
    EXPECT_EQ(c.headers[0].content_type, "application/octet-stream");
    EXPECT_EQ(c.bodies[0], "x");
    EXPECT_EQ(*c.headers[1].filename, "we\"ird\nname");
    EXPECT_EQ(c.bodies[1], "line1\r\n--not-it\r\n\r");
    EXPECT_FALSE(c.open);
  }
}

TEST(MultipartTest, PreambleAndEpilogueIgnored) {
  Collected c;
  MultipartParser p("b", Collect(&c));
  ASSERT_TRUE(p.Feed("preamble\r\n--b\r\nContent-Disposition: form-data; name=f\r\n\r\n"
                     "data\r\n--b--\r\nepilogue junk")
                  .ok());
  ASSERT_TRUE(p.Finish().ok());
  ASSERT_EQ(c.bodies.size(), 1u);
  EXPECT_EQ(c.bodies[0], "data");
  EXPECT_EQ(c.headers[0].name, "f");
}

TEST(MultipartTest, RejectsMalformedAndBounded) {
  {
    Collected c;
    MultipartParser p("b", Collect(&c));
    ASSERT_TRUE(p.Feed("--b\r\nContent-Disposition: form-data; name=f\r\n\r\ndata").ok());
    EXPECT_FALSE(p.Finish().ok());  // truncated
  }
  {
    Collected c;
    MultipartParser p("b", Collect(&c));
    EXPECT_FALSE(p.Feed("--b\r\nX-Other: y\r\n\r\ndata\r\n--b--").ok());  // no disposition
  }
  {
    Collected c;
    MultipartParser p("b", Collect(&c), MultipartLimits{128, 10});
    EXPECT_FALSE(p.Feed("--b\r\nContent-Disposition: form-data; name=" + std::string(500, 'a'))
                     .ok());
  }
  {
    Collected c;
    MultipartParser p("b", Collect(&c), MultipartLimits{1024, 2});
    std::string many;
    for (int i = 0; i < 5; ++i) many += "--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n";
    EXPECT_FALSE(p.Feed(many).ok());
  }
  {
    Collected c;
    MultipartParser p("b", Collect(&c));
    EXPECT_FALSE(p.Feed("--bXYZ").ok() && p.Finish().ok());
  }
}

TEST(MultipartTest, CallbackErrorStopsParser) {
  MultipartCallbacks cb;
  cb.on_part_begin = [](const PartHeaders&) -> Result<void> {
    return MakeError(ErrorCode::kResourceExhausted, "disk full");
  };
  MultipartParser p("b", cb);
  auto r = p.Feed("--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n--b--");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
}

TEST(MultipartTest, LargeBodyStreamsWithBoundedBuffer) {
  Collected c;
  size_t total = 0;
  MultipartCallbacks cb = Collect(&c);
  cb.on_part_data = [&](std::string_view d) -> Result<void> {
    total += d.size();
    return Ok();
  };
  MultipartParser p("b", cb);
  ASSERT_TRUE(p.Feed("--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\n").ok());
  std::string chunk(65536, 'q');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(p.Feed(chunk).ok());
  ASSERT_TRUE(p.Feed("\r\n--b--\r\n").ok());
  ASSERT_TRUE(p.Finish().ok());
  EXPECT_EQ(total, 64u * 65536u);
}

}  // namespace
}  // namespace sbx::protocol
