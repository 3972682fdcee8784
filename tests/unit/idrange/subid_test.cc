// subid: id ranges and subordinate id files.
#include "idrange/subid.h"

#include <gtest/gtest.h>

namespace sbx::idrange {
namespace {

TEST(ParseIdRangeTest, DecimalAndHex) {
  auto r = ParseIdRange("268435456:67108864", "--id-range");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->start, 0x10000000u);
  EXPECT_EQ(r->count, 0x4000000u);
  auto h = ParseIdRange("0x10000000:0x10000", "--id-range");
  ASSERT_TRUE(h.ok()) << h.error().ToString();
  EXPECT_EQ(h->ToString(), "268435456:65536");
}

TEST(ParseIdRangeTest, RefusesBadRanges) {
  for (const char* bad : {"", "12", "a:b", "268435456:", ":65536", "268435456:1000",
                          "268435456:0", "0:65536", "1000:65536", "4294901760:65536",
                          "4294967296:65536", "268435456:65536x"}) {
    auto r = ParseIdRange(bad, "--id-range");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("--id-range"), std::string::npos) << bad;
    }
  }
  EXPECT_TRUE(ParseIdRange("4294836224:65536", "x").ok());  // ends at 2^32 - 65536 + 65536 - 1
}

TEST(IdRangeTest, Overlap) {
  IdRange a{100000, 65536}, b{165536, 65536}, c{165535, 2};
  EXPECT_FALSE(a.Overlaps(b));
  EXPECT_TRUE(a.Overlaps(c));
  EXPECT_TRUE(b.Overlaps(c));
  EXPECT_TRUE(a.Overlaps(a));
  EXPECT_TRUE((IdRange{0, 1000000}).Contains(a));
  EXPECT_FALSE(a.Contains(c));
}

TEST(ParseSubidFileTest, EntriesCommentsAndErrors) {
  auto e = ParseSubidFile(
      "# comment\n"
      "alice:100000:65536\n"
      "\n"
      "1001:165536:65536\r\n"
      "sandboxd:268435456:2147483648",
      "/etc/subuid");
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0].owner, "alice");
  EXPECT_EQ((*e)[0].line, 2);
  EXPECT_EQ((*e)[1].owner, "1001");
  EXPECT_EQ((*e)[1].range.start, 165536u);
  EXPECT_EQ((*e)[2].ToString(), "sandboxd:268435456:2147483648");
  EXPECT_EQ((*e)[2].line, 5);

  auto bad = ParseSubidFile("alice:100000:65536\nbob:100000\n", "/tmp/subuid");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/tmp/subuid line 2"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(ParseSubidFile(":1:2\n", "f").ok());
  EXPECT_FALSE(ParseSubidFile("a:1:x\n", "f").ok());
  EXPECT_FALSE(ParseSubidFile("a:4294967295:2\n", "f").ok());
}

TEST(ReadSubidFileTest, MissingFileHasNoEntries) {
  auto e = ReadSubidFile("/nonexistent/subuid");
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_TRUE(e->empty());
}

}  // namespace
}  // namespace sbx::idrange
