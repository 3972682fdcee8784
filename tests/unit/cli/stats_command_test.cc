// `sbx stats` parsing and its table.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/app.h"

namespace sbx::cli {
namespace {

TEST(StatsCommand, Flags) {
  CommandLine cl;
  ParseResult r = cl.Parse({"stats", "--no-stream", "--json", "--interval", "2.5"});
  ASSERT_EQ(r.kind, ParseResult::Kind::kRun) << r.text;
  EXPECT_EQ(cl.command().verb, Verb::kStats);
  EXPECT_TRUE(cl.command().stats.no_stream);
  EXPECT_TRUE(cl.command().stats.json);
  EXPECT_DOUBLE_EQ(cl.command().stats.interval_s, 2.5);
  CommandLine bad;
  EXPECT_EQ(bad.Parse({"stats", "--interval", "0"}).kind, ParseResult::Kind::kUsageError);
}

TEST(StatsCommand, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(512.0 * 1024 * 1024), "512MiB");
  EXPECT_EQ(FormatBytes(1.5 * 1024 * 1024 * 1024), "1.50GiB");
  EXPECT_EQ(FormatBytes(20 * 1024), "20.0KiB");
}

TEST(StatsCommand, Table) {
  OJson overview = OJson::parse(R"({
    "host": {"cpu_percent": 12.5, "memory_used": 1073741824, "memory_limit": 4294967296,
             "memory_percent": 25, "pids": 300, "disk_used": 0, "disk_percent": 0},
    "sandboxes": [{"sandbox_id": "sbx_a", "cpu_percent": 99.7, "memory_used": 3596288,
                   "memory_limit": 536870912, "memory_percent": 0.67, "pids": 6,
                   "disk_used": 24576, "disk_percent": 0}],
    "interval_ms": 1000})");
  std::string t = FormatStatsTable(overview);
  EXPECT_EQ(t.rfind("SANDBOX ID", 0), 0u) << t;
  EXPECT_NE(t.find("sbx_a"), std::string::npos);
  EXPECT_NE(t.find("99.70%"), std::string::npos) << t;
  EXPECT_NE(t.find("3.43MiB / 512MiB"), std::string::npos) << t;
  EXPECT_NE(t.find("(host)"), std::string::npos);
  EXPECT_LT(t.find("sbx_a"), t.find("(host)"));
  // No host, no sandboxes: the header only; malformed input does not throw.
  std::string empty = FormatStatsTable(OJson::object());
  EXPECT_EQ(std::count(empty.begin(), empty.end(), '\n'), 1);
  EXPECT_NO_THROW(FormatStatsTable(OJson::parse(R"({"sandboxes": [1, "x", {}]})")));
}

}  // namespace
}  // namespace sbx::cli
