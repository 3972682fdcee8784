// TarReader and TarWriter: round trips, limits, and hostile archives refused with the member
// named.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "archive/member.h"
#include "archive/tar_reader.h"
#include "archive/tar_writer.h"
#include "tar_bytes.h"

namespace sbx::archive {
namespace {

using testing::EndBlocks;
using testing::Gzip;
using testing::LibarchiveTar;
using testing::Padded;
using testing::RawEntry;
using testing::UstarHeader;

struct Read {
  std::vector<Member> members;
  std::map<std::string, std::string> content;
  bool gzip = false;
};

Result<Read> ReadAll(std::string_view data, const ReadLimits& limits = {}) {
  ASSIGN_OR_RETURN(auto reader, TarReader::OpenMemory(data, limits));
  Read out;
  out.gzip = reader->gzip();
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Member> m, reader->Next());
    if (!m) break;
    std::string content;
    RETURN_IF_ERROR(reader->ReadData([&](std::string_view c) -> Result<void> {
      content.append(c);
      return Ok();
    }));
    out.content[m->name] = content;
    out.members.push_back(*m);
  }
  return out;
}

std::string Write(bool gzip, const std::vector<std::pair<Member, std::string>>& members) {
  std::string out;
  auto w = TarWriter::Open(
      [&](std::string_view b) -> Result<void> {
        out.append(b);
        return Ok();
      },
      gzip);
  EXPECT_TRUE(w.ok()) << w.error().ToString();
  for (const auto& [m, content] : members) {
    Result<void> r = m.type == MemberType::kDirectory ? (*w)->AddDirectory(m.name, m.mode, m.mtime)
                                                      : (*w)->AddFile(m, content);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
  }
  auto closed = (*w)->Close();
  EXPECT_TRUE(closed.ok()) << closed.error().ToString();
  return out;
}

Member File(const std::string& name, const std::string& content, uint32_t mode = 0644,
            bool with_hash = true) {
  Member m;
  m.name = name;
  m.size = static_cast<int64_t>(content.size());
  m.mode = mode;
  m.mtime = 1700000000;
  if (with_hash) m.sha256 = testing::Sha256Hex(content);
  return m;
}

Member Dir(const std::string& name, uint32_t mode = 0755) {
  Member m;
  m.name = name;
  m.type = MemberType::kDirectory;
  m.mode = mode;
  return m;
}

