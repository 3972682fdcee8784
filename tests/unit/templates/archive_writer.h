// Test helpers: tar archives written with libarchive (layers, images, hostile archives), a
// temporary directory, and a readable dump of a tree.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sbx::templates::testing {

struct TarEntry {
  enum Kind { kFile, kDir, kSymlink, kHardlink } kind = kFile;
  std::string path;
  std::string data;  // file content, or symlink/hardlink target
  unsigned mode = 0644;
  int uid = 0;
  int gid = 0;
};

// Writes a ustar/pax archive (gzip-compressed when `gzip`) and returns its bytes.
std::string MakeTar(const std::vector<TarEntry>& entries, bool gzip = false);
void WriteFileOrDie(const std::string& path, const std::string& data);

// An OCI image layout tar with the given layers (tar bytes, each a blob) and config Env.
std::string MakeOciArchive(const std::vector<std::string>& layers,
                           const std::vector<std::string>& env = {});
// A `docker save` tar (manifest.json, <id>/layer.tar) with the given layers.
std::string MakeDockerArchive(const std::vector<std::string>& layers,
                              const std::vector<std::string>& env = {});

// Every path below dir: "f 0644 content" for files, "d 0755", "l -> target".
std::map<std::string, std::string> DumpTree(const std::string& dir);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sbx::templates::testing
