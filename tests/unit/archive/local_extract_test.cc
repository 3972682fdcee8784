// ExtractToDirectory: members land below the directory, never through a symlink, only with a
// matching sha256.
#include "archive/local_extract.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "archive/tar_writer.h"
#include "common/unique_fd.h"
#include "tar_bytes.h"

namespace sbx::archive {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sbx-extract-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Member File(const std::string& name, const std::string& content, bool hash = true) {
  Member m;
  m.name = name;
  m.size = static_cast<int64_t>(content.size());
  m.mode = 0640;
  if (hash) m.sha256 = testing::Sha256Hex(content);
  return m;
}

// A tar with the given files (name -> content); `lie` replaces the hash of every file.
std::string Tar(const std::vector<std::pair<std::string, std::string>>& files,
                const std::string& lie = "", bool hash = true) {
  std::string out;
  auto w = TarWriter::Open(
      [&](std::string_view b) -> Result<void> {
        out.append(b);
        return Ok();
      },
      false);
  for (const auto& [name, content] : files) {
    if (content == "<dir>") {
      EXPECT_TRUE((*w)->AddDirectory(name, 0750, 0).ok());
      continue;
    }
    Member m = File(name, content, hash);
    if (!lie.empty()) m.sha256 = lie;
    EXPECT_TRUE((*w)->AddFile(m, content).ok());
  }
  EXPECT_TRUE((*w)->Close().ok());
  return out;
}

Result<std::vector<ExtractedMember>> Extract(const std::string& tar, const std::string& dir,
                                             bool require_sha256 = true) {
  ASSIGN_OR_RETURN(auto reader, TarReader::OpenMemory(tar, {}));
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return ExtractToDirectory(*reader, fd.get(), dir, require_sha256);
}

TEST(LocalExtract, WritesFilesAndDirectoriesWithModesAndHashes) {
  TempDir t;
  mode_t old = ::umask(022);
  auto r = Extract(Tar({{"top", "<dir>"}, {"top/a.txt", "A"}, {"top/deep/b.txt", "BB"}, {"c", ""}}),
                   t.path());
  ::umask(old);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[1].sha256, testing::Sha256Hex("A"));
  EXPECT_EQ(ReadText(t.path() + "/top/a.txt"), "A");
  EXPECT_EQ(ReadText(t.path() + "/top/deep/b.txt"), "BB");
  EXPECT_TRUE(fs::is_regular_file(t.path() + "/c"));
  struct stat st {};
  ASSERT_EQ(::stat((t.path() + "/top/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat((t.path() + "/top").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  // No temporary files are left.
  for (const auto& e : fs::recursive_directory_iterator(t.path()))
    EXPECT_EQ(e.path().filename().string().find(".sbx-"), std::string::npos) << e.path();
}

TEST(LocalExtract, NeverWritesThroughASymlink) {
  TempDir t, outside;
  // A directory symlink planted where a member's parent goes.
  fs::create_symlink(outside.path(), t.path() + "/evil");
  auto r = Extract(Tar({{"evil/x.txt", "pwned"}}), t.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(outside.path() + "/x.txt"));
  // A file symlink at the destination is replaced, its target untouched.
  std::string victim = outside.path() + "/victim";
  { std::ofstream(victim) << "original"; }
  fs::create_symlink(victim, t.path() + "/f");
  auto r2 = Extract(Tar({{"f", "new"}}), t.path());
  ASSERT_TRUE(r2.ok()) << r2.error().ToString();
  EXPECT_EQ(ReadText(victim), "original");
  EXPECT_FALSE(fs::is_symlink(t.path() + "/f"));
  EXPECT_EQ(ReadText(t.path() + "/f"), "new");
}

TEST(LocalExtract, HashMismatchOrMissingHashWritesNothing) {
  TempDir t;
  auto r = Extract(Tar({{"a", "content"}}, std::string(64, 'a')), t.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("corrupt"), std::string::npos) << r.error().message;
  EXPECT_TRUE(fs::is_empty(t.path()));
  auto r2 = Extract(Tar({{"a", "content"}}, "", /*hash=*/false), t.path());
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("no sha256"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(t.path()));
  // Without the requirement, an archive without hashes extracts.
  EXPECT_TRUE(Extract(Tar({{"a", "content"}}, "", false), t.path(), false).ok());
}

TEST(LocalExtract, ExistingDirectoryKeepsItsModeAndAFileCannotReplaceADirectory) {
  TempDir t;
  fs::create_directory(t.path() + "/keep");
  ::chmod((t.path() + "/keep").c_str(), 0711);
  ASSERT_TRUE(Extract(Tar({{"keep", "<dir>"}, {"keep/x", "1"}}), t.path()).ok());
  struct stat st {};
  ASSERT_EQ(::stat((t.path() + "/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  auto r = Extract(Tar({{"keep", "not a dir"}}), t.path());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(fs::is_directory(t.path() + "/keep"));
}

}  // namespace
}  // namespace sbx::archive
