// Tests of client::LineSink: how streamed bodies (NDJSON, SSE) are cut into lines whatever the
// chunk boundaries are.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/http_client.h"

namespace sbx::client {
namespace {

std::vector<std::string> Feed(const std::vector<std::string>& chunks) {
  std::vector<std::string> lines;
  Sink sink = LineSink([&](std::string_view line) -> Result<void> {
    lines.emplace_back(line);
    return Ok();
  });
  for (const auto& c : chunks) EXPECT_TRUE(sink(c).ok());
  return lines;
}

TEST(LineSink, LinesSplitAcrossChunksArriveWhole) {
  EXPECT_EQ(Feed({"{\"a\":", "1}\n{\"b\"", ":2}\n"}),
            (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(LineSink, ManyLinesInOneChunkAndCrLfEndings) {
  EXPECT_EQ(Feed({"id: 1\r\ndata: x\r\n\r\nid: 2\n"}),
            (std::vector<std::string>{"id: 1", "data: x", "", "id: 2"}));
}

TEST(LineSink, APartialLastLineWaitsForItsNewline) {
  EXPECT_EQ(Feed({"one\ntw", "o"}), (std::vector<std::string>{"one"}));
}

TEST(LineSink, AnErrorStopsAtThatLine) {
  int seen = 0;
  Sink sink = LineSink([&](std::string_view line) -> Result<void> {
    ++seen;
    if (line == "stop") return MakeError(ErrorCode::kUnavailable, "enough");
    return Ok();
  });
  auto r = sink("a\nstop\nb\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace sbx::client
