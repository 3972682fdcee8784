// Test helpers: tar bytes for the archive tests, well-formed or hostile, written with
// libarchive (any member type or name) or block by block (ustar headers and PAX records).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sbx::archive::testing {

struct RawEntry {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kFifo, kCharDev } kind = kFile;
  std::string name;
  std::string data;  // content, or the link target
  unsigned mode = 0644;
  int64_t declared_size = -1;  // file: size written in the header (-1: data.size())
};

// A PAX tar of the entries, written by libarchive with no name checks.
std::string LibarchiveTar(const std::vector<RawEntry>& entries);
// One 512-byte ustar header block.
std::string UstarHeader(const std::string& name, char typeflag, uint64_t size,
                        unsigned mode = 0644);
// Content padded to a 512-byte boundary.
std::string Padded(const std::string& data);
// Two zero blocks.
std::string EndBlocks();
// gzip (zlib, level 6).
std::string Gzip(const std::string& data);
std::string Sha256Hex(const std::string& data);

}  // namespace sbx::archive::testing
