#include "protocol/fs_messages.h"

#include <gtest/gtest.h>

namespace sbx::protocol {
namespace {

TEST(FileModeTest, MatchesGoFileModeString) {
  EXPECT_EQ(FileModeString(S_IFREG | 0644), "-rw-r--r--");
  EXPECT_EQ(FileModeString(S_IFDIR | 0755), "drwxr-xr-x");
  EXPECT_EQ(FileModeString(S_IFLNK | 0777), "Lrwxrwxrwx");
  EXPECT_EQ(FileModeString(S_IFDIR | S_ISVTX | 0777), "dtrwxrwxrwx");
  EXPECT_EQ(FileModeString(S_IFREG | S_ISUID | 0755), "urwxr-xr-x");
  EXPECT_EQ(FileModeString(S_IFREG | S_ISGID | 0755), "grwxr-xr-x");
  EXPECT_EQ(FileModeString(S_IFCHR | 0666), "Dcrw-rw-rw-");
  EXPECT_EQ(FileModeString(S_IFBLK | 0660), "Drw-rw----");
  EXPECT_EQ(FileModeString(S_IFIFO | 0600), "prw-------");
  EXPECT_EQ(FileModeString(S_IFSOCK | 0755), "Srwxr-xr-x");
  EXPECT_EQ(FileModeString(S_IFREG), "----------");
}

TEST(Rfc3339Test, FormatsLikeProtobufJson) {
  EXPECT_EQ(Rfc3339Nanos(0, 0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339Nanos(1704067200, 123000000), "2024-01-01T00:00:00.123Z");
  EXPECT_EQ(Rfc3339Nanos(1704067200, 123456000), "2024-01-01T00:00:00.123456Z");
  EXPECT_EQ(Rfc3339Nanos(1704067200, 123456789), "2024-01-01T00:00:00.123456789Z");
  EXPECT_EQ(Rfc3339Nanos(1704067200, 1), "2024-01-01T00:00:00.000000001Z");
}

TEST(Rfc3339Test, ParsesFractionsAndOffsets) {
  auto t = ParseRfc3339("2024-01-01T00:00:00.123Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->first, 1704067200);
  EXPECT_EQ(t->second, 123000000);
  EXPECT_EQ(ParseRfc3339("2024-01-01T02:00:00+02:00")->first, 1704067200);
  EXPECT_EQ(ParseRfc3339("2023-12-31T23:00:00.5-01:00")->second, 500000000);
  EXPECT_EQ(ParseRfc3339("2024-01-01T00:00:00.123456789Z")->second, 123456789);
  EXPECT_FALSE(ParseRfc3339("2024-01-01T00:00:00.1234567890Z").ok());
  EXPECT_FALSE(ParseRfc3339("2024-01-01 00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2024-13-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2024-01-01T00:00:00").ok());
  EXPECT_FALSE(ParseRfc3339("").ok());
  // Round trip.
  auto r = ParseRfc3339(Rfc3339Nanos(1732631400, 42000));
  EXPECT_EQ(r->first, 1732631400);
  EXPECT_EQ(r->second, 42000);
}

TEST(EntryInfoTest, JsonShape) {
  struct stat st {};
  st.st_mode = S_IFREG | 0644;
  st.st_size = 1;
  st.st_mtim.tv_sec = 1704067200;
  EntryInfo e = EntryInfoFromStat("a.txt", "/home/user/a.txt", st);
  e.owner = "user";
  e.group = "user";
  Json j = EntryInfoJson(e);
  EXPECT_EQ(j["type"], "FILE_TYPE_FILE");
  EXPECT_EQ(j["size"], "1");
  EXPECT_EQ(j["mode"], 420);
  EXPECT_EQ(j["permissions"], "-rw-r--r--");
  EXPECT_EQ(j["modifiedTime"], "2024-01-01T00:00:00Z");
  EXPECT_FALSE(j.contains("symlinkTarget"));
  e.symlink_target = "/x";
  e.name = std::string("bad\xff");
  EXPECT_NE(DumpJson(EntryInfoJson(e)).find("symlinkTarget"), std::string::npos);  // no throw
}

TEST(FsRequestTest, ParsesAndValidates) {
  EXPECT_EQ(ParseListDirRequest(Json{{"path", "/x"}})->depth, 1u);
  EXPECT_EQ(ParseListDirRequest(Json{{"path", "/x"}, {"depth", "3"}})->depth, 3u);
  EXPECT_FALSE(ParseListDirRequest(Json{{"path", 5}}).ok());
  EXPECT_FALSE(ParseListDirRequest(Json{{"path", "/x"}, {"depth", -1}}).ok());
  EXPECT_FALSE(ParsePathRequest(Json::object()).ok());
  EXPECT_FALSE(ParseMoveRequest(Json{{"source", "/a"}}).ok());
  EXPECT_EQ(ParseMoveRequest(Json{{"source", "/a"}, {"destination", "/b"}})->destination, "/b");
}

TEST(FsRequestTest, PermissionModeIsOctalWithoutSpecialBits) {
  EXPECT_EQ(ParsePermissionMode("755").value(), 0755u);
  EXPECT_EQ(ParsePermissionMode("0755").value(), 0755u);
  EXPECT_EQ(ParsePermissionMode("000644").value(), 0644u);
  EXPECT_EQ(ParsePermissionMode("0").value(), 0u);
  EXPECT_EQ(ParsePermissionMode("777").value(), 0777u);
  for (const char* bad : {"", "8", "75a", "0x1ff", "-1", " 755", "755 ", "0o755", "77777",
                          "4755", "2755", "1777", "7777"}) {
    auto r = ParsePermissionMode(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(r.error().message.find("'mode'"), std::string::npos) << r.error().message;
  }
  EXPECT_NE(ParsePermissionMode("4755").error().message.find("setuid"), std::string::npos);
}

}  // namespace
}  // namespace sbx::protocol
