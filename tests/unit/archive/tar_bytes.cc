// Test helpers (see tar_bytes.h).
#include "tar_bytes.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace sbx::archive::testing {

std::string LibarchiveTar(const std::vector<RawEntry>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* self, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(self)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const RawEntry& e : entries) {
    struct archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.name.c_str());
    archive_entry_set_perm(en, e.mode);
    archive_entry_set_mtime(en, 1700000000, 0);
    switch (e.kind) {
      case RawEntry::kFile:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_size(
            en, e.declared_size >= 0 ? e.declared_size : static_cast<int64_t>(e.data.size()));
        break;
      case RawEntry::kDir:
        archive_entry_set_filetype(en, AE_IFDIR);
        break;
      case RawEntry::kSymlink:
        archive_entry_set_filetype(en, AE_IFLNK);
        archive_entry_set_symlink(en, e.data.c_str());
        break;
      case RawEntry::kHardlink:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_hardlink(en, e.data.c_str());
        archive_entry_set_size(en, 0);
        break;
      case RawEntry::kFifo:
        archive_entry_set_filetype(en, AE_IFIFO);
        break;
      case RawEntry::kCharDev:
        archive_entry_set_filetype(en, AE_IFCHR);
        archive_entry_set_rdev(en, 0x0103);
        break;
    }
    if (archive_write_header(a, en) != ARCHIVE_OK)
      throw std::runtime_error(archive_error_string(a));
    if (e.kind == RawEntry::kFile && !e.data.empty())
      archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::string UstarHeader(const std::string& name, char typeflag, uint64_t size, unsigned mode) {
  std::string h(512, '\0');
  std::memcpy(&h[0], name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(&h[100], 8, "%07o", mode);
  std::snprintf(&h[108], 8, "%07o", 0);
  std::snprintf(&h[116], 8, "%07o", 0);
  std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(&h[136], 12, "%011o", 1700000000u);
  std::memset(&h[148], ' ', 8);
  h[156] = typeflag;
  std::memcpy(&h[257], "ustar", 6);
  std::memcpy(&h[263], "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

std::string Padded(const std::string& data) {
  std::string out = data;
  out.resize((data.size() + 511) / 512 * 512, '\0');
  return out;
}

std::string EndBlocks() { return std::string(1024, '\0'); }

std::string Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace sbx::archive::testing