void ExpectRefused(const Result<Read>& r, ErrorCode code, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << needle;
  EXPECT_EQ(r.error().code, code) << r.error().ToString();
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(MemberName, CleansAndRefuses) {
  EXPECT_EQ(*CleanMemberName("./a//b/"), "a/b");
  EXPECT_EQ(*CleanMemberName("a/./b"), "a/b");
  EXPECT_EQ(*CleanMemberName("./"), "");
  EXPECT_EQ(*CleanMemberName("dir.with..dots/x..y"), "dir.with..dots/x..y");
  for (const char* bad : {"../x", "a/../../x", "a/..", "/etc/passwd", "//x", ""}) {
    auto r = CleanMemberName(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(CleanMemberName(std::string(256, 'a')).ok());
  EXPECT_FALSE(CleanMemberName(std::string(5000, 'a')).ok());
  EXPECT_EQ(NameParent("a/b/c"), "a/b");
  EXPECT_EQ(NameParent("c"), "");
  EXPECT_EQ(NameBase("a/b/c"), "c");
}

TEST(TarRoundTrip, PlainAndGzipKeepNamesModesContentAndHashes) {
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  std::vector<std::pair<Member, std::string>> in = {
      {Dir("d", 0750), ""},
      {File("d/a.txt", "alpha\n", 0600), "alpha\n"},
      {File("d/sub/big.bin", big, 0755), big},
      {File("empty", ""), ""},
      {File(std::string(150, 'n') + "/long-name-\xc3\xa9.txt", "pax"), "pax"},
  };
  for (bool gzip : {false, true}) {
    std::string bytes = Write(gzip, in);
    auto r = ReadAll(bytes);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->gzip, gzip);
    ASSERT_EQ(r->members.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const Member& want = in[i].first;
      const Member& got = r->members[i];
      EXPECT_EQ(got.name, want.name);
      EXPECT_EQ(got.type, want.type);
      EXPECT_EQ(got.mode, want.mode) << want.name;
      EXPECT_EQ(got.size, want.size);
      EXPECT_EQ(got.sha256, want.sha256) << want.name;
      EXPECT_EQ(r->content[want.name], in[i].second);
    }
  }
}

TEST(TarRoundTrip, WriterRefusesBadNamesAndShortContent) {
  std::string out;
  auto w = TarWriter::Open(
      [&](std::string_view b) -> Result<void> {
        out.append(b);
        return Ok();
      },
      false);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->AddFile(File("../x", "x"), "x").ok());
  Member m = File("short", "12345");
  ASSERT_TRUE((*w)->BeginFile(m).ok());
  ASSERT_TRUE((*w)->WriteData("12").ok());
  EXPECT_FALSE((*w)->WriteData("3456").ok());
  EXPECT_FALSE((*w)->Close().ok());  // 3 bytes still owed
}

TEST(TarReaderHostile, RefusesLinksDevicesAndEscapingNames) {
  struct Case {
    RawEntry entry;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{RawEntry::kFile, "../escape", "x"}, "'..' component"},
      {{RawEntry::kFile, "ok/../../escape", "x"}, "'..' component"},
      {{RawEntry::kFile, "/etc/cron.d/evil", "x"}, "absolute name"},
      {{RawEntry::kSymlink, "link", "/etc/passwd"}, "symbolic link"},
      {{RawEntry::kHardlink, "hard", "etc/passwd"}, "hard link"},
      {{RawEntry::kFifo, "pipe", ""}, "fifo"},
      {{RawEntry::kCharDev, "tty", ""}, "character device"},
  };
  for (const Case& c : cases) {
    // A good member first: the error must still name the bad one.
    std::string tar = LibarchiveTar({{RawEntry::kFile, "good.txt", "fine"}, c.entry});
    for (bool gz : {false, true}) {
      auto r = ReadAll(gz ? Gzip(tar) : tar);
      ExpectRefused(r, ErrorCode::kInvalidArgument, c.needle);
      if (!r.ok()) {
        EXPECT_NE(r.error().message.find(c.entry.name), std::string::npos);
      }
    }
  }
}

TEST(TarReaderHostile, TruncatedNotATarEmptyAndCorruptGzip) {
  std::string content(100000, 'q');
  std::string tar = LibarchiveTar({{RawEntry::kFile, "f", content}});
  ExpectRefused(ReadAll(tar.substr(0, 50000)), ErrorCode::kInvalidArgument, "runcated");
  ExpectRefused(ReadAll(tar.substr(0, 300)), ErrorCode::kInvalidArgument, "archive");
  std::string gz = Gzip(tar);
  ExpectRefused(ReadAll(gz.substr(0, gz.size() / 2)), ErrorCode::kInvalidArgument,
                "truncated gzip");
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  corrupt[corrupt.size() / 2 + 1] ^= 0x55;
  EXPECT_FALSE(ReadAll(corrupt).ok());
  ExpectRefused(ReadAll("this is not a tar archive at all, just text" + std::string(2000, 'x')),
                ErrorCode::kInvalidArgument, "not a tar archive");
  ExpectRefused(ReadAll(""), ErrorCode::kInvalidArgument, "empty input");
  // What follows the end of the tar is not read (as tar does): trailing bytes after the gzip
  // stream do not matter, and the members are all there.
  auto trailing = ReadAll(gz + "garbage");
  ASSERT_TRUE(trailing.ok()) << trailing.error().ToString();
  EXPECT_EQ(trailing->content["f"], content);
  EXPECT_TRUE(ReadAll(gz + std::string(4096, '\0')).ok());
  // Concatenated gzip members are one stream (gzip -c a >> b).
  std::string half = tar.substr(0, 10240);
  auto cat = ReadAll(Gzip(half) + Gzip(tar.substr(10240)));
  ASSERT_TRUE(cat.ok()) << cat.error().ToString();
  EXPECT_EQ(cat->content["f"], content);
}

TEST(TarReaderHostile, SizeLiesAreErrors) {
  // The header says 5000 bytes, the archive ends after 1000: truncated, not a short file.
  std::string tar = UstarHeader("liar", '0', 5000) + Padded(std::string(1000, 'a'));
  auto r = ReadAll(tar);
  ExpectRefused(r, ErrorCode::kInvalidArgument, "runcated");
}

