// Test helpers: libarchive writer for tars and images; tree dumps.
#include "archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/fs_util.h"
#include "templates/hash.h"

namespace sbx::templates::testing {

std::string MakeTar(const std::vector<TarEntry>& entries, bool gzip) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const TarEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (t.kind) {
      case TarEntry::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, t.mode);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, t.mode == 0644 ? 0755 : t.mode);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, t.mode);
        archive_entry_set_hardlink(e, t.data.c_str());
        archive_entry_set_size(e, 0);
        break;
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (t.kind == TarEntry::kFile && !t.data.empty())
      archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void WriteFileOrDie(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

namespace {

std::string Digest(const std::string& blob) { return "sha256:" + Sha256Hex(blob); }

std::string ConfigJson(const std::vector<std::string>& env) {
  nlohmann::json c{{"architecture", "amd64"}, {"os", "linux"},
                   {"config", {{"Env", env}}}, {"rootfs", {{"type", "layers"}}}};
  return c.dump();
}

}  // namespace

std::string MakeOciArchive(const std::vector<std::string>& layers,
                           const std::vector<std::string>& env) {
  std::vector<TarEntry> files;
  files.push_back({TarEntry::kFile, "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"});
  files.push_back({TarEntry::kDir, "blobs"});
  files.push_back({TarEntry::kDir, "blobs/sha256"});
  nlohmann::json mlayers = nlohmann::json::array();
  for (const std::string& l : layers) {
    files.push_back({TarEntry::kFile, "blobs/sha256/" + Sha256Hex(l), l});
    mlayers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                       {"digest", Digest(l)},
                       {"size", l.size()}});
  }
  std::string config = ConfigJson(env);
  files.push_back({TarEntry::kFile, "blobs/sha256/" + Sha256Hex(config), config});
  nlohmann::json manifest{{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"config",
                           {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                            {"digest", Digest(config)},
                            {"size", config.size()}}},
                          {"layers", mlayers}};
  std::string m = manifest.dump();
  files.push_back({TarEntry::kFile, "blobs/sha256/" + Sha256Hex(m), m});
  nlohmann::json index{{"schemaVersion", 2},
                       {"manifests",
                        {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"digest", Digest(m)},
                          {"size", m.size()}}}}};
  files.push_back({TarEntry::kFile, "index.json", index.dump()});
  return MakeTar(files);
}

std::string MakeDockerArchive(const std::vector<std::string>& layers,
                              const std::vector<std::string>& env) {
  std::vector<TarEntry> files;
  nlohmann::json paths = nlohmann::json::array();
  std::string first;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string id = Sha256Hex(layers[i] + std::to_string(i));
    files.push_back({TarEntry::kDir, id});
    files.push_back({TarEntry::kFile, id + "/VERSION", "1.0"});
    files.push_back({TarEntry::kFile, id + "/layer.tar", layers[i]});
    paths.push_back(id + "/layer.tar");
  }
  std::string config = ConfigJson(env);
  std::string config_name = Sha256Hex(config) + ".json";
  files.push_back({TarEntry::kFile, config_name, config});
  nlohmann::json manifest = nlohmann::json::array(
      {{{"Config", config_name}, {"RepoTags", {"test:latest"}}, {"Layers", paths}}});
  files.push_back({TarEntry::kFile, "manifest.json", manifest.dump()});
  return MakeTar(files);
}

std::map<std::string, std::string> DumpTree(const std::string& dir) {
  std::map<std::string, std::string> out;
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = it->path().string().substr(dir.size() + 1);
    struct stat st;
    ::lstat(it->path().c_str(), &st);
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    if (S_ISLNK(st.st_mode)) {
      out[rel] = "l -> " + fs::read_symlink(it->path()).string();
    } else if (S_ISDIR(st.st_mode)) {
      out[rel] = std::string("d ") + mode;
    } else {
      std::ifstream f(it->path(), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      out[rel] = std::string("f ") + mode + " " + data;
    }
  }
  return out;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/sbx-templates-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  EXPECT_NE(p, nullptr);
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    auto r = runtime::RemoveTree(path_);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
  }
}

}  // namespace sbx::templates::testing
