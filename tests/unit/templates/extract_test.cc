#include "templates/extract.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_writer.h"
#include "common/unique_fd.h"

namespace sbx::templates {
namespace {

using testing::DumpTree;
using testing::MakeTar;
using testing::TarEntry;
using testing::TempDir;

struct Fixture {
  TempDir tmp;
  std::string root = tmp.path() + "/root";
  std::string outside = tmp.path() + "/outside";
  UniqueFd root_fd;
  Fixture() {
    ::mkdir(root.c_str(), 0755);
    ::mkdir(outside.c_str(), 0755);
    root_fd.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  Result<ExtractStats> Apply(const std::string& tar, bool whiteouts = true) {
    std::string path = tmp.path() + "/a.tar";
    testing::WriteFileOrDie(path, tar);
    ExtractOptions o;
    o.whiteouts = whiteouts;
    o.what = "test archive";
    return ExtractArchive(path, root_fd.get(), o);
  }
};

TEST(Extract, LayersWithWhiteoutsAndOpaqueDirs) {
  Fixture f;
  auto l1 = f.Apply(MakeTar({{TarEntry::kDir, "a"},
                             {TarEntry::kFile, "a/keep", "k"},
                             {TarEntry::kFile, "a/gone", "g"},
                             {TarEntry::kDir, "d"},
                             {TarEntry::kFile, "d/old1", "1"},
                             {TarEntry::kDir, "d/sub"},
                             {TarEntry::kFile, "d/sub/old2", "2"},
                             {TarEntry::kFile, "bin/tool", "#!", 0755},
                             {TarEntry::kSymlink, "link", "/bin/tool"},
                             {TarEntry::kHardlink, "bin/tool2", "bin/tool", 0755}},
                            /*gzip=*/true));
  ASSERT_TRUE(l1.ok()) << l1.error().ToString();
  // Layer 2: this layer's d/new comes before the opaque marker and must survive it.
  auto l2 = f.Apply(MakeTar({{TarEntry::kFile, "a/.wh.gone", ""},
                             {TarEntry::kDir, "d"},
                             {TarEntry::kFile, "d/new", "n"},
                             {TarEntry::kFile, "d/.wh..wh..opq", ""},
                             {TarEntry::kFile, "link", "now a file"}}));
  ASSERT_TRUE(l2.ok()) << l2.error().ToString();
  EXPECT_EQ(l2->whiteouts, 2);
  std::map<std::string, std::string> want = {
      {"a", "d 0755"},          {"a/keep", "f 0644 k"},    {"d", "d 0755"},
      {"d/new", "f 0644 n"},    {"bin", "d 0755"},         {"bin/tool", "f 0755 #!"},
      {"bin/tool2", "f 0755 #!"}, {"link", "f 0644 now a file"}};
  EXPECT_EQ(DumpTree(f.root), want);
  struct stat a, b;
  ASSERT_EQ(::stat((f.root + "/bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat((f.root + "/bin/tool2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(Extract, KeepsOwners) {
  Fixture f;
  TarEntry e{TarEntry::kFile, "owned", "x", 0600, 1234, 5678};
  ASSERT_TRUE(f.Apply(MakeTar({e})).ok());
  struct stat st;
  ASSERT_EQ(::stat((f.root + "/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(Extract, RefusesDotDot) {
  Fixture f;
  auto r = f.Apply(MakeTar({{TarEntry::kFile, "ok", "1"}, {TarEntry::kFile, "../outside/x", "evil"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'../outside/x' refused"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(DumpTree(f.outside).empty());
  EXPECT_FALSE(testing::DumpTree(f.tmp.path()).count("x"));
}

TEST(Extract, RefusesAbsolutePaths) {
  Fixture f;
  auto r = f.Apply(MakeTar({{TarEntry::kFile, f.outside + "/abs", "evil"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("absolute path"), std::string::npos);
  EXPECT_TRUE(DumpTree(f.outside).empty());
}

TEST(Extract, NeverWritesThroughASymlink) {
  Fixture f;
  auto r = f.Apply(MakeTar({{TarEntry::kSymlink, "evil", f.outside},
                            {TarEntry::kFile, "evil/x", "evil"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
  EXPECT_TRUE(DumpTree(f.outside).empty());
  // A relative symlink pointing up, then a directory entry through it.
  Fixture g;
  auto r2 = g.Apply(MakeTar({{TarEntry::kSymlink, "up", "../outside"},
                             {TarEntry::kDir, "up/d"},
                             {TarEntry::kFile, "up/d/x", "evil"}}));
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(DumpTree(g.outside).empty());
}

TEST(Extract, ReplacesASymlinkInsteadOfFollowingIt) {
  Fixture f;
  testing::WriteFileOrDie(f.outside + "/target", "original");
  ASSERT_TRUE(f.Apply(MakeTar({{TarEntry::kSymlink, "s", f.outside + "/target"}})).ok());
  ASSERT_TRUE(f.Apply(MakeTar({{TarEntry::kFile, "s", "replaced"}})).ok());
  EXPECT_EQ(DumpTree(f.outside).at("target"), "f 0644 original");
  EXPECT_EQ(DumpTree(f.root).at("s"), "f 0644 replaced");
}

TEST(Extract, RefusesHardlinksOutOfTheRoot) {
  for (const std::string& target : {std::string("/etc/passwd"), std::string("../../etc/passwd")}) {
    Fixture f;
    auto r = f.Apply(MakeTar({{TarEntry::kHardlink, "pw", target}}));
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_FALSE(DumpTree(f.root).count("pw")) << target;
  }
  // Through a symlinked directory.
  Fixture g;
  auto r = g.Apply(MakeTar({{TarEntry::kSymlink, "e", "/etc"}, {TarEntry::kHardlink, "pw", "e/passwd"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("hardlink target"), std::string::npos) << r.error().message;
  EXPECT_FALSE(DumpTree(g.root).count("pw"));
}

TEST(Extract, WhiteoutsCannotEscape) {
  Fixture f;
  testing::WriteFileOrDie(f.outside + "/keep", "k");
  auto r = f.Apply(MakeTar({{TarEntry::kFile, ".wh..", ""}}));
  EXPECT_FALSE(r.ok());
  auto r2 = f.Apply(MakeTar({{TarEntry::kFile, "../outside/.wh.keep", ""}}));
  EXPECT_FALSE(r2.ok());
  Fixture g;
  testing::WriteFileOrDie(g.outside + "/keep", "k");
  auto r3 = g.Apply(MakeTar({{TarEntry::kSymlink, "o", g.outside}, {TarEntry::kFile, "o/.wh.keep", ""}}));
  EXPECT_FALSE(r3.ok());
  EXPECT_EQ(DumpTree(g.outside).size(), 1u);
}

TEST(Extract, WhiteoutNamesAreFilesWithoutWhiteoutMode) {
  Fixture f;
  ASSERT_TRUE(f.Apply(MakeTar({{TarEntry::kFile, ".wh.x", "data"}}), /*whiteouts=*/false).ok());
  EXPECT_EQ(DumpTree(f.root).at(".wh.x"), "f 0644 data");
}

TEST(Extract, RejectsGarbage) {
  Fixture f;
  auto r = f.Apply(std::string(1000, 'x'));
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace sbx::templates