TEST(TarReaderLimits, MemberSizeTotalAndCountAreCheckedAtTheHeader) {
  ReadLimits limits;
  limits.max_member_bytes = 1000;
  limits.max_total_bytes = 2500;
  limits.max_members = 5;
  // A member declaring more than the limit is refused before its data is read: the archive
  // need not even contain the data.
  std::string huge = UstarHeader("huge.bin", '0', 1ull << 40);
  ExpectRefused(ReadAll(huge, limits), ErrorCode::kResourceExhausted, "huge.bin");
  std::vector<RawEntry> three;
  for (int i = 0; i < 3; ++i)
    three.push_back({RawEntry::kFile, "f" + std::to_string(i), std::string(900, 'x')});
  ExpectRefused(ReadAll(LibarchiveTar(three), limits), ErrorCode::kResourceExhausted, "in total");
  std::vector<RawEntry> six;
  for (int i = 0; i < 6; ++i) six.push_back({RawEntry::kDir, "d" + std::to_string(i)});
  ExpectRefused(ReadAll(LibarchiveTar(six), limits), ErrorCode::kResourceExhausted, "5 members");
  six.pop_back();
  EXPECT_TRUE(ReadAll(LibarchiveTar(six), limits).ok());
}

TEST(TarReaderLimits, GzipBombsStopAtTheCap) {
  ReadLimits limits;
  limits.max_member_bytes = 64 << 10;
  limits.max_total_bytes = 64 << 10;
  limits.max_metadata_bytes = 1 << 20;
  // 1: one member declaring 32 MiB of zeros: 32 KiB on the wire, refused at its header.
  std::string zeros_member = UstarHeader("zeros", '0', 32 << 20) + std::string(32 << 20, '\0');
  std::string bomb1 = Gzip(zeros_member + EndBlocks());
  ASSERT_LT(bomb1.size(), 100u << 10);
  ExpectRefused(ReadAll(bomb1, limits), ErrorCode::kResourceExhausted, "zeros");
  // 2: headers only -- PAX records of 512 KiB each, 16 of them before any member: no member
  // is ever seen, so only the decompression cap stops it.
  std::string record_body = "comment=" + std::string(512 << 10, 'p') + "\n";
  // A PAX record is "LEN key=value\n" where LEN counts the whole record, its own digits too.
  size_t total = record_body.size() + 1;
  while (std::to_string(total).size() + record_body.size() + 1 != total) ++total;
  std::string record = std::to_string(total) + " " + record_body;
  std::string pax;
  for (int i = 0; i < 16; ++i) pax += UstarHeader("PaxHeader", 'x', record.size()) + Padded(record);
  std::string bomb2 = Gzip(pax + UstarHeader("after", '0', 1) + Padded("z") + EndBlocks());
  auto r = ReadAll(bomb2, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted) << r.error().ToString();
  EXPECT_NE(r.error().message.find("gzip bomb"), std::string::npos) << r.error().message;
  // 3: gzip of nothing but zeros is an empty tar (ends at its first two zero blocks).
  auto empty = ReadAll(Gzip(std::string(8 << 20, '\0')), limits);
  ASSERT_TRUE(empty.ok()) << empty.error().ToString();
  EXPECT_TRUE(empty->members.empty());
}

TEST(TarReader, OpenFdReadsTheSameAsMemory) {
  std::string bytes = Write(true, {{File("x/y", "hello"), "hello"}});
  char path[] = "/tmp/sbx-archive-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::lseek(fd, 0, SEEK_SET);
  auto reader = TarReader::OpenFd(fd, {});
  ASSERT_TRUE(reader.ok()) << reader.error().ToString();
  auto m = (*reader)->Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->name, "x/y");
  std::string got;
  ASSERT_TRUE((*reader)
                  ->ReadData([&](std::string_view c) -> Result<void> {
                    got.append(c);
                    return Ok();
                  })
                  .ok());
  EXPECT_EQ(got, "hello");
  auto end = (*reader)->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  ::close(fd);
}

}  // namespace
}  // namespace sbx::archive
